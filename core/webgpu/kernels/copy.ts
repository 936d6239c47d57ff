/**
 * WebGPU strided copy (semantics of copyCpu in core/cpu/elementwise.ts): dst[view_dst(i)] =
 * src[view_src(i)] over a shape, in place in dst. It serves transpose/permute, slice, concat,
 * pad and broadcast materialisation. Data moves as u32 bits, so f32 and i32 copy bit-exactly.
 */
import type { View } from "../../backend.ts";
import { coalesce, sizeOf, stridesOf } from "../../shape.ts";
import { type Kernel, kernel } from "../kernel.ts";
import type { GpuBuffer, Runtime } from "../runtime.ts";
import {
  forEachBlock,
  invBits,
  loopGrid,
  loopMain,
  loopStrides,
  stridedFields,
  stridedOffsets,
  stridedUniforms,
  UDIV,
  UDIV_MAX,
} from "./flat.ts";

/** One pipeline per (rank, element width): u32 per element or vec4<u32> per 4 elements. */
function copyKernel(rank: number, vec4: boolean): Kernel {
  const ty = vec4 ? "vec4<u32>" : "u32";
  return kernel(`copy${vec4 ? "4" : ""}_r${rank}`, () => `
struct U { n4: u32, ls: u32, is: u32, ${stridedFields(rank, ["src", "dst"])} }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<${ty}>;
@group(0) @binding(2) var<storage, read_write> dst: array<${ty}>;
${UDIV}
${loopMain(`${stridedOffsets(rank, ["src", "dst"])}\n    dst[o_dst] = src[o_src];`)}
`);
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
  if (src.buffer === dst.buffer) {
    // A buffer (or two parts of one) cannot be bound read and read-write in one dispatch: go
    // through a temporary.
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
    rt.dispatch(copyKernel(v.shape.length, vec4), { src, dst }, {
      n4: count,
      ...loopStrides(rt),
      ...stridedUniforms(["src", "dst"], v.shape, v.strides, v.offsets),
    }, loopGrid(rt, count));
  });
}

/**
 * A (batched) transpose, dst[b, r, c] = src[b·sb + r + c·ls] with dst contiguous in c, moved as
 * 4×4 blocks: four vec4 loads down src's contiguous r and four vec4 stores along dst's rows.
 * The generic kernel moves one scalar per element with four divisions; this runs ~5x faster
 * on llvmpipe (the weight gradient's materialised Aᵀ, matmul.ts).
 */
const TRANSPOSE: Kernel = kernel("transpose4x4", () => `
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
`);

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
  rt.dispatch(TRANSPOSE, { src, dst }, {
    n4: count,
    ...loopStrides(rt),
    c4: C / 4,
    c4i: invBits(C / 4),
    rc4,
    rc4i: invBits(rc4),
    srcOff: so / 4,
    srcB: sb / 4,
    srcLs: sc / 4,
    dstOff: dOff / 4,
    dstB: db / 4,
    dstLd: dr / 4,
  }, loopGrid(rt, count));
  return true;
}
