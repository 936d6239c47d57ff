/** safetensors checkpoints: round trips, exact resume, byte format, errors, interoperability. */
import assert from "node:assert/strict";
import { backward } from "../core/autograd.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend, setBackend } from "../core/device_select.ts";
import { mseLoss } from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import {
  Adam,
  decodeSafetensors,
  encodeSafetensors,
  type ICLModel,
  loadCheckpoint,
  makeModel,
  type ModelConfig,
  readCheckpoint,
  saveCheckpoint,
} from "../nn/mod.ts";

setBackend(cpuBackend());

const CFG: ModelConfig = {
  arch: "s4mamba",
  dModel: 12,
  nLayer: 2,
  tokenDim: 3,
  outDim: 1,
  dState: 4,
};
const B = 2, T = 5;
const X = new Rng(1).fillNormal(new Float32Array(B * T * 3));
const Y = new Rng(2).fillNormal(new Float32Array(B * T));

async function trainSteps(m: ICLModel, opt: Adam, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    tidy(() => {
      backward(mseLoss(m.forward(fromArray(X, [B, T, 3])), fromArray(Y, [B, T, 1])));
    });
    opt.step();
    opt.zeroGrad();
  }
  await Promise.resolve();
}

async function params(m: ICLModel): Promise<Float32Array[]> {
  return await Promise.all(m.parameters().map((p) => p.floats()));
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "iclab_ckpt_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("checkpoint: save → load gives identical outputs and resumes training exactly", () =>
  withDir(async (dir) => {
    const path = `${dir}/a.safetensors`;
    // s4mamba trains with dropout, so an exact resume also needs the dropout stream restored.
    const m1 = makeModel(CFG, { seed: 1 });
    const opt1 = new Adam(m1.namedParameters(), { lr: 1e-2 });
    await trainSteps(m1, opt1, 3);
    const dataRng = new Rng(77);
    dataRng.normal();
    await saveCheckpoint(path, {
      model: m1,
      optimizer: opt1,
      step: 3,
      rng: { data: dataRng.state() },
    });
    assert.ok(!(await exists(`${path}.tmp`)), "temporary file left behind");

    const m2 = makeModel(CFG, { seed: 99 });
    const opt2 = new Adam(m2.namedParameters(), { lr: 1e-2 });
    const info = await loadCheckpoint(path, { model: m2, optimizer: opt2 });
    assert.equal(info.step, 3);
    assert.deepEqual(info.config, CFG);
    const rebuilt = makeModel(info.config as ModelConfig);
    assert.deepEqual(rebuilt.config, m1.config);
    rebuilt.dispose();
    assert.equal(Rng.fromState(info.rng!.data).normal(), dataRng.normal());
    assert.deepEqual(await params(m2), await params(m1));
    const out = (m: ICLModel) => tidy(() => m.eval().forward(fromArray(X, [B, T, 3]))).floats();
    assert.deepEqual(await out(m2), await out(m1));
    m1.train();
    m2.train();
    await trainSteps(m1, opt1, 2);
    await trainSteps(m2, opt2, 2);
    assert.deepEqual(await params(m2), await params(m1));
    assert.equal(opt2.stepCount, 5);
    [opt1, opt2].forEach((o) => o.dispose());
    [m1, m2].forEach((m) => m.dispose());
  }));

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("checkpoint: the bytes follow the safetensors layout", () =>
  withDir(async (dir) => {
    const path = `${dir}/b.safetensors`;
    const m = makeModel(CFG);
    const opt = new Adam(m.namedParameters());
    await trainSteps(m, opt, 1);
    await saveCheckpoint(path, { model: m, optimizer: opt, step: 1, metadata: { run: "x" } });
    const bytes = await Deno.readFile(path);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    const meta = header.__metadata__;
    assert.equal(meta.step, "1");
    assert.equal(meta.run, "x");
    assert.equal(JSON.parse(meta.config).arch, "s4mamba");
    assert.equal(JSON.parse(meta.optim).kind, "adam");
    const w = header["_read_in.weight"];
    assert.deepEqual(w.shape, [12, 3]);
    assert.equal(w.dtype, "F32");
    const first = new DataView(bytes.buffer, 8 + n + w.data_offsets[0], 4).getFloat32(0, true);
    assert.equal(first, (await m._read_in.weight.floats())[0]);
    assert.ok("optim.m._read_in.weight" in header && "optim.v._backbone.norm_f.bias" in header);
    const total = Object.entries(header).filter(([k]) => k !== "__metadata__")
      .reduce((s, [, e]) =>
        s + (e as { data_offsets: number[] }).data_offsets[1] -
        (e as { data_offsets: number[] }).data_offsets[0], 0);
    assert.equal(8 + n + total, bytes.length);
    opt.dispose();
    m.dispose();
  }));

Deno.test("checkpoint: clear errors for missing, truncated, corrupt and mismatched files", () =>
  withDir(async (dir) => {
    const m = makeModel(CFG);
    const path = `${dir}/c.safetensors`;
    await saveCheckpoint(path, { model: m });
    const good = await Deno.readFile(path);
    const load = (p: string, model = m) => loadCheckpoint(p, { model });

    await assert.rejects(load(`${dir}/nope.safetensors`), /checkpoint not found: .*nope/);
    await Deno.writeFile(`${dir}/t1`, good.subarray(0, good.length - 10));
    await assert.rejects(load(`${dir}/t1`), /truncated: tensor ".*" ends at byte/);
    await Deno.writeFile(`${dir}/t2`, good.subarray(0, 5));
    await assert.rejects(load(`${dir}/t2`), /truncated: 5 bytes/);
    await Deno.writeFile(`${dir}/t3`, good.subarray(0, 40));
    await assert.rejects(load(`${dir}/t3`), /truncated: the header needs/);
    const corrupt = good.slice();
    corrupt[8] = 0x5b; // '[' instead of '{'
    await Deno.writeFile(`${dir}/h1`, corrupt);
    await assert.rejects(load(`${dir}/h1`), /bad header/);
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    await Deno.writeFile(`${dir}/h2`, huge);
    await assert.rejects(load(`${dir}/h2`), /bad header: header length/);
    const extra = new Uint8Array(good.length + 4);
    extra.set(good);
    await Deno.writeFile(`${dir}/h3`, extra);
    await assert.rejects(load(`${dir}/h3`), /4 trailing bytes/);
    // Wrong dtype: rewrite one entry's dtype in place (same length keeps the offsets valid).
    const f16 = good.slice();
    const hlen = Number(new DataView(good.buffer).getBigUint64(0, true));
    const at = 8 + new TextDecoder().decode(good.subarray(8, 8 + hlen)).indexOf('"F32"'); // ASCII
    f16.set(new TextEncoder().encode('"F16"'), at);
    await Deno.writeFile(`${dir}/d1`, f16);
    await assert.rejects(load(`${dir}/d1`), /unsupported dtype "F16"/);

    const wider = makeModel({ ...CFG, dModel: 16 });
    await assert.rejects(
      load(path, wider),
      /"_read_in.weight" has shape \[12, 3\], the model expects \[16, 3\]/,
    );
    const deeper = makeModel({ ...CFG, nLayer: 3 });
    await assert.rejects(load(path, deeper), /missing tensor "_backbone.layers.2/);
    const shallower = makeModel({ ...CFG, nLayer: 1 });
    await assert.rejects(load(path, shallower), /unexpected tensor "_backbone.layers.1/);
    await loadCheckpoint(path, { model: shallower, strict: false }); // allowed when not strict
    const opt = new Adam(m.namedParameters());
    await assert.rejects(loadCheckpoint(path, { model: m, optimizer: opt }), /no optimizer state/);
    // A failed load leaves the model untouched.
    const before = await params(wider);
    await assert.rejects(load(path, wider));
    assert.deepEqual(await params(wider), before);
    [m, wider, deeper, shallower].forEach((x) => x.dispose());
  }));

Deno.test("safetensors: encode/decode round trip and validation", () => {
  const a = Float32Array.from([1, -2.5, 3e-8]);
  const bytes = encodeSafetensors(
    [{ name: "x", shape: [3], data: a }, { name: "s", shape: [], data: Float32Array.of(4) }],
    { k: "v" },
  );
  const d = decodeSafetensors(bytes);
  assert.deepEqual(d.tensors.get("x")!.data, a);
  assert.deepEqual(d.tensors.get("s")!.shape, []);
  assert.deepEqual(d.metadata, { k: "v" });
  assert.throws(() => encodeSafetensors([{ name: "x", shape: [2], data: a }]), /3 values/);
  assert.throws(
    () =>
      encodeSafetensors([{ name: "x", shape: [3], data: a }, { name: "x", shape: [3], data: a }]),
    /duplicate/,
  );
});

async function hasPython(): Promise<boolean> {
  try {
    const r = await new Deno.Command("python3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

const script = new URL("./interop/safetensors_check.py", import.meta.url).pathname;

Deno.test({
  name: "safetensors: an independent Python reader and writer agree with ours",
  ignore: !(await hasPython()),
  fn: () =>
    withDir(async (dir) => {
      const m = makeModel(CFG, { seed: 4 });
      const path = `${dir}/m.safetensors`;
      await saveCheckpoint(path, { model: m, step: 12 });
      const r = await new Deno.Command("python3", { args: [script, "read", path] }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const summary = JSON.parse(new TextDecoder().decode(r.stdout));
      assert.equal(summary.metadata.step, "12");
      const named = m.namedParameters();
      assert.equal(Object.keys(summary.tensors).length, named.length);
      for (const [name, p] of named) {
        const s = summary.tensors[name];
        const d = await p.floats();
        assert.deepEqual(s.shape, p.shape, name);
        assert.equal(s.first, d[0], name); // f32 → f64 is exact
        const sum = d.reduce((x, y) => x + y, 0);
        assert.ok(Math.abs(s.sum - sum) < 1e-4 * (1 + Math.abs(sum)), name);
      }
      const pyPath = `${dir}/py.safetensors`;
      const w = await new Deno.Command("python3", { args: [script, "write", pyPath] }).output();
      assert.ok(w.success, new TextDecoder().decode(w.stderr));
      const back = await readCheckpoint(pyPath);
      assert.deepEqual(back.metadata, { step: "42", note: "written by python" });
      assert.deepEqual(back.tensors.get("a.weight")!.shape, [2, 3]);
      assert.deepEqual([...back.tensors.get("a.weight")!.data], [1, 2, 3, 4, 5, 6]);
      assert.deepEqual([...back.tensors.get("b.bias")!.data], [0.5, -1, 2.25]);
      assert.deepEqual([...back.tensors.get("c.scalar")!.data], [7.5]);
      m.dispose();
    }),
});
