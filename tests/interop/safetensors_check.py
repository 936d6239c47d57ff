#!/usr/bin/env python3
"""Independent safetensors reader/writer for iclab's interoperability test.

Uses the `safetensors` package when it is importable (PyTorch's reader), otherwise a
standard-library implementation (json + struct) of the published format:
  8 bytes: N, little-endian u64 = header size
  N bytes: UTF-8 JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
  rest:    the data section; offsets are relative to its start and must cover it exactly.

  python3 safetensors_check.py read FILE   -> JSON summary on stdout (names, shapes, sums, metadata)
  python3 safetensors_check.py write FILE  -> writes a known file for iclab to read back
"""
import json
import math
import struct
import sys


def read_stdlib(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file shorter than the header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("header runs past the end of the file")
    header_bytes = raw[8 : 8 + n]
    if not header_bytes.startswith(b"{"):
        raise ValueError("header does not start with '{'")
    header = json.loads(header_bytes.decode("utf-8"))
    data = raw[8 + n :]
    metadata = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("__metadata__ must map strings to strings")
    spans = []
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        count = math.prod(info["shape"])
        if end - begin != 4 * count:
            raise ValueError(f"{name}: offsets do not match the shape")
        spans.append((begin, end, name))
        tensors[name] = (info["shape"], list(struct.unpack(f"<{count}f", data[begin:end])))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            raise ValueError(f"{name}: gap or overlap in the data section")
        at = end
    if at != len(data):
        raise ValueError("data section not fully covered")
    if (8 + n) % 8 != 0:
        raise ValueError("data section is not 8-byte aligned")
    return tensors, metadata


def read(path):
    try:
        from safetensors.numpy import load_file  # PyTorch ecosystem's reader, if installed
        from safetensors import safe_open

        arrays = load_file(path)
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
        tensors = {k: (list(v.shape), [float(x) for x in v.reshape(-1)]) for k, v in arrays.items()}
        reader = "safetensors"
    except ImportError:
        tensors, metadata = read_stdlib(path)
        reader = "stdlib"
    summary = {
        name: {"shape": shape, "sum": math.fsum(vals), "first": vals[0] if vals else None}
        for name, (shape, vals) in tensors.items()
    }
    json.dump({"reader": reader, "tensors": summary, "metadata": metadata}, sys.stdout)


def write(path):
    # Written in the reference writer's order (data sorted by name), header keys in another order.
    tensors = {
        "b.bias": ([3], [0.5, -1.0, 2.25]),
        "a.weight": ([2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        "c.scalar": ([], [7.5]),
    }
    header = {"__metadata__": {"step": "42", "note": "written by python"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        shape, vals = tensors[name]
        blob = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
