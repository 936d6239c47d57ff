/**
 * LayerNorm/RMSNorm, causal depthwise conv1d and Adam/AdamW: CPU references against naive f64
 * implementations and central differences, WebGPU kernels against the CPU references on shapes
 * that are not multiples of any workgroup (rows 1, 3, 17, 33; cols 1, 7, 33, 257; L < K).
 */
import assert from "node:assert/strict";
import type { AdamArgs } from "../core/backend.ts";
import { adamCpu } from "../core/cpu/adam.ts";
import { conv1dCpu, conv1dGradCpu } from "../core/cpu/conv.ts";
import { layerNormCpu, layerNormGradCpu } from "../core/cpu/norm.ts";
import { Rng } from "../core/rng.ts";
import { adamGpu } from "../core/webgpu/kernels/adam.ts";
import { gradNormGpu } from "../core/webgpu/kernels/grad_norm.ts";
import { conv1dGpu, conv1dGradGpu } from "../core/webgpu/kernels/conv.ts";
import { layerNormGpu, layerNormGradGpu } from "../core/webgpu/kernels/norm.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";
import { gpuTests } from "./gpu_runtimes.ts";

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return new Rng(seed).fillUniform(new Float32Array(n), lo, hi);
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

/**
 * Central differences of the scalar loss(xs) for every element of each input, in f64. With
 * h = 1e-5 the truncation error is ~h² and the rounding ~1e-16/h, both far below 1e-8, so the
 * tolerances in the callers only cover the f32 rounding of the analytic side.
 */
function numericGrads(xs: Float64Array[], loss: () => number): Float64Array[] {
  const h = 1e-5;
  return xs.map((x) =>
    x.map((x0, i) => {
      x[i] = x0 + h;
      const lp = loss();
      x[i] = x0 - h;
      const lm = loss();
      x[i] = x0;
      return (lp - lm) / (2 * h);
    })
  );
}

/** Naive f64 LayerNorm/RMSNorm straight from the definition (two-pass mean and variance). */
function naiveNorm(
  x: ArrayLike<number>,
  w: ArrayLike<number> | null,
  b: ArrayLike<number> | null,
  rows: number,
  cols: number,
  eps: number,
  rms: boolean,
): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, c) => x[r * cols + c]);
    const mu = rms ? 0 : row.reduce((s, v) => s + v, 0) / cols;
    const ms = row.reduce((s, v) => s + (v - mu) ** 2, 0) / cols;
    for (let c = 0; c < cols; c++) {
      y[r * cols + c] = ((row[c] - mu) / Math.sqrt(ms + eps)) * (w ? w[c] : 1) +
        (b && !rms ? b[c] : 0);
    }
  }
  return y;
}

const NORM_MODES = [
  { rms: false, hasW: true, hasB: true },
  { rms: false, hasW: false, hasB: false },
  { rms: true, hasW: true, hasB: false },
  { rms: true, hasW: false, hasB: false },
];

Deno.test("layernorm cpu: forward matches the naive definition", () => {
  for (const { rms, hasW, hasB } of NORM_MODES) {
    for (const [rows, cols] of [[1, 1], [3, 7], [5, 33]]) {
      const x = rand(rows * cols, rows + cols, -2, 3);
      const w = hasW ? rand(cols, 2) : null, b = hasB ? rand(cols, 3) : null;
      const got = layerNormCpu(x, w, b, rows, cols, 1e-5, rms);
      // f64 on both sides; only the final f32 rounding differs (~1e-7 relative). rstd is up to
      // 1/sqrt(eps) ≈ 316 for cols = 1, hence the relative tolerance.
      const tag = `rms=${rms} w=${hasW} b=${hasB} [${rows},${cols}]`;
      assertClose(got.y, naiveNorm(x, w, b, rows, cols, 1e-5, rms), 1e-6, 1e-6, `y ${tag}`);
    }
  }
});

Deno.test("layernorm cpu: backward matches central differences", () => {
  const [rows, cols, eps] = [3, 5, 1e-3];
  for (const { rms, hasW, hasB } of NORM_MODES) {
    const x = rand(rows * cols, 11), R = rand(rows * cols, 12);
    const w = hasW ? rand(cols, 13, 0.5, 1.5) : null, b = hasB ? rand(cols, 14) : null;
    const { mean, rstd } = layerNormCpu(x, w, b, rows, cols, eps, rms);
    const g = layerNormGradCpu(x, w, mean, rstd, R, rows, cols, rms);
    const xs = [Float64Array.from(x), Float64Array.from(w ?? []), Float64Array.from(b ?? [])];
    const loss = () =>
      naiveNorm(xs[0], hasW ? xs[1] : null, hasB ? xs[2] : null, rows, cols, eps, rms)
        .reduce((s, y, i) => s + y * R[i], 0);
    const [dx, dw, db] = numericGrads(xs, loss);
    const tag = `rms=${rms} w=${hasW} b=${hasB}`;
    // Analytic side: f32 inputs, f32-rounded mean/rstd and outputs, O(1) values: ~1e-6.
    assertClose(g.dx, dx, 1e-5, 1e-5, `dx ${tag}`);
    if (hasW) assertClose(g.dw, dw, 1e-5, 1e-5, `dw ${tag}`);
    else assert.deepEqual(g.dw, new Float32Array(cols), `dw zero without w ${tag}`);
    if (hasB) assertClose(g.db, db, 1e-5, 1e-5, `db ${tag}`);
    if (rms) assert.deepEqual(g.db, new Float32Array(cols), `db zero for rms ${tag}`);
  }
});

/** Naive f64 conv: zero-pad K−1 steps on the left, correlate, keep the first L outputs. */
function naiveConv(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  B: number,
  L: number,
  C: number,
  K: number,
): Float64Array {
  const y = new Float64Array(B * L * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const padded = [...new Array(K - 1).fill(0)];
      for (let t = 0; t < L; t++) padded.push(x[(b * L + t) * C + c]);
      for (let t = 0; t < L; t++) {
        let acc = bias[c];
        for (let j = 0; j < K; j++) acc += w[c * K + j] * padded[t + j];
        y[(b * L + t) * C + c] = acc;
      }
    }
  }
  return y;
}

const CONV_CASES = [[2, 3, 5, 4], [1, 1, 3, 4], [3, 37, 17, 4], [2, 33, 7, 3], [1, 17, 33, 1]];

Deno.test("conv1d cpu: forward matches the padded-correlation definition", () => {
  for (const [B, L, C, K] of CONV_CASES) {
    const x = rand(B * L * C, 21), w = rand(C * K, 22), bias = rand(C, 23);
    const got = conv1dCpu(x, w, bias, B, L, C, K);
    // f32 accumulation of ≤ 5 O(1) terms against f64: ≤ ~5·2^-24.
    assertClose(got, naiveConv(x, w, bias, B, L, C, K), 1e-6, 1e-6, `conv [${B},${L},${C},${K}]`);
  }
});

Deno.test("conv1d cpu: backward matches central differences", () => {
  for (const [B, L, C, K] of [[2, 3, 2, 4], [1, 6, 3, 3]]) {
    const x = rand(B * L * C, 31), w = rand(C * K, 32), bias = rand(C, 33);
    const R = rand(B * L * C, 34);
    const g = conv1dGradCpu(x, w, R, B, L, C, K);
    const xs = [Float64Array.from(x), Float64Array.from(w), Float64Array.from(bias)];
    const loss = () =>
      naiveConv(xs[0], xs[1], xs[2], B, L, C, K).reduce((s, y, i) => s + y * R[i], 0);
    const [dx, dw, db] = numericGrads(xs, loss);
    // The loss is linear in each input, so differences are exact up to f64 rounding; the
    // analytic side sums ≤ B·L f32 products (dx in f32: ~K·2^-24).
    const tag = `[${B},${L},${C},${K}]`;
    assertClose(g.dx, dx, 1e-6, 1e-6, `dx ${tag}`);
    assertClose(g.dw, dw, 1e-6, 1e-6, `dw ${tag}`);
    assertClose(g.db, db, 1e-6, 1e-6, `db ${tag}`);
  }
});

/** The PyTorch torch.optim.Adam/AdamW update, written out in f64 over `steps` steps. */
function referenceAdam(p0: Float32Array, grads: Float32Array[], a: Omit<AdamArgs, "step">) {
  const p = Float64Array.from(p0), m = new Float64Array(p.length), v = new Float64Array(p.length);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      if (a.weightDecay > 0) p[i] *= 1 - a.lr * a.weightDecay;
      m[i] = a.beta1 * m[i] + (1 - a.beta1) * g[i];
      v[i] = a.beta2 * v[i] + (1 - a.beta2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - a.beta2 ** t) + a.eps;
      p[i] -= (a.lr / (1 - a.beta1 ** t)) * (m[i] / denom);
    }
  });
  return { p, m, v };
}

const ADAM_CONFIGS = [
  { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
  { lr: 3e-3, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 },
];

Deno.test("adam cpu: five steps match the written-out PyTorch update", () => {
  const n = 37;
  for (const cfg of ADAM_CONFIGS) {
    for (const scale of [null, 0.25]) {
      const p = rand(n, 41), m = new Float32Array(n), v = new Float32Array(n);
      const grads = Array.from({ length: 5 }, (_, s) => rand(n, 50 + s, -2, 2));
      for (const [s, g] of grads.entries()) {
        const gs = scale === null ? null : Float32Array.of(scale);
        adamCpu(p, g, m, v, { n, ...cfg, step: s + 1 }, gs);
      }
      const scaled = grads.map((g) => g.map((x) => x * (scale ?? 1)));
      const want = referenceAdam(rand(n, 41), scaled, { n, ...cfg });
      // The CPU step keeps its state in f32 (one rounding per step): ~1e-7 relative.
      const tag = `${JSON.stringify(cfg)} scale=${scale}`;
      assertClose(p, want.p, 1e-6, 1e-5, `p ${tag}`);
      assertClose(m, want.m, 1e-7, 1e-5, `m ${tag}`);
      assertClose(v, want.v, 1e-8, 1e-5, `v ${tag}`);
    }
  }
});

function upload(r: Runtime, a: Float32Array): GpuBuffer {
  const b = r.alloc(Math.max(4, a.byteLength));
  r.write(b, a);
  return b;
}

async function read(r: Runtime, b: GpuBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await r.read(b, n * 4));
}

// Both row-kernel shapes ("row" on llvmpipe's own runtimes, "workgroup" on the other family's).
gpuTests(
  "layernorm webgpu: forward and gradients match the CPU reference",
  async (r) => {
    const variant = r.profile.rows;
    // cols % 4 == 0 takes the vec4 row kernels on software adapters; [130, 516] has several
    // column groups and row chunks of dw/db's partials
    const shapes = [[1, 1], [3, 7], [17, 33], [33, 257], [1, 257], [17, 1], [3, 4], [70, 36]];
    shapes.push([130, 516]);
    for (const [si, [rows, cols]] of shapes.entries()) {
      for (const { rms, hasW, hasB } of NORM_MODES) {
        const x = rand(rows * cols, si, -2, 3), dy = rand(rows * cols, si + 1);
        const w = hasW ? rand(cols, si + 2) : null, b = hasB ? rand(cols, si + 3) : null;
        const cpu = layerNormCpu(x, w, b, rows, cols, 1e-5, rms);
        const cg = layerNormGradCpu(x, w, cpu.mean, cpu.rstd, dy, rows, cols, rms);
        const [xg, dyg] = [upload(r, x), upload(r, dy)];
        const wg = w && upload(r, w), bg = b && upload(r, b);
        const f = layerNormGpu(r, xg, wg, bg, rows, cols, 1e-5, rms);
        const g = layerNormGradGpu(r, xg, wg, f.mean, f.rstd, dyg, rows, cols, rms);
        const tag = `${variant} rms=${rms} w=${hasW} b=${hasB} [${rows},${cols}]`;
        // f32 row sums of ≤ 257 terms: ~1e-6 relative in mean/rstd; rstd reaches 316 for
        // cols = 1 (var 0, eps 1e-5), and dx, dw, db are O(1)-valued sums of ≤ 257 or ≤ 33
        // terms, so 2e-5 + 1e-4 relative leaves a wide margin over the observed ~1e-6.
        const tol = [2e-5, 1e-4] as const;
        assertClose(await read(r, f.y, rows * cols), cpu.y, ...tol, `y ${tag}`);
        assertClose(await read(r, f.mean, rows), cpu.mean, ...tol, `mean ${tag}`);
        assertClose(await read(r, f.rstd, rows), cpu.rstd, ...tol, `rstd ${tag}`);
        assertClose(await read(r, g.dx, rows * cols), cg.dx, ...tol, `dx ${tag}`);
        assertClose(await read(r, g.dw, cols), cg.dw, ...tol, `dw ${tag}`);
        assertClose(await read(r, g.db, cols), cg.db, ...tol, `db ${tag}`);
        for (const buf of [xg, dyg, wg, bg, f.y, f.mean, f.rstd, g.dx, g.dw, g.db]) {
          if (buf) r.release(buf);
        }
      }
    }
  },
);

gpuTests(
  "conv1d webgpu: forward and gradients match the CPU reference",
  async (r) => {
    // L < K, a single step, B·L over several dw chunks, and K = 1.
    const cases = [...CONV_CASES, [4, 70, 65, 4]];
    for (const [B, L, C, K] of cases) {
      const x = rand(B * L * C, 61), w = rand(C * K, 62), bias = rand(C, 63);
      const dy = rand(B * L * C, 64);
      const y = conv1dCpu(x, w, bias, B, L, C, K);
      const cg = conv1dGradCpu(x, w, dy, B, L, C, K);
      const [xg, wg, bg, dyg] = [x, w, bias, dy].map((a) => upload(r, a));
      const yg = conv1dGpu(r, xg, wg, bg, B, L, C, K);
      const g = conv1dGradGpu(r, xg, wg, dyg, B, L, C, K);
      // ≤ K-term sums for y and dx; dw and db sum B·L ≤ 280 O(1) products in f32 with a
      // different association than the CPU's f64 sum: ≤ ~280·2^-24 relative to the magnitudes.
      const tag = `[${B},${L},${C},${K}]`;
      assertClose(await read(r, yg, B * L * C), y, 1e-6, 1e-5, `y ${tag}`);
      assertClose(await read(r, g.dx, B * L * C), cg.dx, 1e-6, 1e-5, `dx ${tag}`);
      assertClose(await read(r, g.dw, C * K), cg.dw, 2e-5, 1e-5, `dw ${tag}`);
      assertClose(await read(r, g.db, C), cg.db, 2e-5, 1e-5, `db ${tag}`);
      for (const buf of [xg, wg, bg, dyg, yg, g.dx, g.dw, g.db]) r.release(buf);
    }
  },
);

gpuTests(
  "adam webgpu: five steps of several parameters (packed and not) match the CPU step",
  async (r) => {
    // Six parameters: four packed (one dispatch), one packed after a loose one (its own groups),
    // sizes that are not vec4 multiples, and per-parameter step counts that differ.
    const sizes = [1, 7, 1000, 3, 64, 5];
    const loose = 4; // p, m, v of this one are plain buffers, not parts
    for (const cfg of ADAM_CONFIGS) {
      for (const scale of [null, 0.25]) {
        const host = sizes.map((n, k) => ({
          p: rand(n, 71 + k),
          m: new Float32Array(n),
          v: new Float32Array(n),
        }));
        const packs = ["p", "m", "v"].map(() => r.allocParts(sizes.map((n) => 4 * n)));
        const dev = sizes.map((n, k) => {
          const part = (i: number) => k === loose ? r.alloc(4 * n) : packs[i].parts[k];
          const b = { p: part(0), m: part(1), v: part(2) };
          r.write(b.p, host[k].p);
          r.write(b.m, host[k].m);
          r.write(b.v, host[k].v);
          return b;
        });
        const sg = scale === null ? null : upload(r, Float32Array.of(scale));
        for (let s = 0; s < 5; s++) {
          const gs = sizes.map((n, k) => rand(n, 80 + 10 * s + k, -2, 2));
          const items = sizes.map((n, k) => {
            const step = s + 1 + (k % 2); // odd parameters one step ahead
            adamCpu(
              host[k].p,
              gs[k],
              host[k].m,
              host[k].v,
              { n, ...cfg, step },
              sg && Float32Array.of(scale!),
            );
            return { ...dev[k], g: upload(r, gs[k]), n, step };
          });
          adamGpu(r, items, cfg, sg);
          for (const it of items) r.release(it.g);
        }
        // Same f32 formula; the GPU's division and sqrt are ≤ 2.5 ulp and the CPU computes
        // each element in f64, so p drifts by ~1e-7 per step relative to its O(1) size.
        for (const [k, n] of sizes.entries()) {
          const tag = `param ${k} (n=${n}) ${JSON.stringify(cfg)} scale=${scale}`;
          assertClose(await read(r, dev[k].p, n), host[k].p, 1e-6, 1e-5, `p ${tag}`);
          assertClose(await read(r, dev[k].m, n), host[k].m, 1e-7, 1e-5, `m ${tag}`);
          assertClose(await read(r, dev[k].v, n), host[k].v, 1e-8, 1e-5, `v ${tag}`);
        }
        for (const b of dev) for (const x of [b.p, b.m, b.v]) r.release(x);
        for (const pk of packs) r.release(pk.parts[loose]); // (unused parts)
        if (sg) r.release(sg);
      }
    }
  },
);

gpuTests(
  "grad norm webgpu: the norm and clip factor of nine buffers match the CPU",
  async (r) => {
    // nine buffers: two pass-1 dispatches (seven, then two); one longer than a chunk of 256
    const sizes = [1, 7, 300, 3, 1000, 64, 5, 2049, 17];
    const xs = sizes.map((n, k) => rand(n, 90 + k, -2, 2));
    const bufs = xs.map((x) => upload(r, x));
    let s = 0;
    for (const x of xs) for (const v of x) s += v * v;
    const want = Math.sqrt(s);
    for (const maxNorm of [0, 1, 1e9]) {
      const [norm, scale] = gradNormGpu(r, bufs.map((buf, k) => ({ buf, n: sizes[k] })), maxNorm);
      const got = (await read(r, norm, 1))[0], f = (await read(r, scale, 1))[0];
      // f32 sums of ~3.5k squares in a fixed order: ~1e-6 relative
      assert.ok(Math.abs(got - want) <= 1e-5 * want, `norm ${got} vs ${want}`);
      const wantScale = maxNorm > 0 ? Math.min(1, maxNorm / (want + 1e-6)) : 1;
      assert.ok(Math.abs(f - wantScale) <= 1e-5 * wantScale, `scale ${f} vs ${wantScale}`);
      r.release(norm);
      r.release(scale);
    }
    for (const b of bufs) r.release(b);
  },
);

gpuTests(
  "adam and grad norm webgpu: parameters laid out alike in zero-padded packs take one dispatch",
  async (r) => {
    // The layout nn's Adam makes: p, g, m and v each one backend allocation with its parts in
    // the same order. Nine parameters with the same step: one Adam dispatch and one norm pass
    // (unmerged: three and two); a parameter left out (no gradient) splits the run in two (still
    // one dispatch each) and keeps its values.
    const be = new WebGpuBackend(r);
    const sizes = [1, 7, 1000, 3, 64, 5, 300, 2, 9];
    const [P, G, M, V] = [0, 1, 2, 3].map(() => be.allocParts(sizes) as GpuBuffer[]);
    await read(r, P[0], 1); // (the packs' zero fill is recorded; writes below go to the queue)
    const host = sizes.map((n, k) => ({
      p: rand(n, 171 + k),
      m: new Float32Array(n),
      v: new Float32Array(n),
    }));
    sizes.forEach((_, k) => r.write(P[k], host[k].p));
    const cfg = ADAM_CONFIGS[1];
    for (let s = 0; s < 3; s++) {
      const skip = s === 2 ? 2 : -1; // the last step leaves parameter 2 out
      const gs = sizes.map((n, k) => rand(n, 180 + 10 * s + k, -2, 2));
      const live = sizes.flatMap((_, k) => k === skip ? [] : [k]);
      for (const k of live) {
        r.write(G[k], gs[k]);
        adamCpu(host[k].p, gs[k], host[k].m, host[k].v, { n: sizes[k], ...cfg, step: s + 1 }, null);
      }
      const items = live.map((k) => ({ p: P[k], g: G[k], m: M[k], v: V[k], n: sizes[k] }));
      const before = r.dispatches;
      const [norm, scale] = gradNormGpu(r, items.map((it) => ({ buf: it.g, n: it.n })), 0);
      adamGpu(r, items.map((it) => ({ ...it, step: s + 1 })), cfg, null);
      assert.equal(r.dispatches - before, 3, `step ${s}: dispatches`);
      let want = 0;
      for (const k of live) for (const x of gs[k]) want += x * x;
      const got = (await read(r, norm, 1))[0];
      assert.ok(Math.abs(got - Math.sqrt(want)) <= 1e-5 * Math.sqrt(want), `norm ${got}`);
      r.release(norm);
      r.release(scale);
    }
    for (const [k, n] of sizes.entries()) {
      assertClose(await read(r, P[k], n), host[k].p, 1e-6, 1e-5, `p ${k}`);
      assertClose(await read(r, M[k], n), host[k].m, 1e-7, 1e-5, `m ${k}`);
      assertClose(await read(r, V[k], n), host[k].v, 1e-8, 1e-5, `v ${k}`);
    }
    for (const x of [P, G, M, V]) for (const b of x) r.release(b);
  },
);
