/**
 * WebGPU strided copy (semantics of copyCpu in core/cpu/elementwise.ts): dst[view_dst(i)] =
 * src[view_src(i)] over a shape, in place in dst. It serves transpose/permute, slice, concat,
 * pad and broadcast materialisation. Data moves as u32 bits, so f32 and i32 copy bit-exactly.
 *
 * This file also holds the helpers every kernel here shares: the folded dispatch grid and the
 * WGSL that turns a flat index into per-view element offsets (strides live in uniforms, so one
 * pipeline per rank serves every shape).
 */
import type { View } from "../../backend.ts";
import { coalesce, sizeOf, stridesOf } from "../../shape.ts";
import type { GpuBuffer, Kernel, Runtime } from "../runtime.ts";

/** Invocations per workgroup for the flat (1-D indexed) kernels. */
export const WG = 64;
/** Highest rank the strided kernels take after coalescing; more is split on the host. */
export const MAX_RANK = 6;

/** Workgroups for `groups`, folded into y past the per-dimension limit (65535). */
export function dispatchGrid(rt: Runtime, groups: number): [number, number] {
  const max = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.max(1, Math.min(groups, max));
  return [x, Math.ceil(groups / x)];
}

/**
 * Items (vec4s) per invocation in the vectorised elementwise kernels. llvmpipe runs about 1.5×
 * faster with several consecutive items per invocation than with one (fewer workgroups, whose
 * scheduling and per-lane address set-up dominate); real GPUs want the items interleaved across
 * the workgroup instead (coalesced). `loopStrides` gives the two layouts as uniforms, so one
 * pipeline serves both.
 */
export const PER = 4;

/** [lane stride, item stride] of the item loop in `loopMain` for this device. */
export function loopStrides(rt: Runtime): [number, number] {
  return rt.ctx.isSoftware ? [PER, 1] : [1, WG];
}

/**
 * Entry point running `body` for t = each of PER items of this invocation, below u.n4
 * (a count of items: vec4s or elements). The
 * uniform struct must start with fields `n4: u32, ls: u32, is: u32` (count, `loopStrides`).
 */
export function loopMain(body: string): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let base = (wid.x + wid.y * nwg.x) * ${WG * PER}u + lid * u.ls;
  for (var k = 0u; k < ${PER}u; k++) {
    let t = base + k * u.is;
    if (t >= u.n4) { return; }
${body}
  }
}`;
}

/** Entry-point parameters and the flat invocation index `t` matching `dispatchGrid`. */
export const FLAT_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * ${WG}u;`;

/**
 * WGSL ⌊n / d⌋ without integer division, which llvmpipe runs lane by lane (~20 cycles each,
 * doubling the cost of a broadcast add): an f32 estimate from the host's 1/d (`invBits`), one
 * refinement through the exact remainder, then a ±1 fix. Exact for all u32 n and d < 2^24.
 */
export const UDIV = `
fn udiv(n: u32, d: u32, invBits: u32) -> u32 {
  let inv = bitcast<f32>(invBits);
  var q = u32(f32(n) * inv);
  q = u32(i32(q) + i32(floor(f32(i32(n - q * d)) * inv)));
  let r = i32(n - q * d);
  q = select(q, q - 1u, r < 0);
  return select(q, q + 1u, r >= i32(d));
}
`;

/** Divisors `udiv` supports: below 2^24. */
export const UDIV_MAX = 1 << 24;

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);
/** The bits of f32(1/d), passed as a u32 uniform for `udiv`. */
export function invBits(d: number): number {
  if (d >= UDIV_MAX) throw new Error(`udiv: divisor ${d} is not below 2^24`);
  f32Bits[0] = 1 / Math.max(d, 1);
  return u32Bits[0];
}

/**
 * Uniform fields for a rank-`rank` shape read through `views`: offsets, sizes, inverse sizes
 * (for `udiv`), then strides.
 */
export function stridedFields(rank: number, views: readonly string[]): string {
  const f = views.map((v) => `${v}Off: u32`);
  for (let d = 0; d < rank; d++) f.push(`s${d}: u32`, `si${d}: u32`);
  for (const v of views) for (let d = 0; d < rank; d++) f.push(`${v}${d}: u32`);
  return f.join(", ");
}

/** Uniform values in the order of `stridedFields`. Negative strides wrap in u32 and still work. */
export function stridedUniforms(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
): number[] {
  // Axis 0 is never divided by (and may exceed udiv's range).
  return [...offsets, ...shape.flatMap((s, d) => [s, d ? invBits(s) : 0]), ...strides.flat()];
}

/**
 * WGSL computing `o_<view>` (element offset in each view) for the flat row-major index `t`:
 * one `udiv` per axis but the outermost (the kernel must include UDIV).
 */
export function stridedOffsets(rank: number, views: readonly string[]): string {
  const lines = views.map((v) => `    var o_${v} = u.${v}Off;`);
  lines.push("    var rem = t;");
  for (let d = rank - 1; d >= 1; d--) {
    lines.push(
      `    let q${d} = udiv(rem, u.s${d}, u.si${d});`,
      `    let i${d} = rem - q${d} * u.s${d};`,
      `    rem = q${d};`,
    );
    for (const v of views) lines.push(`    o_${v} += i${d} * u.${v}${d};`);
  }
  for (const v of views) lines.push(`    o_${v} += rem * u.${v}0;`);
  return lines.join("\n");
}

/**
 * Call fn on blocks of rank <= MAX_RANK whose inner axes are below 2^24 (udiv's range): leading
 * axes beyond that are looped over on the host, each iteration shifting the view offsets (rare:
 * needs more than 6 unmergeable axes, or an unmergeable inner axis of 16M elements).
 */
export function forEachBlock(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  fn: (shape: number[], strides: number[][], offsets: number[]) => void,
): void {
  if (shape.length <= MAX_RANK && shape.every((s, d) => d === 0 || s < UDIV_MAX)) {
    fn([...shape], strides.map((s) => [...s]), [...offsets]);
    return;
  }
  for (let i = 0; i < shape[0]; i++) {
    forEachBlock(
      shape.slice(1),
      strides.map((s) => s.slice(1)),
      offsets.map((o, k) => o + i * strides[k][0]),
      fn,
    );
  }
}

const copyKernels = new Map<string, Kernel>();

/** One pipeline per (rank, element width): u32 per element or vec4<u32> per 4 elements. */
function copyKernel(rank: number, vec4: boolean): Kernel {
  const name = `copy${vec4 ? "4" : ""}_r${rank}`;
  let k = copyKernels.get(name);
  if (!k) {
    const ty = vec4 ? "vec4<u32>" : "u32";
    k = {
      name,
      wgsl: `
struct U { n4: u32, ls: u32, is: u32, ${stridedFields(rank, ["src", "dst"])} }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<${ty}>;
@group(0) @binding(2) var<storage, read_write> dst: array<${ty}>;
${UDIV}
${loopMain(`${stridedOffsets(rank, ["src", "dst"])}\n    dst[o_dst] = src[o_src];`)}
`,
    };
    copyKernels.set(name, k);
  }
  return k;
}

/**
 * Whether the innermost axis is a contiguous run of whole vec4s in every view (so the copy can
 * move 16 bytes per element): last stride 1 everywhere, last size, other strides and offsets
 * multiples of 4.
 */
export function vec4Able(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
): boolean {
  const r = shape.length;
  return shape[r - 1] % 4 === 0 &&
    strides.every((s) => s[r - 1] === 1 && s.slice(0, r - 1).every((v) => v % 4 === 0)) &&
    offsets.every((o) => o % 4 === 0);
}

/** The same copy expressed in vec4 elements (requires `vec4Able`). */
export function toVec4(shape: number[], strides: number[][], offsets: number[]) {
  const r = shape.length;
  return {
    shape: shape.map((s, d) => (d === r - 1 ? s / 4 : s)),
    strides: strides.map((st) => st.map((v, d) => (d === r - 1 ? 1 : v / 4))),
    offsets: offsets.map((o) => o / 4),
  };
}

/**
 * dst[dv(i)] = src[sv(i)] over `shape`, recorded in place into dst (f32 or i32 alike, bit-exact).
 * A fully contiguous copy becomes copyBufferToBuffer; otherwise one strided kernel per block.
 */
export function copyGpu(
  rt: Runtime,
  src: GpuBuffer,
  sv: View,
  dst: GpuBuffer,
  dv: View,
  shape: readonly number[],
): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  if (src === dst) {
    // A buffer cannot be bound read and read-write in one dispatch: go through a temporary.
    const tmp = rt.alloc(n * 4);
    const contiguous = { offset: 0, strides: stridesOf(shape) };
    copyGpu(rt, src, sv, tmp, contiguous, shape);
    copyGpu(rt, tmp, contiguous, dst, dv, shape);
    rt.release(tmp);
    return;
  }
  const c = coalesce(shape, [[...sv.strides], [...dv.strides]]);
  if (c.shape.length === 1 && (n === 1 || c.strides.every((s) => s[0] === 1))) {
    rt.copyBuffer(src, sv.offset * 4, dst, dv.offset * 4, n * 4);
    return;
  }
  if (transposeBlocks(rt, src, dst, c.shape, c.strides, [sv.offset, dv.offset])) return;
  forEachBlock(c.shape, c.strides, [sv.offset, dv.offset], (bs, bst, boff) => {
    const vec4 = vec4Able(bs, bst, boff);
    const v = vec4 ? toVec4(bs, bst, boff) : { shape: bs, strides: bst, offsets: boff };
    const count = sizeOf(v.shape);
    rt.dispatch(
      copyKernel(v.shape.length, vec4),
      [src, dst],
      [count, ...loopStrides(rt), ...stridedUniforms(v.shape, v.strides, v.offsets)],
      dispatchGrid(rt, Math.ceil(count / (WG * PER))),
    );
  });
}

/**
 * A (batched) transpose, dst[b, r, c] = src[b·sb + r + c·ls] with dst contiguous in c, moved as
 * 4×4 blocks: four vec4 loads down src's contiguous r and four vec4 stores along dst's rows.
 * The generic kernel moves one scalar per element with four divisions; this runs ~5x faster
 * on llvmpipe (the weight gradient's materialised Aᵀ, matmul.ts).
 */
const TRANSPOSE: Kernel = {
  name: "transpose4x4",
  wgsl: `
struct U { n4: u32, ls: u32, is: u32, c4: u32, c4i: u32, rc4: u32, rc4i: u32,
           srcOff: u32, srcB: u32, srcLs: u32, dstOff: u32, dstB: u32, dstLd: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;
${UDIV}
${
    loopMain(`    let b = udiv(t, u.rc4, u.rc4i);
    let rc = t - b * u.rc4;
    let r4 = udiv(rc, u.c4, u.c4i);
    let c4 = rc - r4 * u.c4;
    // vec4 indices; srcLs and dstLd are row strides in vec4s, srcB / dstB batch strides
    let s = u.srcOff + b * u.srcB + r4 + 4u * c4 * u.srcLs;
    let v0 = src[s];
    let v1 = src[s + u.srcLs];
    let v2 = src[s + 2u * u.srcLs];
    let v3 = src[s + 3u * u.srcLs];
    let d = u.dstOff + b * u.dstB + 4u * r4 * u.dstLd + c4;
    dst[d] = vec4<u32>(v0.x, v1.x, v2.x, v3.x);
    dst[d + u.dstLd] = vec4<u32>(v0.y, v1.y, v2.y, v3.y);
    dst[d + 2u * u.dstLd] = vec4<u32>(v0.z, v1.z, v2.z, v3.z);
    dst[d + 3u * u.dstLd] = vec4<u32>(v0.w, v1.w, v2.w, v3.w);`)
  }
`,
};

/** Runs `TRANSPOSE` when the coalesced copy is one (all sizes and strides in whole vec4s). */
function transposeBlocks(
  rt: Runtime,
  src: GpuBuffer,
  dst: GpuBuffer,
  shape: readonly number[],
  [ss, ds]: readonly (readonly number[])[],
  [so, dOff]: readonly number[],
): boolean {
  const rank = shape.length;
  if (rank < 2 || rank > 3) return false;
  const [R, C] = shape.slice(-2);
  const [sr, sc] = ss.slice(-2);
  const [dr, dc] = ds.slice(-2);
  const nb = rank === 3 ? shape[0] : 1;
  const [sb, db] = rank === 3 ? [ss[0], ds[0]] : [0, 0];
  const all4 = [R, C, sc, dr, sb, db, so, dOff].every((v) => v % 4 === 0);
  const rc4 = (R / 4) * (C / 4);
  if (sr !== 1 || dc !== 1 || !all4 || rc4 >= UDIV_MAX || nb * rc4 >= 2 ** 32) return false;
  const count = nb * rc4;
  rt.dispatch(
    TRANSPOSE,
    [src, dst],
    [
      count,
      ...loopStrides(rt),
      C / 4,
      invBits(C / 4),
      rc4,
      invBits(rc4),
      so / 4,
      sb / 4,
      sc / 4,
      dOff / 4,
      db / 4,
      dr / 4,
    ],
    dispatchGrid(rt, Math.ceil(count / (WG * PER))),
  );
  return true;
}
