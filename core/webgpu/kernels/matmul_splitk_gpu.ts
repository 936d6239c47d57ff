/**
 * Deterministic split-k for the GPU family: a weight gradient (Aᵀ·B over k = 17,920 tokens at
 * the paper preset into a 64×256 or 256×256 output) has 16–64 output tiles, which leaves most of
 * a GPU idle while each thread walks the whole of k. Splitting k into S slices runs S times the
 * workgroups; slice z writes its partial product to P[z] ([S, m, n]) and the partials are summed
 * in a fixed order afterwards (reduceGpu: no atomics, so two runs are bit-identical). The tiled
 * kernel reads every operand layout in place, so a slice is only a range of k (uniform kSplit),
 * with no copy of Aᵀ (the software family's split-k, matmul.ts, needs one).
 */
import type { MatmulArgs } from "../../backend.ts";
import { kernel } from "../kernel.ts";
import type { GpuBuffer, Runtime } from "../runtime.ts";
import { reduceGpu } from "./reduce.ts";
import { chooseTiled, TILE, tiledGrid, tiledKernelName, tiledKernelWgsl } from "./matmul_tiled.ts";

/** Slices and their length for a call on the GPU family: s = 1 (no split) unless worth it. */
export function tiledSplitK(rt: Runtime, args: MatmulArgs): { s: number; kSplit: number } {
  const { batch, m, n, k } = args;
  const { tiledWorkgroups: target, tiledSplitMinK: minK } = rt.profile;
  if (batch !== 1 || m === 0 || n === 0) return { s: 1, kSplit: k };
  const v = chooseTiled(target, args, 0, 0, false, true);
  const tiles = Math.ceil(m / v.tile) * Math.ceil(n / v.tile);
  let s = 1;
  while (tiles * s < target && k / (2 * s) >= minK) s *= 2;
  if (s === 1) return { s, kSplit: k };
  // Slices whole k-tiles long (so also multiples of 4: vec4 quads never straddle two slices);
  // the last one is shorter, and none is empty.
  const tk = TILE[v.tile].TK;
  const kSplit = tk * Math.ceil(k / s / tk);
  return { s: Math.ceil(k / kSplit), kSplit };
}

/** The kernel a split call runs (for describeMatmul). */
export function splitKVariantName(rt: Runtime, args: MatmulArgs): string {
  return tiledKernelName(chooseTiled(rt.profile.tiledWorkgroups, args, 0, 0, false, true));
}

/** C = op(A)·op(B) for one matrix (batch 1) as `s` slices of k summed in a fixed order. */
export function splitKTiled(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  split: { s: number; kSplit: number },
): GpuBuffer {
  const { m, n, k } = args;
  const { s, kSplit } = split;
  const v = chooseTiled(rt.profile.tiledWorkgroups, args, 0, 0, false, true);
  const parts = rt.alloc(4 * s * m * n);
  const [gx, gy] = tiledGrid(v, m, n);
  rt.dispatch(
    kernel(tiledKernelName(v), () => tiledKernelWgsl(v)),
    { A: a, B: b, C: parts },
    { m, n, k, aStride: 0, bStride: 0, batch0: 0, kSplit },
    [gx, gy, s],
  );
  const out = reduceGpu(rt, "sum", parts, 1, s, m * n);
  rt.release(parts);
  return out;
}
