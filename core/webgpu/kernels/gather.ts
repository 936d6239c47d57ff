/**
 * WebGPU gather along the middle axis of [outer, axis, inner] by an i32 index list, and its
 * adjoint scatterAdd (semantics of gatherCpu / scatterAddCpu in core/cpu/elementwise.ts).
 * Indices outside [0, axis) gather zeros and scatter nothing.
 *
 * scatterAdd is deterministic without float atomics: every output element sums its matching
 * dy rows in ascending j, exactly scatterAddCpu's order, so the result is bit-identical to the
 * CPU's. Small problems scan the whole index list per output element. Large ones (embedding
 * backward) first sort the positions j by index with a counting sort whose only atomics are
 * integer bucket counters; the arbitrary order the atomics leave inside a bucket is replaced
 * by each position's rank among equal indices, so only the counts (deterministic) survive.
 */
import { type Kernel, kernel } from "../kernel.ts";
import type { Bindings, Runtime, Uniforms } from "../runtime.ts";
import type { GpuBuffer } from "../runtime.ts";
import { fillGpu } from "./elementwise.ts";
import { FLAT_MAIN, invBits, UDIV, WG } from "./flat.ts";

/** How scatterAdd finds the positions of each index; the default picks by problem size. */
export type ScatterMode = "scan" | "sorted";

const CHUNK = 256; // counts per invocation in the bucket-start prefix sum

/** Elements move as u32 bits (f32 or i32 alike), four at a time when inner % 4 == 0. */
const elem = (vec4: boolean) => (vec4 ? "vec4<u32>" : "u32");
const f32t = (vec4: boolean) => (vec4 ? "vec4<f32>" : "f32");

/** Uniform header of the per-element kernels: sizes and their inverses for `udiv`. */
const HEAD = `struct U {
  n: u32, axis: u32, inner: u32, nIdx: u32, axisInv: u32, innerInv: u32, nIdxInv: u32,
}
@group(0) @binding(0) var<uniform> u: U;
${UDIV}`;
const sizes = (axis: number, inner: number, nIdx: number) => ({
  axis,
  inner,
  nIdx,
  axisInv: invBits(axis),
  innerInv: invBits(inner),
  nIdxInv: invBits(nIdx),
});

function run(rt: Runtime, k: Kernel, bufs: Bindings, count: number, uniforms: Uniforms) {
  rt.dispatch(k, bufs, { n: count, ...uniforms }, rt.grid(Math.ceil(count / WG)));
}

/** out[o, j, i] = x[o, idx[j], i] for x [outer, axis, inner] and idx i32 [nIdx]. */
export function gatherGpu(
  rt: Runtime,
  x: GpuBuffer,
  idx: GpuBuffer,
  outer: number,
  axis: number,
  inner: number,
  nIdx: number,
): GpuBuffer {
  const out = rt.alloc(outer * nIdx * inner * 4);
  const vec4 = inner % 4 === 0;
  const w = vec4 ? inner / 4 : inner;
  const count = outer * nIdx * w;
  if (count === 0) return out;
  const k = kernel(`gather${vec4 ? "4" : ""}`, () => `
${HEAD}
@group(0) @binding(1) var<storage, read> x: array<${elem(vec4)}>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<${elem(vec4)}>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  let rest = udiv(t, u.inner, u.innerInv);
  let i = t - rest * u.inner;
  let o = udiv(rest, u.nIdx, u.nIdxInv);
  let j = rest - o * u.nIdx;
  let a = idx[j];
  if (a < 0 || u32(a) >= u.axis) { y[t] = ${elem(vec4)}(0u); return; }
  y[t] = x[(o * u.axis + u32(a)) * u.inner + i];
}
`);
  run(rt, k, { x, idx, y: out }, count, sizes(axis, w, nIdx));
  return out;
}

/** Per output element: fold every j whose index matches, scanning the whole index list. */
function scanSum(vec4: boolean): Kernel {
  return kernel(`scatter_scan${vec4 ? "4" : ""}`, () => `
${HEAD}
@group(0) @binding(1) var<storage, read> dy: array<${f32t(vec4)}>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<${f32t(vec4)}>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  let rest = udiv(t, u.inner, u.innerInv);
  let i = t - rest * u.inner;
  let o = udiv(rest, u.axis, u.axisInv);
  let a = i32(rest - o * u.axis);
  var acc = ${f32t(vec4)}(0.0);
  for (var j = 0u; j < u.nIdx; j++) {
    if (idx[j] == a) { acc += dy[(o * u.nIdx + j) * u.inner + i]; }
  }
  y[t] = acc;
}
`);
}

const SORT_HEAD = `struct U { n: u32, axis: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Bucket sizes, and each position's (arbitrary) slot within its bucket. */
const COUNT = kernel("scatter_count", () =>
  `${SORT_HEAD}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> slot: array<u32>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  let a = idx[t];
  if (a < 0 || u32(a) >= u.axis) { return; }
  slot[t] = atomicAdd(&counts[a], 1u);
}
`);

/** Sum of each CHUNK of counts (pass 1 of the exclusive prefix sum). */
const CHUNK_SUMS = kernel("scatter_chunk_sums", () =>
  `${SORT_HEAD}
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  var s = 0u;
  for (var k = t * ${CHUNK}u; k < min(u.axis, (t + 1u) * ${CHUNK}u); k++) { s += counts[k]; }
  sums[t] = s;
}
`);

/** start[a] = Σ counts[<a]: each chunk adds up the chunk sums before it, then scans itself. */
const STARTS = kernel("scatter_starts", () =>
  `${SORT_HEAD}
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read> sums: array<u32>;
@group(0) @binding(3) var<storage, read_write> start: array<u32>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  var s = 0u;
  for (var c = 0u; c < t; c++) { s += sums[c]; }
  for (var k = t * ${CHUNK}u; k < min(u.axis, (t + 1u) * ${CHUNK}u); k++) {
    start[k] = s;
    s += counts[k];
  }
}
`);

const PLACE = kernel("scatter_place", () =>
  `${SORT_HEAD}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> start: array<u32>;
@group(0) @binding(3) var<storage, read> slot: array<u32>;
@group(0) @binding(4) var<storage, read_write> perm: array<u32>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  let a = idx[t];
  if (a < 0 || u32(a) >= u.axis) { return; }
  perm[start[a] + slot[t]] = t;
}
`);

/** Reorder each bucket by ascending j: j's rank is how many bucket members are smaller. */
const RANK = kernel("scatter_rank", () =>
  `${SORT_HEAD}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read> start: array<u32>;
@group(0) @binding(4) var<storage, read> perm: array<u32>;
@group(0) @binding(5) var<storage, read_write> sorted: array<u32>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  let a = idx[t];
  if (a < 0 || u32(a) >= u.axis) { return; }
  let s = start[a];
  var rank = 0u;
  for (var q = s; q < s + counts[a]; q++) { rank += select(0u, 1u, perm[q] < t); }
  sorted[s + rank] = t;
}
`);

function sortedSum(vec4: boolean): Kernel {
  return kernel(`scatter_sorted_sum${vec4 ? "4" : ""}`, () => `
${HEAD}
@group(0) @binding(1) var<storage, read> dy: array<${f32t(vec4)}>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read> start: array<u32>;
@group(0) @binding(4) var<storage, read> sorted: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<${f32t(vec4)}>;
${FLAT_MAIN}
  if (t >= u.n) { return; }
  let rest = udiv(t, u.inner, u.innerInv);
  let i = t - rest * u.inner;
  let o = udiv(rest, u.axis, u.axisInv);
  let a = rest - o * u.axis;
  let s = start[a];
  var acc = ${f32t(vec4)}(0.0);
  for (var q = s; q < s + counts[a]; q++) { acc += dy[(o * u.nIdx + sorted[q]) * u.inner + i]; }
  y[t] = acc;
}
`);
}

/**
 * out [outer, axis, inner] with out[o, a, i] = Σ_{j: idx[j] = a} dy[o, j, i], summed in
 * ascending j. `mode` forces a strategy (tests); by default the index-list scan is used while
 * its outer·axis·inner·nIdx work stays small.
 */
export function scatterAddGpu(
  rt: Runtime,
  dy: GpuBuffer,
  idx: GpuBuffer,
  outer: number,
  axis: number,
  inner: number,
  nIdx: number,
  mode?: ScatterMode,
): GpuBuffer {
  const vec4 = inner % 4 === 0;
  const w = vec4 ? inner / 4 : inner;
  const count = outer * axis * w;
  if (count === 0) return rt.alloc(outer * axis * inner * 4);
  if (nIdx === 0) return fillGpu(rt, outer * axis * inner, 0);
  const out = rt.alloc(outer * axis * inner * 4);
  mode ??= count * nIdx <= (1 << 20) ? "scan" : "sorted";
  if (mode === "scan") {
    run(rt, scanSum(vec4), { dy, idx, y: out }, count, sizes(axis, w, nIdx));
    return out;
  }
  const nChunks = Math.ceil(axis / CHUNK);
  const counts = fillGpu(rt, axis, 0); // zero bits: u32 0 too
  const slot = rt.alloc(nIdx * 4), perm = rt.alloc(nIdx * 4);
  const sums = rt.alloc(nChunks * 4), start = rt.alloc(axis * 4);
  run(rt, COUNT, { idx, counts, slot }, nIdx, { axis });
  run(rt, CHUNK_SUMS, { counts, sums }, nChunks, { axis });
  run(rt, STARTS, { counts, sums, start }, nChunks, { axis });
  run(rt, PLACE, { idx, start, slot, perm }, nIdx, { axis });
  const sorted = slot; // the slots are dead once placed
  run(rt, RANK, { idx, counts, start, perm, sorted }, nIdx, { axis });
  const y = out;
  run(rt, sortedSum(vec4), { dy, counts, start, sorted, y }, count, sizes(axis, w, nIdx));
  for (const b of [counts, perm, sums, start, slot]) rt.release(b);
  return out;
}
