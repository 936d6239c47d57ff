/**
 * What the flat (1-D indexed) kernels share: the item loop, integer division without a u32
 * divide, and the WGSL that turns a flat index into per-view element offsets (strides live in
 * uniforms, so one pipeline per rank serves every shape). Grids fold into y past the
 * per-dimension limit (`Runtime.grid`); the kernels recover the flat index from both.
 */
import type { Runtime, Uniforms } from "../runtime.ts";

/** Invocations per workgroup for the flat kernels. */
export const WG = 64;
/** Highest rank the strided kernels take after coalescing; more is split on the host. */
export const MAX_RANK = 6;

/**
 * Items (vec4s) per invocation in the vectorised elementwise kernels. How an invocation's items
 * are laid out is the profile's `consecutiveItems`; `loopStrides` gives the two layouts as
 * uniforms, so one pipeline serves both.
 */
export const PER = 4;

/** Uniforms `ls` (lane stride) and `is` (item stride) of `loopMain` for this runtime. */
export function loopStrides(rt: Runtime): { ls: number; is: number } {
  return rt.profile.consecutiveItems ? { ls: PER, is: 1 } : { ls: 1, is: WG };
}

/** Workgroups (folded) for a `loopMain` kernel over `items` items. */
export function loopGrid(rt: Runtime, items: number): [number, number] {
  return rt.grid(Math.ceil(items / (WG * PER)));
}

/**
 * Entry point running `body` for t = each of PER items of this invocation, below u.n4
 * (a count of items: vec4s or elements). The uniform struct must start with fields
 * `n4: u32, ls: u32, is: u32` (count, `loopStrides`).
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

/** Entry-point parameters and the flat invocation index `t` for a grid from `Runtime.grid`. */
export const FLAT_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * ${WG}u;`;

/**
 * WGSL ⌊n / d⌋ without integer division, which llvmpipe runs lane by lane (~20 cycles each,
 * doubling the cost of a broadcast add): an f32 estimate from the host's 1/d (`invBits`), one
 * refinement through the exact remainder, then a ±1 fix. Exact for all u32 n and d < 2^24.
 * The estimate is clamped below 2^32: converting a larger float to u32 is undefined in GLSL and
 * gave 4294967295 for ⌊4294967294 / 1⌋ on Mesa's OpenGL llvmpipe (WGSL itself clamps).
 */
export const UDIV = `
fn udiv(n: u32, d: u32, invBits: u32) -> u32 {
  let inv = bitcast<f32>(invBits);
  var q = u32(min(f32(n) * inv, 4294967040.0));
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

/**
 * Uniform values named as in `stridedFields`. Negative strides wrap in u32 and still work.
 * Axis 0 is never divided by (and may exceed udiv's range).
 */
export function stridedUniforms(
  views: readonly string[],
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
): Uniforms {
  const u: Record<string, number> = {};
  views.forEach((v, k) => {
    u[`${v}Off`] = offsets[k];
    strides[k].forEach((s, d) => u[`${v}${d}`] = s);
  });
  shape.forEach((s, d) => {
    u[`s${d}`] = s;
    u[`si${d}`] = d ? invBits(s) : 0;
  });
  return u;
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
