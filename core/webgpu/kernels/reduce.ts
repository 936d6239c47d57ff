/**
 * WebGPU sum/max over the middle axis of [outer, r, inner] (semantics of reduceCpu in
 * core/cpu/elementwise.ts), deterministic: every output is a fixed-order fold, never atomics.
 *
 * One kernel shape serves both cases that matter. Each invocation folds a chunk of r serially
 * for one (outer, part, inner) cell, invocations running along inner (adjacent addresses); when
 * that leaves too few invocations to fill the device, r is split into parts and the [outer,
 * parts, inner] partials are reduced again by the same kernel. No workgroup memory or barriers:
 * on llvmpipe each barrier is a coroutine switch, and the second pass costs one dispatch.
 * - large inner (bias gradients, 17920 rows × 128 columns): vec4 lanes along inner, a few
 *   parts of a few thousand rows each, then a short second pass;
 * - inner = 1 with large r (loss sums): rows are read as vec4 when r % 4 == 0 (four interleaved
 *   folds per invocation), r is split into parts, and the 4·parts partials are folded again.
 */
import { type Kernel, kernel } from "../kernel.ts";
import type { GpuBuffer, Runtime } from "../runtime.ts";
import { fillGpu } from "./elementwise.ts";
import { FLAT_MAIN, WG } from "./flat.ts";

function reduceKernel(op: "sum" | "max", vec4: boolean): Kernel {
  const ty = vec4 ? "vec4<f32>" : "f32";
  // max starts from −∞ passed as a uniform (a constant −∞ is not valid WGSL) and skips NaN,
  // as reduceCpu's `v > acc` does.
  const fold = op === "sum" ? "acc + v" : "select(acc, v, v > acc)";
  return kernel(`reduce_${op}${vec4 ? "4" : ""}`, () => `
struct U { n: u32, r: u32, inner: u32, chunk: u32, parts: u32, init: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<${ty}>;
@group(0) @binding(2) var<storage, read_write> y: array<${ty}>;

${FLAT_MAIN}
  if (t >= u.n) { return; }
  let i = t % u.inner;
  let rest = t / u.inner;
  let p = rest % u.parts;
  let o = rest / u.parts;
  let j0 = p * u.chunk;
  let j1 = min(u.r, j0 + u.chunk);
  var acc = ${ty}(u.init);
  var k = (o * u.r + j0) * u.inner + i;
  for (var j = j0; j < j1; j++) {
    let v = x[k];
    acc = ${fold};
    k += u.inner;
  }
  y[t] = acc;
}
`);
}

/**
 * Longest chunk one invocation folds. Mesa's llvmpipe ends every shader loop after 65,535
 * iterations without an error (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS): a one-pass sum of
 * 262,145 ones gave 65,535, and the mean of a cross-entropy over 8 × 767 × 100 logits was
 * silently too small. Longer r is split into more parts instead.
 */
const MAX_CHUNK = 1 << 14;

/**
 * How many parts to split r into: enough invocations to fill the device (fewer on llvmpipe,
 * whose two cores are saturated by a few workgroups), but chunks no shorter than the profile's
 * minimum.
 */
function partsFor(rt: Runtime, cells: number, r: number): number {
  const want = Math.ceil(rt.profile.reduceTarget / cells);
  return Math.max(1, Math.min(want, Math.floor(r / rt.profile.reduceMinChunk)));
}

/**
 * Reduce the middle axis of x [outer, r, inner] to [outer, inner] (sum, or max ignoring NaN),
 * into a new buffer or, with `into` (r ≥ 1), into that one (returned).
 */
export function reduceGpu(
  rt: Runtime,
  op: "sum" | "max",
  x: GpuBuffer,
  outer: number,
  r: number,
  inner: number,
  into?: GpuBuffer,
): GpuBuffer {
  const nOut = outer * inner;
  if (nOut === 0) return rt.alloc(0);
  if (r === 0) return fillGpu(rt, nOut, op === "sum" ? 0 : -Infinity);
  if (r === 1) {
    const out = into ?? rt.alloc(nOut * 4);
    rt.copyBuffer(x, 0, out, 0, nOut * 4);
    return out;
  }
  const init = op === "sum" ? 0 : -Infinity;
  // Vec4 lanes: along inner, or along r for long row reductions (four interleaved folds; the
  // length floor keeps the 4 leftover lanes from recursing forever).
  const rowVec = inner === 1 && r % 4 === 0 && r >= 32;
  const vec4 = inner % 4 === 0 || rowVec;
  const lanes = rowVec ? r / 4 : r;
  const inner4 = vec4 && !rowVec ? inner / 4 : inner;
  const onePass = outer * r * inner <= rt.profile.reduceOnePass;
  const fill = onePass ? 1 : partsFor(rt, outer * inner4, lanes);
  const parts = Math.max(fill, Math.ceil(lanes / MAX_CHUNK));
  const chunk = Math.ceil(lanes / parts);
  const nParts = Math.ceil(lanes / chunk);
  const cells = outer * nParts * inner4;
  // What is left to fold: parts (and the 4 interleaved lanes of a row reduction).
  const left = rowVec ? nParts * 4 : nParts;
  const out = left === 1 && into ? into : rt.alloc(cells * (vec4 ? 16 : 4));
  rt.dispatch(reduceKernel(op, vec4), { x, y: out }, {
    n: cells,
    r: lanes,
    inner: inner4,
    chunk,
    parts: nParts,
    init,
  }, rt.grid(Math.ceil(cells / WG)));
  if (left === 1) return out;
  const res = reduceGpu(rt, op, out, outer, left, inner, into);
  rt.release(out);
  return res;
}
