/** A finite-difference gradient check for every differentiable op, on odd shapes with broadcasting. */
import * as op from "../core/ops/mod.ts";
import assert from "node:assert/strict";
import { backward } from "../core/autograd.ts";
import { fromArray, fromInts } from "../core/create.ts";
import { cpuBackend } from "../core/device_select.ts";
import type { Tensor } from "../core/tensor.ts";
import { gradCheck, posData, randData } from "./grad_util.ts";

const S = (shape: number[], data: Float32Array) => ({ shape, data });

Deno.test("grad: smooth unary ops", () => {
  const x = S([3, 5], randData(15, 1));
  for (
    const f of [
      op.neg,
      op.exp,
      op.tanh,
      op.sigmoid,
      op.gelu,
      op.silu,
      op.softplus,
      op.square,
      op.cos,
      op.sin,
    ]
  ) {
    gradCheck(f.name || "unary", f, [x]);
  }
});

Deno.test("grad: unary ops on positive inputs", () => {
  const x = S([2, 7], posData(14, 2));
  for (const f of [op.log, op.sqrt, op.rsqrt, op.reciprocal]) gradCheck(f.name || "unary", f, [x]);
});

Deno.test("grad: kinked unary ops away from the kink", () => {
  // Points at least 0.1 from 0 so the ±h stencil does not straddle the kink.
  const d = randData(12, 3).map((v) => (Math.abs(v) < 0.1 ? v + 0.3 * Math.sign(v || 1) : v));
  for (const f of [op.relu, op.abs]) gradCheck("kinked", f, [S([12], d)]);
});

Deno.test("grad: binary ops with broadcasting", () => {
  const a = S([3, 1, 5], randData(15, 4)), b = S([4, 5], randData(20, 5));
  gradCheck("add", op.add, [a, b]);
  gradCheck("sub", op.sub, [a, b]);
  gradCheck("mul", op.mul, [a, b]);
  gradCheck("div", op.div, [a, S([4, 5], posData(20, 6))]);
  gradCheck("pow", op.pow, [S([3, 1, 5], posData(15, 7)), S([5], randData(5, 8))]);
  gradCheck("scalar ops", (x) => op.add(op.mul(op.sub(x, 2), 3), 1), [a]);
  // max/min: separate the operands so no pair is within h of a tie.
  const c = S([3, 5], randData(15, 9)),
    e = S([3, 5], randData(15, 9).map((v, i) => v + (i % 2 ? 0.5 : -0.5)));
  gradCheck("maximum", op.maximum, [c, e]);
  gradCheck("minimum", op.minimum, [c, e]);
});

Deno.test("grad: reductions", () => {
  const x = S([2, 3, 4], randData(24, 10));
  gradCheck("sum all", (t) => op.sum(t), [x]);
  gradCheck("sum axis 1", (t) => op.sum(t, 1), [x]);
  gradCheck("sum axes 0,2 keepdims", (t) => op.sum(t, [0, 2], true), [x]);
  gradCheck("mean axis -1", (t) => op.mean(t, -1), [x]);
  gradCheck("max axis 1", (t) => op.max(t, 1), [x]);
});

Deno.test("grad: shape ops", () => {
  const x = S([2, 3, 4], randData(24, 11));
  gradCheck("reshape", (t) => op.reshape(t, [4, -1]), [x]);
  gradCheck("permute", (t) => op.permute(t, [2, 0, 1]), [x]);
  gradCheck("transpose", (t) => op.transpose(t), [x]);
  gradCheck("slice", (t) => op.slice(t, 2, 1, 3), [x]);
  // Slices' gradients join as blocks: tiling (out of order), with a gap, overlapping, and
  // beside a dense use of the same tensor.
  const y = S([2, 5, 3], randData(30, 26));
  const sl = (t: Tensor, a: number, b: number) => op.slice(t, 1, a, b);
  const two = (t: Tensor) => op.mul(t, 2);
  gradCheck("slices tiling", (t) => op.concat([two(sl(t, 2, 5)), sl(t, 0, 2)], 1), [y]);
  gradCheck("slices with a gap", (t) => op.concat([sl(t, 3, 5), two(sl(t, 0, 2))], 1), [y]);
  gradCheck("slices overlapping", (t) => op.concat([sl(t, 1, 4), two(sl(t, 0, 3))], 1), [y]);
  gradCheck("slice and the whole", (t) => op.concat([two(sl(t, 1, 3)), t], 1), [y]);
  gradCheck("concat", (a, b) => op.concat([a, b], 1), [x, S([2, 5, 4], randData(40, 12))]);
  gradCheck("broadcastTo", (t) => op.broadcastTo(t, [3, 2, 3, 4]), [x]);
  gradCheck("pad", (t) => op.padAxis(t, 0, 1, 2), [x]);
  const idx = fromInts([2, 0, 2, 1], [4], cpuBackend());
  gradCheck("gather (repeated indices)", (t) => op.gather(t, idx, 1), [x]);
});

Deno.test("grad: matmul, transposes and batch broadcasting", () => {
  const a = S([2, 3, 5], randData(30, 13)), b = S([5, 4], randData(20, 14));
  gradCheck("matmul broadcast B", op.matmul, [a, b]);
  gradCheck("matmul batched", op.matmul, [a, S([2, 5, 4], randData(40, 15))]);
  gradCheck("matmul Aᵀ", (x: Tensor, y: Tensor) => op.matmulT(x, y, true, false), [
    S([5, 3], randData(15, 16)),
    b,
  ]);
  gradCheck("matmul Bᵀ", (x: Tensor, y: Tensor) => op.matmulT(x, y, false, true), [
    a,
    S([4, 5], randData(20, 17)),
  ]);
  gradCheck("matmul AᵀBᵀ", (x: Tensor, y: Tensor) => op.matmulT(x, y, true, true), [
    S([2, 5, 3], randData(30, 18)),
    S([4, 5], randData(20, 19)),
  ]);
  gradCheck(
    "matmul Bᵀ + bias (linear)",
    (x: Tensor, w: Tensor, c: Tensor) => op.matmulT(x, w, false, true, c),
    [a, S([4, 5], randData(20, 17)), S([4], randData(4, 21))],
  );
  // (2-D weight and bias: the weight and bias gradients come from one matmulSums, op(A)'s rows
  // with Bᵀ, op(B)'s columns without)
  const x2 = S([6, 5], randData(30, 25));
  gradCheck(
    "matmul + bias (x·W, 2-D)",
    (x: Tensor, w: Tensor, c: Tensor) => op.matmulT(x, w, false, false, c),
    [x2, S([5, 4], randData(20, 17)), S([4], randData(4, 21))],
  );
  gradCheck(
    "matmul Bᵀ + bias (x·Wᵀ, 2-D)",
    (x: Tensor, w: Tensor, c: Tensor) => op.matmulT(x, w, false, true, c),
    [x2, S([4, 5], randData(20, 17)), S([4], randData(4, 21))],
  );
  gradCheck(
    "matmul Bᵀ + bias, GELU epilogue (c_fc)",
    (x: Tensor, w: Tensor, c: Tensor) => op.matmulT(x, w, false, true, c, "gelu"),
    [a, S([4, 5], randData(20, 17)), S([4], randData(4, 21))],
  );
  gradCheck(
    "matmul Aᵀ, SiLU epilogue",
    (x: Tensor, y: Tensor) => op.matmulT(x, y, true, false, undefined, "silu"),
    [S([3, 2], randData(6, 23)), S([3, 4], randData(12, 24))],
  );
  const t = (x: { shape: number[]; data: Float32Array }) =>
    fromArray(x.data, x.shape, cpuBackend());
  assert.throws(
    () => op.matmulT(t(a), t(b), false, false, fromArray(randData(5, 22), [5], cpuBackend())),
    /bias f32\[5\] should be \[4\]/,
  );
});

Deno.test("grad: softmax family and losses", () => {
  const x = S([3, 7], randData(21, 20));
  gradCheck("softmax", (t) => op.softmax(t), [x]);
  gradCheck("logSoftmax", (t) => op.logSoftmax(t), [x]);
  const t = S([3, 7], posData(21, 21, 0, 1));
  gradCheck("mseLoss", op.mseLoss, [x, t]);
  gradCheck("bceWithLogits", op.bceWithLogits, [x, t]);
  gradCheck("crossEntropy", (l) => op.crossEntropy(l, [1, 6, 0]), [x]);
});

Deno.test("grad: layerNorm and rmsNorm", () => {
  const x = S([5, 7], randData(35, 22)), w = S([7], randData(7, 23)), b = S([7], randData(7, 24));
  gradCheck("layerNorm", (a, c, d) => op.layerNorm(a, c, d), [x, w, b]);
  gradCheck("rmsNorm", (a, c) => op.rmsNorm(a, c), [x, w]);
});

Deno.test("grad: causalConv1d", () => {
  gradCheck("causalConv1d", op.causalConv1d, [
    S([2, 6, 3], randData(36, 25)),
    S([3, 4], randData(12, 26)),
    S([3], randData(3, 27)),
  ]);
});

Deno.test("grad: selectiveScan (with and without gate)", () => {
  const B = 2, L = 5, D = 3, N = 4;
  const A = S([D, N], posData(D * N, 28).map((v) => -v));
  const inputs = [
    S([B, L, D], randData(B * L * D, 29)),
    S([B, L, D], randData(B * L * D, 30)),
    S([D], randData(D, 31, 0.5)),
    A,
    S([B, L, N], randData(B * L * N, 32)),
    S([B, L, N], randData(B * L * N, 33)),
    S([D], randData(D, 34)),
  ];
  const scan = (
    x: Tensor,
    delta: Tensor,
    deltaBias: Tensor,
    a: Tensor,
    Bm: Tensor,
    Cm: Tensor,
    D: Tensor,
    z?: Tensor,
  ) => op.selectiveScan({ x, delta, deltaBias, A: a, Bm, Cm, D, z });
  gradCheck("selectiveScan", scan, inputs);
  gradCheck("selectiveScan gated", scan, [...inputs, S([B, L, D], randData(B * L * D, 35))]);
});

Deno.test("grad: causalAttention", () => {
  const sh = [2, 2, 5, 3];
  gradCheck("causalAttention", (q, k, v) => op.causalAttention(q, k, v), [
    S(sh, randData(60, 36)),
    S(sh, randData(60, 37)),
    S(sh, randData(60, 38)),
  ]);
});

Deno.test("grad: causalAttentionPacked, and it equals split heads → causalAttention → merge", async () => {
  const sh = [2, 5, 3, 2, 3]; // B, T, 3, H, dh
  gradCheck("causalAttentionPacked", (qkv) => op.causalAttentionPacked(qkv), [
    S(sh, randData(180, 44)),
  ]);
  const be = cpuBackend();
  const run = (packed: boolean) => {
    const qkv = fromArray(randData(180, 45), sh, be);
    qkv.requiresGrad = true;
    let y: Tensor;
    if (packed) y = op.causalAttentionPacked(qkv);
    else {
      const heads = op.permute(qkv, [2, 0, 3, 1, 4]);
      const part = (i: number) => op.reshape(op.slice(heads, 0, i, i + 1), [2, 2, 5, 3]);
      y = op.permute(op.causalAttention(part(0), part(1), part(2)), [0, 2, 1, 3]);
    }
    backward(op.sum(op.mul(y, fromArray(randData(60, 46), [2, 5, 2, 3], be))));
    return [y, qkv.grad!];
  };
  const [p, s] = [run(true), run(false)];
  for (let i = 0; i < 2; i++) {
    const a = await p[i].data(), b = await s[i].data();
    a.forEach((v, j) => assert.ok(Math.abs(v - b[j]) < 1e-6, `output ${i}[${j}]: ${v} vs ${b[j]}`));
  }
});

Deno.test("causalAttention equals its unfused composition (values and gradients)", async () => {
  const be = cpuBackend();
  const sh = [2, 3, 7, 4];
  gradCheck("unfused attention", (q, k, v) => op.causalAttentionUnfused(q, k, v), [
    S(sh, randData(168, 40)),
    S(sh, randData(168, 41)),
    S(sh, randData(168, 42)),
  ]);
  const run = (f: typeof op.causalAttention) => {
    const xs = [40, 41, 42].map((seed) => {
      const t = fromArray(randData(168, seed), sh, be);
      t.requiresGrad = true;
      return t;
    });
    const y = f(xs[0], xs[1], xs[2]);
    backward(op.sum(op.mul(y, fromArray(randData(168, 43), sh, be))));
    return [y, ...xs.map((x) => x.grad!)];
  };
  const fused = run(op.causalAttention), unfused = run(op.causalAttentionUnfused);
  for (let i = 0; i < 4; i++) {
    const a = await fused[i].data(), b = await unfused[i].data();
    // Both are f32 evaluations of the same softmax; they differ by rounding only.
    a.forEach((v, j) => assert.ok(Math.abs(v - b[j]) < 1e-5, `output ${i}[${j}]: ${v} vs ${b[j]}`));
  }
});
