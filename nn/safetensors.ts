/**
 * The safetensors byte format (huggingface/safetensors): an 8-byte little-endian header length
 * N, N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {string: string}}` (padded with spaces), then the data section, which the tensors must cover
 * exactly, without gaps or overlaps. iclab writes and reads F32 only.
 */

export interface NamedArray {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

export interface Safetensors {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/** Serialise tensors (in the given order) and string metadata. */
export function encodeSafetensors(
  entries: readonly NamedArray[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    if (e.name === "__metadata__" || e.name in header) {
      throw new Error(`safetensors: duplicate or reserved tensor name "${e.name}"`);
    }
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== e.data.length) {
      throw new Error(`safetensors: ${e.name} has ${e.data.length} values for shape [${e.shape}]`);
    }
    header[e.name] = {
      dtype: "F32",
      shape: [...e.shape],
      data_offsets: [offset, offset + 4 * size],
    };
    offset += 4 * size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8; // keep the data section 8-byte aligned
  if (pad) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const e of entries) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), at);
    } else {
      for (let i = 0; i < e.data.length; i++) dv.setFloat32(at + 4 * i, e.data[i], true);
    }
    at += e.data.byteLength;
  }
  return out;
}

/** Parse and validate a safetensors buffer; `source` names it in error messages. */
export function decodeSafetensors(bytes: Uint8Array, source = "buffer"): Safetensors {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (bytes.length < 8) {
    fail(`truncated: ${bytes.length} bytes, shorter than the 8-byte header length`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(`bad header: header length ${n} exceeds ${MAX_HEADER} bytes`);
  const hlen = Number(n);
  if (8 + hlen > bytes.length) {
    fail(
      `truncated: the header needs ${hlen} bytes but only ${bytes.length - 8} follow the length`,
    );
  }
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + hlen));
    if (!text.startsWith("{")) throw new Error("does not start with '{'");
    header = JSON.parse(text);
  } catch (e) {
    fail(`bad header: not a JSON object (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) {
    fail("bad header: not a JSON object");
  }
  const dataStart = 8 + hlen, dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number; shape: number[] }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
        fail("bad header: __metadata__ must be an object of strings");
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`bad header: __metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== "object") fail(`bad header: entry "${name}" is not an object`);
    if (e.dtype !== "F32") {
      fail(`unsupported dtype ${JSON.stringify(e.dtype)} for tensor "${name}" (only F32)`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`bad header: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const off = e.data_offsets;
    if (
      !Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) ||
      off[0] > off[1]
    ) {
      fail(`bad header: tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as number[];
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== 4 * size) {
      fail(
        `bad header: tensor "${name}" spans ${end - begin} bytes but shape [${shape}] needs ${
          4 * size
        }`,
      );
    }
    if (end > dataLen) {
      fail(
        `truncated: tensor "${name}" ends at byte ${end} of the data section, ` +
          `which has only ${dataLen} bytes`,
      );
    }
    spans.push({ name, begin, end, shape: shape as number[] });
  }
  // The data section must be covered exactly: sorted spans, each starting where the last ended.
  const sorted = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of sorted) {
    if (s.begin !== at) {
      fail(
        s.begin < at
          ? `bad header: tensor "${s.name}" overlaps another tensor`
          : `bad header: ${s.begin - at} bytes before tensor "${s.name}" belong to no tensor`,
      );
    }
    at = s.end;
  }
  if (at !== dataLen) fail(`bad file: ${dataLen - at} trailing bytes belong to no tensor`);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const s of spans) {
    const start = dataStart + s.begin, count = (s.end - s.begin) / 4;
    let data: Float32Array;
    if (LITTLE_ENDIAN) {
      data = new Float32Array(bytes.slice(start, s.end + dataStart).buffer);
    } else {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat32(start + 4 * i, true);
    }
    tensors.set(s.name, { shape: s.shape, data });
  }
  return { tensors, metadata };
}
