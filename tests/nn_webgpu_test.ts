/**
 * Every architecture on WebGPU against the CPU backend: same seed → same weights on both, then
 * the forward output and every parameter gradient must agree. Skipped without an adapter.
 */
import assert from "node:assert/strict";
import { backward } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend, webgpuBackend } from "../core/device_select.ts";
import { mul, sum } from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";
import {
  Adam,
  clipGradNorm,
  loadCheckpoint,
  makeModel,
  type ModelConfig,
  saveCheckpoint,
} from "../nn/mod.ts";
import { gpuRuntimes, otherBrief } from "./gpu_runtimes.ts";

// Odd sizes on purpose (no tile size divides them): E = 12, d_inner = 24, T = 7, B = 3.
const D = 5, O = 2, B = 3, T = 7;
const small = { tokenDim: D, outDim: O, dModel: 12, nLayer: 2 };
const MODELS: [string, ModelConfig][] = [
  ["transformer", { ...small, arch: "transformer", nHead: 3, maxLen: 9 }],
  ["mamba", { ...small, arch: "mamba", dState: 5 }],
  ["mamba-rms", { ...small, arch: "mamba", dState: 5, norm: "rms" }],
  ["s4", { ...small, arch: "s4", dState: 6 }],
  ["s4-postnorm", { ...small, arch: "s4", dState: 6, postNorm: true }],
  ["s4mamba", { ...small, arch: "s4mamba", dState: 6 }],
  ["mambaformer", { ...small, arch: "mambaformer", nLayer: 2, nHead: 2, dState: 5 }],
  ["hybrid", { ...small, arch: "hybrid", nHead: 2, dState: 5, maxLen: 9 }],
];

const X = new Rng(1).fillNormal(new Float32Array(B * T * D));
const R = new Rng(2).fillNormal(new Float32Array(B * T * O));

/** Forward output and all parameter gradients of L = Σ y ⊙ R, on one backend, training mode. */
async function run(cfg: ModelConfig, be: Backend) {
  const m = makeModel(cfg, { seed: 3, backend: be });
  const y = tidy(() => {
    const out = m.forward(fromArray(X, [B, T, D], be));
    backward(sum(mul(out, fromArray(R, out.shape, be))));
    return out;
  });
  const out = await y.floats();
  y.dispose();
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of m.namedParameters()) {
    assert.ok(p.grad, `${cfg.arch}: ${n} got no gradient on ${be.name}`);
    grads.set(n, await p.grad.floats());
  }
  // One clipped Adam step must also agree (fused adam kernel + on-device clipping).
  const opt = new Adam(m.namedParameters(), { lr: 1e-2 });
  const s = clipGradNorm(m.parameters(), 0.5);
  opt.step(s);
  s.dispose();
  const stepped = await m._read_in.weight.floats();
  opt.dispose();
  m.dispose();
  return { out, grads, stepped };
}

/**
 * f32 results differ only by summation order (matmul tiling, reduction trees, chunked scans):
 * each value is a sum of at most a few hundred terms through two layers, so a relative error
 * of 1e-3 of the tensor's largest magnitude (plus 1e-5 absolute) bounds it with a wide margin.
 */
function agree(what: string, a: Float32Array, b: Float32Array, rtol = 1e-3): void {
  assert.equal(a.length, b.length, what);
  const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - b[i]);
    assert.ok(
      Number.isFinite(a[i]) && err <= 1e-5 + rtol * scale,
      `${what}[${i}]: gpu ${a[i]} cpu ${b[i]}`,
    );
  }
}

const hasAdapter = gpuRuntimes().length > 0;

// The process backend, then backends on the default-limits device in both kernel families.
const backends: [string, () => Promise<Backend>][] = [
  ["", async () => (await webgpuBackend())!],
  // (otherBrief: the other family's kernels are checked one by one, not in every model)
  ...gpuRuntimes().slice(1, otherBrief ? 2 : 3).map(([label, r]) =>
    [` [${label}]`, () => Promise.resolve(new WebGpuBackend(r))] as [string, () => Promise<Backend>]
  ),
];
for (const [suffix, make] of hasAdapter ? backends : backends.slice(0, 1)) {
  Deno.test({
    name: `nn/webgpu: every model's forward, gradients and Adam step match the CPU${suffix}`,
    ignore: !hasAdapter,
    fn: async () => {
      const gpu = await make();
      const cpu = cpuBackend();
      for (const [label, cfg] of MODELS) {
        const c = await run(cfg, cpu);
        const g = await run(cfg, gpu);
        agree(`${label} forward`, g.out, c.out);
        for (const [n, gc] of c.grads) agree(`${label} d${n}`, g.grads.get(n)!, gc);
        agree(`${label} Adam step`, g.stepped, c.stepped);
      }
    },
  });
}

Deno.test({
  name: "nn/webgpu: a checkpoint saved from WebGPU loads on the CPU",
  ignore: !hasAdapter,
  fn: async () => {
    const gpu = (await webgpuBackend())!;
    const cfg = MODELS[6][1];
    const g = makeModel(cfg, { seed: 8, backend: gpu });
    const opt = new Adam(g.namedParameters());
    tidy(() => backward(sum(g.forward(fromArray(X, [B, T, D], gpu)))));
    opt.step();
    const dir = await Deno.makeTempDir({ prefix: "iclab_gpu_ckpt_" });
    try {
      await saveCheckpoint(`${dir}/g.safetensors`, { model: g, optimizer: opt, step: 1 });
      const c = makeModel(cfg, { seed: 9, backend: cpuBackend() });
      const copt = new Adam(c.namedParameters());
      await loadCheckpoint(`${dir}/g.safetensors`, { model: c, optimizer: copt });
      const gp = g.parameters(), cp = c.parameters();
      for (let i = 0; i < gp.length; i++) {
        assert.deepEqual(await cp[i].floats(), await gp[i].floats(), gp[i].name);
        const [gs, cs] = [opt.stateOf(gp[i])!, copt.stateOf(cp[i])!];
        assert.deepEqual(await cs.v.floats(), await gs.v.floats(), gp[i].name);
      }
      copt.dispose();
      c.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
      opt.dispose();
      g.dispose();
    }
  },
});
