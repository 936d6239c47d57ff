/**
 * Fused causal attention: the CPU reference against a naive f64 implementation that
 * materialises the score matrix, its backward against central differences of that naive
 * forward, and the WebGPU kernels (both tilings) against the CPU reference on shapes that are
 * not multiples of any tile (T = 1, 5, 37, 129; dh = 6, 8, 16, 24, 32).
 */
import assert from "node:assert/strict";
import type { AttentionArgs } from "../core/backend.ts";
import {
  attentionCpu,
  attentionGradCpu,
  headsToTokens,
  packQkv,
  tokensToHeads,
  unpackQkv,
} from "../core/cpu/attention.ts";
import { Rng } from "../core/rng.ts";
import {
  attentionGpu,
  attentionGradGpu,
  attentionTiling,
} from "../core/webgpu/kernels/attention.ts";
import { type AttentionTiling, GPU_PROFILE, SOFTWARE_PROFILE } from "../core/webgpu/profile.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import { gpuTests, limited, other, otherBrief, rt } from "./gpu_runtimes.ts";

function rand(n: number, seed: number, amp = 1): Float32Array {
  return new Rng(seed).fillUniform(new Float32Array(n), -amp, amp);
}

/** |got − want| ≤ atol + rtol·|want| elementwise; the message names the worst element. */
function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
  label: string,
): void {
  assert.equal(got.length, want.length, `${label}: length`);
  let worst = -1, excess = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(e <= excess)) [worst, excess] = [i, Number.isNaN(e) ? Infinity : e];
  }
  if (worst >= 0) {
    assert.fail(`${label}: element ${worst} got ${got[worst]}, want ${want[worst]}`);
  }
}

/** Naive f64 attention: full masked score matrix per head, softmax, then P·V. */
function naiveAttention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  a: AttentionArgs,
): { o: Float64Array; lse: Float64Array } {
  const { batch, heads, length: T, headDim: dh, scale } = a;
  const o = new Float64Array(batch * heads * T * dh), lse = new Float64Array(batch * heads * T);
  for (let h = 0; h < batch * heads; h++) {
    const S = Array.from({ length: T }, () => new Float64Array(T).fill(-Infinity));
    for (let i = 0; i < T; i++) {
      for (let j = 0; j <= i; j++) {
        let d = 0;
        for (let e = 0; e < dh; e++) d += q[(h * T + i) * dh + e] * k[(h * T + j) * dh + e];
        S[i][j] = d * scale;
      }
      const m = Math.max(...S[i]);
      const z = S[i].reduce((acc, s) => acc + Math.exp(s - m), 0);
      lse[h * T + i] = m + Math.log(z);
      for (let j = 0; j <= i; j++) {
        const p = Math.exp(S[i][j] - m) / z;
        for (let e = 0; e < dh; e++) o[(h * T + i) * dh + e] += p * v[(h * T + j) * dh + e];
      }
    }
  }
  return { o, lse };
}

function args(batch: number, heads: number, length: number, headDim: number, scale?: number) {
  return { batch, heads, length, headDim, scale: scale ?? 1 / Math.sqrt(headDim) };
}

Deno.test("attention cpu: forward matches naive f64 softmax attention", () => {
  // scale 3 makes the softmax sharp (scores up to ~±20), exercising the max subtraction.
  for (const a of [args(2, 3, 1, 8), args(1, 2, 7, 5), args(2, 1, 33, 16), args(1, 1, 9, 4, 3)]) {
    const n = a.batch * a.heads * a.length * a.headDim;
    const q = rand(n, 1), k = rand(n, 2), v = rand(n, 3);
    const got = attentionCpu(q, k, v, a);
    const want = naiveAttention(q, k, v, a);
    // Both compute in f64; the only difference is the final rounding to f32 (2^-24 relative).
    const tag = JSON.stringify(a);
    assertClose(got.o, want.o, 1e-7, 1e-6, `o ${tag}`);
    assertClose(got.lse, want.lse, 1e-7, 1e-6, `lse ${tag}`);
  }
});

Deno.test("attention cpu: backward matches central differences of the naive forward", () => {
  for (const a of [args(1, 2, 5, 3), args(2, 1, 4, 2, 2.5)]) {
    const n = a.batch * a.heads * a.length * a.headDim;
    const q = rand(n, 4), k = rand(n, 5), v = rand(n, 6), R = rand(n, 7);
    const { o, lse } = attentionCpu(q, k, v, a);
    const g = attentionGradCpu(q, k, v, o, lse, R, a);
    // L = Σ O ⊙ R. Differencing the f64 naive forward with h = 1e-5 leaves truncation error
    // ~h² ≈ 1e-10 and rounding ~1e-16/h ≈ 1e-11, so the tolerance only has to cover the
    // analytic side: f32 inputs and outputs and the f32-rounded saved o and lse (≈1e-7).
    const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) =>
      naiveAttention(qq, kk, vv, a).o.reduce((s, x, i) => s + x * R[i], 0);
    const inputs = [Float64Array.from(q), Float64Array.from(k), Float64Array.from(v)];
    const analytic = [g.dq, g.dk, g.dv];
    const h = 1e-5;
    inputs.forEach((x, which) => {
      const numeric = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const x0 = x[i];
        x[i] = x0 + h;
        const lp = loss(inputs[0], inputs[1], inputs[2]);
        x[i] = x0 - h;
        const lm = loss(inputs[0], inputs[1], inputs[2]);
        x[i] = x0;
        numeric[i] = (lp - lm) / (2 * h);
      }
      assertClose(analytic[which], numeric, 1e-6, 1e-5, `d${"qkv"[which]} ${JSON.stringify(a)}`);
    });
  }
});

/** A runtime with the given attention tiling (the rest of its profile as it is). */
const tiled = (r: Runtime | null, t: AttentionTiling) => r && r.withProfile({ attention: t });

function upload(r: Runtime, a: Float32Array): GpuBuffer {
  const b = r.alloc(a.byteLength);
  r.write(b, a);
  return b;
}

async function read(r: Runtime, b: GpuBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await r.read(b, n * 4));
}

/** Compare one shape's forward and all three gradients with the CPU reference. */
async function checkGpu(r: Runtime, a: AttentionArgs, seed: number) {
  const n = a.batch * a.heads * a.length * a.headDim;
  const q = rand(n, seed), k = rand(n, seed + 1), v = rand(n, seed + 2), dO = rand(n, seed + 3);
  const cpu = attentionCpu(q, k, v, a);
  const cg = attentionGradCpu(q, k, v, cpu.o, cpu.lse, dO, a);
  const [qg, kg, vg, dOg] = [q, k, v, dO].map((x) => upload(r, x));
  const fwd = attentionGpu(r, qg, kg, vg, a);
  const grad = attentionGradGpu(r, qg, kg, vg, fwd.o, fwd.lse, dOg, a);
  const tag = `${JSON.stringify(attentionTiling(r, a.headDim, a.length))} ${JSON.stringify(a)}`;
  // f32 accumulation over ≤ 129 keys of O(1) terms: worst case ~T·2^-24 ≈ 1e-5 absolute
  // (observed ≤ 1e-6). The GPU backward runs from its own o and lse, which differ from the
  // CPU's by that much, so the gradients get the same bound.
  const tol = [2e-5, 1e-4] as const;
  assertClose(await read(r, fwd.o, n), cpu.o, ...tol, `o ${tag}`);
  assertClose(await read(r, fwd.lse, n / a.headDim), cpu.lse, ...tol, `lse ${tag}`);
  assertClose(await read(r, grad.dq, n), cg.dq, ...tol, `dq ${tag}`);
  assertClose(await read(r, grad.dk, n), cg.dk, ...tol, `dk ${tag}`);
  assertClose(await read(r, grad.dv, n), cg.dv, ...tol, `dv ${tag}`);
  for (const b of [qg, kg, vg, dOg, fwd.o, fwd.lse, grad.dq, grad.dk, grad.dv]) r.release(b);
}

// Each head dim compiles three pipelines per tiling (up to ~10 s for the blocked dh = 32 ones on
// a cold llvmpipe shader cache), so the head dims are split: blocked (llvmpipe's default) covers
// dh = 6 (the partial-vec4 path), 8, 16, 32; tiled (real GPUs' default) 6, 8, 24, and 128, whose
// 16-row tiles exceed WebGPU's default 16 KiB of workgroup memory (8-row tiles there). T = 37,
// 79, 129 and 200 end mid-tile and mid-workgroup.
for (const [label, r] of [["", rt], [", default limits", limited]] as const) {
  Deno.test({
    name: `attention webgpu blocked${label}: forward and gradients match the CPU reference`,
    ignore: !r,
    fn: async () => {
      const cases = [
        args(1, 1, 1, 8),
        args(2, 3, 5, 16),
        args(1, 2, 37, 16),
        args(2, 1, 129, 32),
        args(1, 2, 17, 6),
        args(1, 1, 37, 16, 3), // sharp softmax: the online max rescaling matters
        args(1, 2, 79, 16), // 10 rows per invocation (exp:parity's T = 80), one idle
        args(1, 1, 200, 16), // 13 rows, two workgroups per head, the second part idle
      ];
      const b = tiled(r, SOFTWARE_PROFILE.attention)!;
      // Rows per invocation follow T (attentionTiling): 1, 5, 6, 3, 10 and 13 here.
      assert.deepEqual(cases.map((a) => attentionTiling(b, a.headDim, a.length).rows), [
        1,
        1,
        5,
        6,
        3,
        5,
        10,
        13,
      ]);
      for (const [i, a] of cases.entries()) await checkGpu(b, a, 10 * i);
    },
  });
}

Deno.test({
  name: "attention webgpu tiled, default limits: forward and gradients match the CPU reference",
  ignore: !other,
  fn: async () => {
    const cases = [
      args(2, 3, 37, 8),
      args(1, 2, 129, 24),
      args(1, 1, 70, 24, 3),
      args(1, 1, 5, 6),
      args(1, 1, 1, 6),
      args(1, 1, 37, 128),
    ];
    const t = tiled(other, GPU_PROFILE.attention)!;
    assert.equal(attentionTiling(t, 128).tile, 8); // 16 KiB of workgroup memory
    // (otherBrief: the partial-vec4 head dim only, see gpu_runtimes.ts)
    const run = otherBrief ? cases.filter((a) => a.headDim === 6) : cases;
    for (const [i, a] of run.entries()) await checkGpu(t, a, 100 + 10 * i);
  },
});

/**
 * The packed layout (q, k, v read straight out of qkv [B, T, 3, H, dh], o and dO [B, T, H, dh],
 * dqkv written packed) on every runtime, against the CPU on split heads: the same kernels with
 * other strides, so the same tolerance.
 */
gpuTests("attention webgpu packed: qkv layout matches the CPU reference", async (r) => {
  for (const [i, a] of [args(2, 3, 37, 8), args(1, 2, 17, 6)].entries()) {
    const n = a.batch * a.heads * a.length * a.headDim;
    const qkv = rand(3 * n, 200 + i), dOt = rand(n, 210 + i);
    const [q, k, v] = unpackQkv(qkv, a);
    const cpu = attentionCpu(q, k, v, a);
    const cg = attentionGradCpu(q, k, v, cpu.o, cpu.lse, tokensToHeads(dOt, a), a);
    const qg = upload(r, qkv), dOg = upload(r, dOt);
    const fwd = attentionGpu(r, qg, qg, qg, a, "packed");
    const dqkv = attentionGradGpu(r, qg, qg, qg, fwd.o, fwd.lse, dOg, a, "packed").dq;
    const tag = `packed ${r.profile.family} ${JSON.stringify(a)}`;
    const tol = [2e-5, 1e-4] as const;
    assertClose(await read(r, fwd.o, n), headsToTokens(cpu.o, a), ...tol, `o ${tag}`);
    assertClose(await read(r, fwd.lse, n / a.headDim), cpu.lse, ...tol, `lse ${tag}`);
    const want = packQkv([cg.dq, cg.dk, cg.dv], a);
    assertClose(await read(r, dqkv, 3 * n), want, ...tol, `dqkv ${tag}`);
    for (const b of [qg, dOg, fwd.o, fwd.lse, dqkv]) r.release(b);
  }
});
