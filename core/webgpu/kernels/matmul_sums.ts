/**
 * C = op(A)·op(B) together with the sums over k of op(A)'s rows or op(B)'s columns: a linear
 * layer's weight gradient (xᵀ·dy or dyᵀ·x, k = tokens) and its bias gradient (dy summed over
 * tokens) from one read of dy. The matmul kernels add the values they load into the sums (one
 * dispatch, where a separate reduction was one to three more and another pass over dy). On a
 * software adapter this follows every path matmulGpu takes (Aᵀ copy, Cᵀ, split-k), the sums
 * swapping sides wherever the product is computed transposed; the GPU family's tiled kernel
 * reads every layout in place. C and the sums are two parts of one allocation, so split-k
 * partials of both fold in one reduction.
 */
import type { MatmulArgs } from "../../backend.ts";
import { kernel } from "../kernel.ts";
import type { GpuBuffer, Runtime } from "../runtime.ts";
import { copyGpu } from "./copy.ts";
import {
  dispatchPlan,
  materialisesAT,
  matmulGpu,
  planMatmul,
  software,
  splitK,
  tallNarrow,
} from "./matmul.ts";
import { tiledSplitK } from "./matmul_splitk_gpu.ts";
import { chooseTiled, tiledGrid, tiledKernelName, tiledKernelWgsl } from "./matmul_tiled.ts";
import { reduceGpu } from "./reduce.ts";

export type SumsOf = "rows" | "cols";

const swap = (of: SumsOf): SumsOf => of === "rows" ? "cols" : "rows";

/** [C, sums] for one matrix (MatmulArgs with batch 1); sums [m] ("rows") or [n] ("cols"). */
export function matmulSumsGpu(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  of: SumsOf,
): [GpuBuffer, GpuBuffer] {
  if (args.batch !== 1) throw new Error(`matmulSums: one matrix only (batch ${args.batch})`);
  const { m, n, k } = args;
  if (m > 0 && n > 0 && k > 0) {
    return software(rt) ? swSums(rt, a, b, args, of) : tiledSums(rt, a, b, args, of);
  }
  const c = matmulGpu(rt, a, b, args);
  const [x, stored] = of === "rows" ? [a, args.transA] : [b, !args.transB];
  const len = of === "rows" ? m : n;
  // Stored [k, len] sums over the middle axis of [1, k, len]; stored [len, k] over [len, k, 1].
  return [c, stored ? reduceGpu(rt, "sum", x, 1, k, len) : reduceGpu(rt, "sum", x, len, k, 1)];
}

/** GPU family: the tiled kernel's sums variant, split over k as matmulGpu would split it. */
function tiledSums(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  of: SumsOf,
): [GpuBuffer, GpuBuffer] {
  const { m, n, k } = args;
  const { out, stride } = resultParts(rt, args, of);
  const split = tiledSplitK(rt, args);
  const v = chooseTiled(rt.profile.tiledWorkgroups, args, 0, 0, false, split.s > 1, of);
  const kern = kernel(tiledKernelName(v), () => tiledKernelWgsl(v));
  const [gx, gy] = tiledGrid(v, m, n);
  const u = { m, n, k, aStride: 0, bStride: 0, batch0: 0, sOff: out.offsets[1] };
  if (split.s === 1) {
    rt.dispatch(kern, { A: a, B: b, C: out.whole }, { ...u, cStride: 0 }, [gx, gy, 1]);
  } else {
    // The slices' partial C and sums laid out as the result, folded in one reduction.
    const parts = rt.alloc(4 * split.s * stride);
    const su = { ...u, cStride: stride, kSplit: split.kSplit };
    rt.dispatch(kern, { A: a, B: b, C: parts }, su, [gx, gy, split.s]);
    reduceGpu(rt, "sum", parts, 1, split.s, stride, out.whole);
    rt.release(parts);
  }
  return [out.parts[0], out.parts[1]];
}

function swSums(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  of: SumsOf,
): [GpuBuffer, GpuBuffer] {
  const { m, n, k } = args;
  const split = splitK(rt, args);
  if (split > 1) return splitKSums(rt, a, b, args, of, split);
  const tall = tallNarrow(rt, args);
  if (tall) {
    const t = {
      ...args,
      m: n,
      n: m,
      transA: !args.transB,
      transB: !args.transA,
    };
    const [ct, s] = swSums(rt, b, a, t, swap(of));
    return [transposed(rt, ct, n, m), s];
  }
  if (materialisesAT(rt, args)) {
    // (See matmulGpu: the transposed-A kernels leak host memory on Mesa 22.3.)
    const at = rt.alloc(4 * m * k);
    copyGpu(rt, a, { offset: 0, strides: [1, m] }, at, { offset: 0, strides: [k, 1] }, [m, k]);
    const out = swSums(rt, at, b, { ...args, transA: false, aBatchStride: 0 }, of);
    rt.release(at);
    return out;
  }
  const { out } = resultParts(rt, args, of);
  const p = planMatmul(rt, args, "none", null, of);
  dispatchPlan(rt, p, args, a, b, { C: out.whole }, { cStride: 0, sOff: out.offsets[1] });
  return [out.parts[0], out.parts[1]];
}

/**
 * Split-k (see matmul.ts): S slices of Aᵀ·B, each writing its partial C and partial sums laid
 * out as the final allocation is ([C | padding | sums] per slice), so one reduction over the
 * slices yields both.
 */
function splitKSums(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  of: SumsOf,
  s: number,
): [GpuBuffer, GpuBuffer] {
  const { m, n, k } = args;
  if (m > n) {
    // Cᵀ = Bᵀ·A, as splitKMatmul does; op(A)'s rows are then op(Bᵀ)'s columns.
    const [ct, sums] = splitKSums(rt, b, a, { ...args, m: n, n: m }, swap(of), s);
    return [transposed(rt, ct, n, m), sums];
  }
  const ks = k / s;
  const { out, stride } = resultParts(rt, args, of);
  const at = rt.alloc(4 * m * k);
  copyGpu(rt, a, { offset: 0, strides: [ks * m, 1, m] }, at, {
    offset: 0,
    strides: [m * ks, ks, 1],
  }, [s, m, ks]);
  const slices: MatmulArgs = {
    batch: s,
    m,
    n,
    k: ks,
    transA: false,
    transB: false,
    aBatchStride: m * ks,
    bBatchStride: ks * n,
  };
  const parts = rt.alloc(4 * s * stride);
  const p = planMatmul(rt, slices, "none", null, of);
  dispatchPlan(rt, p, slices, at, b, { C: parts }, { cStride: stride, sOff: out.offsets[1] });
  rt.release(at);
  reduceGpu(rt, "sum", parts, 1, s, stride, out.whole);
  rt.release(parts);
  return [out.parts[0], out.parts[1]];
}

/** A new [cols, rows] buffer holding the transpose of c [rows, cols] (c is released). */
function transposed(rt: Runtime, c: GpuBuffer, rows: number, cols: number): GpuBuffer {
  const t = rt.alloc(4 * rows * cols);
  copyGpu(rt, c, { offset: 0, strides: [1, cols] }, t, { offset: 0, strides: [rows, 1] }, [
    cols,
    rows,
  ]);
  rt.release(c);
  return t;
}

const pad4 = (x: number) => 4 * Math.ceil(x / 4);

/**
 * The result's allocation, [C | padding | sums (padded to vec4s)], and `stride`, the floats of
 * that layout: split-k slices write theirs at z·stride, so one reduction folds C and sums.
 */
function resultParts(rt: Runtime, args: MatmulArgs, of: SumsOf) {
  const len = of === "rows" ? args.m : args.n;
  const out = rt.allocParts([4 * args.m * args.n, 4 * pad4(len)]);
  return { out, stride: out.offsets[1] + pad4(len) };
}
