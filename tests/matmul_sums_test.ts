/**
 * matmulSums (a linear layer's weight and bias gradients in one pass): C and the row sums of
 * op(A) or column sums of op(B), on the CPU and on every WebGPU runtime, against an f64 loop.
 * The shapes walk every path the software family takes (plain register blocks with vec4 and
 * scalar stores, the Aᵀ copy, C computed as Cᵀ, split-k in both orientations), with sizes off
 * every block and vec4 multiple. Tolerance as in matmul_test.ts: 1e-6·sqrt(k)·Σ|terms|.
 */
import assert from "node:assert/strict";
import type { MatmulArgs } from "../core/backend.ts";
import { CpuBackend } from "../core/cpu/backend.ts";
import { Rng } from "../core/rng.ts";
import { matmulSumsGpu, type SumsOf } from "../core/webgpu/kernels/matmul_sums.ts";
import { gpuTests, otherBrief } from "./gpu_runtimes.ts";

const rng = new Rng(5);

interface Case {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  of: SumsOf;
}

function args(c: Case): MatmulArgs {
  return { batch: 1, ...c, aBatchStride: 0, bBatchStride: 0 };
}

/** [C, |C| terms, sums, |sums| terms] in f64. */
function reference(a: Float32Array, b: Float32Array, c: Case) {
  const { m, n, k, transA, transB } = c;
  const A = (i: number, p: number) => a[transA ? p * m + i : i * k + p];
  const B = (p: number, j: number) => b[transB ? j * k + p : p * n + j];
  const C = new Float64Array(m * n), mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < k; p++) {
        C[i * n + j] += A(i, p) * B(p, j);
        mag[i * n + j] += Math.abs(A(i, p) * B(p, j));
      }
    }
  }
  const len = c.of === "rows" ? m : n;
  const S = new Float64Array(len), smag = new Float64Array(len);
  for (let x = 0; x < len; x++) {
    for (let p = 0; p < k; p++) {
      const v = c.of === "rows" ? A(x, p) : B(p, x);
      S[x] += v;
      smag[x] += Math.abs(v);
    }
  }
  return { C, mag, S, smag };
}

function close(got: Float32Array, want: Float64Array, mag: Float64Array, k: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  const tol = 1e-6 * Math.sqrt(Math.max(k, 1));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * mag[i] + 1e-30)) {
      assert.fail(`${what}: element ${i} got ${got[i]}, want ${want[i]}`);
    }
  }
}

const tag = (c: Case) =>
  `${c.m}x${c.n}x${c.k}${c.transA ? " Aᵀ" : ""}${c.transB ? " Bᵀ" : ""} ${c.of}`;

// dW = dyᵀ·x (A = dy stored [k, m], sums of op(A)'s rows) and dW = xᵀ·dy (B = dy, columns),
// at the quick preset's layer shapes and at sizes off every block.
const CASES: Case[] = [
  { m: 64, n: 256, k: 2560, transA: true, transB: false, of: "cols" }, // split-k
  { m: 256, n: 64, k: 2560, transA: true, transB: false, of: "rows" }, // split-k as Cᵀ
  { m: 192, n: 64, k: 2560, transA: true, transB: false, of: "cols" }, // split-k as Cᵀ
  { m: 37, n: 21, k: 1100, transA: true, transB: false, of: "rows" }, // Aᵀ copy, scalar stores
  { m: 36, n: 68, k: 4096, transA: true, transB: false, of: "rows" }, // split-k, 8 slices
  { m: 1028, n: 12, k: 132, transA: false, transB: true, of: "rows" }, // as Cᵀ
  { m: 1028, n: 12, k: 132, transA: false, transB: true, of: "cols" },
  { m: 33, n: 17, k: 65, transA: false, transB: false, of: "rows" }, // plain, clamped tails
  { m: 33, n: 17, k: 65, transA: false, transB: true, of: "cols" },
  { m: 70, n: 36, k: 19, transA: true, transB: true, of: "cols" },
  { m: 5, n: 3, k: 1, transA: false, transB: false, of: "cols" },
  // wide enough for the GPU family's 64-wide tiles (two quads of sums per thread)
  { m: 520, n: 1028, k: 40, transA: true, transB: false, of: "cols" },
  { m: 1028, n: 520, k: 40, transA: false, transB: true, of: "rows" },
];

function operands(c: Case) {
  const a = rng.fillUniform(new Float32Array(c.m * c.k), -1, 1);
  const b = rng.fillUniform(new Float32Array(c.k * c.n), -1, 1);
  return { a, b };
}

Deno.test("matmulSums cpu: the product and the sums match an f64 loop", async () => {
  const be = new CpuBackend();
  for (const c of CASES) {
    const { a, b } = operands(c);
    const [gc, gs] = be.matmulSums(be.upload(a), be.upload(b), args(c), c.of);
    const ref = reference(a, b, c);
    close(await be.read(gc, c.m * c.n) as Float32Array, ref.C, ref.mag, c.k, tag(c));
    const len = c.of === "rows" ? c.m : c.n;
    close(await be.read(gs, len) as Float32Array, ref.S, ref.smag, c.k, `${tag(c)} sums`);
  }
});

// The other runtimes: split-k with each kind of sums, one matrix without split, every
// transpose, 64-wide tiles; OpenGL (slow to compile the GPU family, gpu_runtimes.ts) one split and one plain.
const QUICK = otherBrief ? [0, 7] : [0, 3, 6, 7, 9, 11, 12];

gpuTests("matmulSums webgpu: the product and the sums match an f64 loop", async (r, quick) => {
  for (const c of quick ? QUICK.map((i) => CASES[i]) : CASES) {
    const { a, b } = operands(c);
    const ga = r.alloc(4 * a.length), gb = r.alloc(4 * b.length);
    r.write(ga, a);
    r.write(gb, b);
    const [gc, gs] = matmulSumsGpu(r, ga, gb, args(c), c.of);
    const ref = reference(a, b, c);
    const len = c.of === "rows" ? c.m : c.n;
    close(new Float32Array(await r.read(gc, 4 * c.m * c.n)), ref.C, ref.mag, c.k, tag(c));
    close(new Float32Array(await r.read(gs, 4 * len)), ref.S, ref.smag, c.k, `${tag(c)} sums`);
    for (const x of [ga, gb, gc, gs]) r.release(x);
  }
});
