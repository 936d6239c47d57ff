/**
 * Shared by the matmul tests: an f64 reference, the tolerance check, case construction and a
 * runner that checks WebGPU results against the reference for every transpose combination.
 *
 * Tolerance, per element: |got − want| <= 1e-6 · sqrt(k) · Σ_p |a_ip · b_pj| (+ 1e-30).
 * Why: an f32 dot product of k terms rounds once per add, each rounding at most u = 2^-24 ≈ 6e-8
 * times the running sum, which is bounded by Σ|a·b|. With random-sign data the roundings add
 * like a random walk, so the error grows as sqrt(k)·u·Σ|a·b|; 1e-6 ≈ 17u leaves room for the
 * walk's tail and for the different summation orders of the kernels, while an indexing or
 * masking bug (a wrong or missing term) gives errors of order |a·b| ~ Σ|a·b| / k, hundreds of
 * times larger at every k tested. The CPU kernel accumulates in f64 and rounds once, so
 * against the f64 loop it is far inside this bound. GPU results are compared with the same f64
 * loop.
 */
import assert from "node:assert/strict";
import type { MatmulArgs } from "../core/backend.ts";
import { Rng } from "../core/rng.ts";
import { matmulGpu } from "../core/webgpu/kernels/matmul.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";

const rng = new Rng(11);

export function rand(n: number): Float32Array {
  return rng.fillUniform(new Float32Array(n), -1, 1);
}

/** Reference: f64 triple loop; also returns Σ|a·b| per element for the tolerance. */
export function naive(
  a: Float32Array,
  b: Float32Array,
  s: MatmulArgs,
): { c: Float64Array; mag: Float64Array } {
  const { batch, m, n, k } = s;
  const c = new Float64Array(batch * m * n), mag = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = t * s.aBatchStride, bo = t * s.bBatchStride;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0, abs = 0;
        for (let p = 0; p < k; p++) {
          const x = a[ao + (s.transA ? p * m + i : i * k + p)];
          const y = b[bo + (s.transB ? j * k + p : p * n + j)];
          sum += x * y;
          abs += Math.abs(x * y);
        }
        c[(t * m + i) * n + j] = sum;
        mag[(t * m + i) * n + j] = abs;
      }
    }
  }
  return { c, mag };
}

export function check(
  got: Float32Array,
  ref: { c: Float64Array; mag: Float64Array },
  k: number,
  label: string,
) {
  assert.equal(got.length, ref.c.length, `${label}: length`);
  const scale = 1e-6 * Math.sqrt(Math.max(k, 1));
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref.c[i]);
    if (!(err <= scale * ref.mag[i] + 1e-30)) {
      assert.fail(`${label}: element ${i} got ${got[i]}, want ${ref.c[i]} (Σ|ab| ${ref.mag[i]})`);
    }
  }
}

/** A case: sizes, transposes, and which operand (if any) is broadcast over the batch. */
export interface Case {
  batch: number;
  m: number;
  n: number;
  k: number;
  bcast?: "a" | "b";
  /** Add a bias row (the linear layer's epilogue). */
  bias?: boolean;
}

export function makeArgs(c: Case, transA: boolean, transB: boolean): MatmulArgs {
  return {
    batch: c.batch,
    m: c.m,
    n: c.n,
    k: c.k,
    transA,
    transB,
    aBatchStride: c.bcast === "a" ? 0 : c.m * c.k,
    bBatchStride: c.bcast === "b" ? 0 : c.k * c.n,
  };
}

export function operands(c: Case): { a: Float32Array; b: Float32Array; bias?: Float32Array } {
  return {
    a: rand((c.bcast === "a" ? 1 : c.batch) * c.m * c.k),
    b: rand((c.bcast === "b" ? 1 : c.batch) * c.k * c.n),
    bias: c.bias ? rand(c.n) : undefined,
  };
}

/** The f64 reference with the bias row added (and counted in the magnitude). */
export function reference(a: Float32Array, b: Float32Array, s: MatmulArgs, bias?: Float32Array) {
  const ref = naive(a, b, s);
  if (bias) {
    for (let i = 0; i < ref.c.length; i++) {
      ref.c[i] += bias[i % s.n];
      ref.mag[i] += Math.abs(bias[i % s.n]);
    }
  }
  return ref;
}

export const TRANSPOSES: [boolean, boolean][] = [[false, false], [false, true], [true, false], [
  true,
  true,
]];
export const tag = (c: Case, tA: boolean, tB: boolean) =>
  `${c.batch}x(${c.m}x${c.k})·(${c.k}x${c.n})${tA ? " tA" : ""}${tB ? " tB" : ""}` +
  `${c.bcast ? ` bcast ${c.bcast}` : ""}${c.bias ? " +bias" : ""}`;

export const sw = (r: Runtime) => r.profile.matmul === "software";

export function upload(r: Runtime, data: Float32Array): GpuBuffer {
  const buf = r.alloc(Math.max(16, data.byteLength));
  if (data.length) r.write(buf, data);
  return buf;
}

export async function runGpu(
  r: Runtime,
  cases: Case[],
  label: string,
  transposes = TRANSPOSES,
): Promise<void> {
  for (const c of cases) {
    for (const [tA, tB] of transposes) {
      const { a, b, bias } = operands(c);
      const s = makeArgs(c, tA, tB);
      const ga = upload(r, a), gb = upload(r, b), gbias = bias && upload(r, bias);
      const gc = matmulGpu(r, ga, gb, s, gbias);
      // (a WebGPU error in the dispatches would throw here, naming the kernel)
      const got = new Float32Array(await r.read(gc, 4 * c.batch * c.m * c.n));
      // Against the f64 loop directly (the CPU kernel agrees with it to one rounding, see
      // above), so the whole tolerance is the GPU's.
      check(got, reference(a, b, s, bias), c.k, `${label} ${tag(c, tA, tB)}`);
      for (const x of [ga, gb, gc, ...(gbias ? [gbias] : [])]) r.release(x);
    }
  }
}
