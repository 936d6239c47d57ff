/**
 * WebGPU elementwise kernels: fill, unary ops and their fused derivatives, binary ops over
 * strided/broadcast views, and affine (a·x + b). Semantics are those of core/cpu/elementwise.ts.
 *
 * On llvmpipe these are bandwidth- and dispatch-bound, so data moves as vec4s, PER of them per
 * invocation (`loopMain` in copy.ts). Pool buffers are whole multiples of 16 bytes (runtime.ts
 * size classes), so the last partial vec4 of an n-element buffer is still inside the
 * allocation: its junk lanes are computed and written past n, where nobody reads.
 */
import type { BinaryOp, UnaryOp, View } from "../../backend.ts";
import { coalesce, sizeOf, stridesOf } from "../../shape.ts";
import type { GpuBuffer, Kernel, Runtime } from "../runtime.ts";
import {
  dispatchGrid,
  forEachBlock,
  invBits,
  loopMain,
  loopStrides,
  PER,
  stridedFields,
  stridedOffsets,
  stridedUniforms,
  UDIV,
  UDIV_MAX,
  WG,
} from "./copy.ts";

/**
 * Scalar helpers shared by the unary and binary kernels, written for stability rather than
 * taken from the builtins: tanh via exp(−2|x|) (builtin tanh may overflow to NaN on some
 * drivers) with a series near 0, log1p with a series for tiny arguments, and pow with Math.pow's
 * sign rules for negative bases (WGSL's pow is undefined there).
 */
export const MATH = `
const K_GELU: f32 = 0.7978845608028654;
const C_GELU: f32 = 0.044715;
// Branch-free (selects): lanes run in SIMD on llvmpipe, where a divergent branch runs both.
fn sigm(x: f32) -> f32 {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, x >= 0.0);
}
fn tanh_(x: f32) -> f32 {
  let x2 = x * x;
  let series = x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 +
    x2 * -0.05396825396825397)));
  let e = exp(-2.0 * abs(x));
  let r = (1.0 - e) / (1.0 + e);
  return select(select(-r, r, x >= 0.0), series, abs(x) < 0.125);
}
// log(1 + e) for e >= 0; the quotient corrects the rounding of 1 + e (Goldberg).
fn log1p_(e: f32) -> f32 {
  let v = 1.0 + e;
  return select(log(v) * (e / (v - 1.0)), e * (1.0 - e * (0.5 - e * 0.3333333333333333)),
    e < 1e-4);
}
fn softplus_(x: f32) -> f32 {
  return select(log1p_(exp(x)), x, x > 20.0);
}
// 0.5·x·(1 + tanh z) = x·σ(2z): no cancellation for negative x.
fn gelu_(x: f32) -> f32 {
  return x * sigm(2.0 * K_GELU * (x + C_GELU * x * x * x));
}
fn gelu_d(x: f32) -> f32 {
  let s = sigm(2.0 * K_GELU * (x + C_GELU * x * x * x));
  return s + 2.0 * x * s * (1.0 - s) * K_GELU * (1.0 + 3.0 * C_GELU * x * x);
}
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  if (b == -1.0) { return 1.0 / a; }
  let isInt = b == floor(b);
  let odd = isInt && floor(b * 0.5) != b * 0.5;
  if (a == 0.0) {
    if (b > 0.0) { return select(0.0, a, odd); }
    return select(1.0 / (a * a), 1.0 / a, odd);
  }
  if (a < 0.0) {
    // NaN built at run time: a constant NaN is a shader-creation error in some WGSL compilers.
    if (!isInt) { return bitcast<f32>(0x7fc00000u | (bitcast<u32>(b) & 0u)); }
    let r = pow(-a, b);
    return select(r, -r, odd);
  }
  return pow(a, b);
}
`;

/** WGSL scalar expressions in x: [f(x), f'(x)], mirroring unaryFn / unaryDerivFn. */
export const UNARY: Record<UnaryOp, [string, string]> = {
  neg: ["-x", "-1.0"],
  exp: ["exp(x)", "exp(x)"],
  log: ["log(x)", "1.0 / x"],
  sqrt: ["sqrt(x)", "0.5 / sqrt(x)"],
  rsqrt: ["1.0 / sqrt(x)", "-0.5 / (x * sqrt(x))"],
  abs: ["abs(x)", "select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0)"],
  square: ["x * x", "2.0 * x"],
  reciprocal: ["1.0 / x", "-1.0 / (x * x)"],
  tanh: ["tanh_(x)", "1.0 - tanh_(x) * tanh_(x)"],
  sigmoid: ["sigm(x)", "sigm(x) * (1.0 - sigm(x))"],
  relu: ["select(0.0, x, x > 0.0)", "select(0.0, 1.0, x > 0.0)"],
  gelu: ["gelu_(x)", "gelu_d(x)"],
  silu: ["x * sigm(x)", "sigm(x) * (1.0 + x * (1.0 - sigm(x)))"],
  softplus: ["softplus_(x)", "select(sigm(x), 1.0, x > 20.0)"],
  sign: ["select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0)", "0.0"],
  step: ["select(0.0, 1.0, x > 0.0)", "0.0"],
  cos: ["cos(x)", "-sin(x)"],
  sin: ["sin(x)", "cos(x)"],
};

/** WGSL scalar expressions in a, b, mirroring binaryFn (ties of max/min pick a). */
const BINARY: Record<BinaryOp, string> = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  max: "select(b, a, a >= b)",
  min: "select(b, a, a <= b)",
  pow: "pow_(a, b)",
  gt: "select(0.0, 1.0, a > b)",
  ge: "select(0.0, 1.0, a >= b)",
  lt: "select(0.0, 1.0, a < b)",
  eq: "select(0.0, 1.0, a == b)",
};

const kernels = new Map<string, Kernel>();
function kernel(name: string, make: () => string): Kernel {
  let k = kernels.get(name);
  if (!k) kernels.set(name, k = { name, wgsl: make() });
  return k;
}

const map4 = (f: string, v: string) =>
  `vec4(${f}(${v}.x), ${f}(${v}.y), ${f}(${v}.z), ${f}(${v}.w))`;
const map4b = (f: string, a: string, b: string) =>
  `vec4(${f}(${a}.x, ${b}.x), ${f}(${a}.y, ${b}.y), ${f}(${a}.z, ${b}.z), ${f}(${a}.w, ${b}.w))`;

/** Record a `loopMain` kernel over ceil(n/4) vec4s; `padded` must hold all of them. */
function dispatch4(
  rt: Runtime,
  k: Kernel,
  bufs: GpuBuffer[],
  n: number,
  uniforms: number[],
  mask = 0,
  padded = bufs,
) {
  const n4 = Math.ceil(n / 4);
  for (const b of padded) {
    if (b.bytes < n4 * 16) throw new Error(`${k.name}: buffer of ${b.bytes} B is not vec4-padded`);
  }
  const grid = dispatchGrid(rt, Math.ceil(n4 / (WG * PER)));
  rt.dispatch(k, bufs, [n4, ...loopStrides(rt), ...uniforms], grid, mask << 3);
}

/** A new buffer of n copies of `value` (any f32, NaN and ±Infinity included). */
export function fillGpu(rt: Runtime, n: number, value: number): GpuBuffer {
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const k = kernel("ew_fill", () => `
struct U { n4: u32, ls: u32, is: u32, value: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
${loopMain("    y[t] = vec4(u.value);")}
`);
  dispatch4(rt, k, [out], n, [value], 0b1);
  return out;
}

/** y = f(x) for one unary op over n elements. */
export function unaryGpu(rt: Runtime, op: UnaryOp, x: GpuBuffer, n: number): GpuBuffer {
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const k = kernel(`ew_unary_${op}`, () => `
struct U { n4: u32, ls: u32, is: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
${MATH}
fn f(x: f32) -> f32 { return ${UNARY[op][0]}; }
${loopMain(`    let v = x[t];\n    y[t] = ${map4("f", "v")};`)}
`);
  dispatch4(rt, k, [x, out], n, []);
  return out;
}

/** dx = dy · f'(x) for one unary op, in one kernel. */
export function unaryGradGpu(
  rt: Runtime,
  op: UnaryOp,
  x: GpuBuffer,
  dy: GpuBuffer,
  n: number,
): GpuBuffer {
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const k = kernel(`ew_unary_grad_${op}`, () => `
struct U { n4: u32, ls: u32, is: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;
${MATH}
fn d(x: f32) -> f32 { return ${UNARY[op][1]}; }
${loopMain(`    let v = x[t];\n    dx[t] = dy[t] * ${map4("d", "v")};`)}
`);
  dispatch4(rt, k, [x, dy, out], n, []);
  return out;
}

/** y = a·x + b with scalar a, b (rounded to f32; one fma). */
export function affineGpu(rt: Runtime, x: GpuBuffer, n: number, a: number, b: number): GpuBuffer {
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const k = kernel("ew_affine", () => `
struct U { n4: u32, ls: u32, is: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
${loopMain("    y[t] = fma(vec4(u.a), x[t], vec4(u.b));")}
`);
  dispatch4(rt, k, [x, out], n, [a, b], 0b11);
  return out;
}

/**
 * The fast binary kernel: a [rows, cols] grid (cols a multiple of 4, or rows = 1) where each
 * operand is read with a row stride and a column stride of 1 ("v": vec4 loads) or 0 ("s": one
 * scalar splat). It covers same-shape operands, scalars, row broadcasts (bias adds) and column
 * broadcasts (per-row scales) after coalescing. The modes are compiled in, not branched on.
 * On llvmpipe (`seq`) an invocation's PER consecutive items share one division: the (row,
 * column) pair is carried forward, which saves about a third of the kernel's time.
 */
function binary2dKernel(op: BinaryOp, modes: string, seq: boolean): Kernel {
  const load = (v: string, mode: string) =>
    mode === "v"
      ? `${v}[(u.${v}Off + r * u.${v}R) / 4u + q]`
      : `vec4(${v}[(u.${v}Off + r * u.${v}R) / 4u][(u.${v}Off + r * u.${v}R) % 4u])`;
  const body = `    let va = ${load("a", modes[0])};
    let vb = ${load("b", modes[1])};
    y[t] = ${map4b("f", "va", "vb")};`;
  const main = seq
    ? `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let base = (wid.x + wid.y * nwg.x) * ${WG * PER}u + lid * ${PER}u;
  if (base >= u.n4) { return; }
  var r = udiv(base, u.c4, u.c4inv);
  var q = base - r * u.c4;
  for (var t = base; t < min(base + ${PER}u, u.n4); t++) {
${body}
    q += 1u;
    let wrap = q == u.c4;
    q = select(q, 0u, wrap);
    r = select(r, r + 1u, wrap);
  }
}`
    : loopMain(`    let r = udiv(t, u.c4, u.c4inv);\n    let q = t - r * u.c4;\n${body}`);
  return kernel(`ew_binary2d_${op}_${modes}${seq ? "_seq" : ""}`, () => `
struct U { n4: u32, ls: u32, is: u32, c4: u32, c4inv: u32, aOff: u32, aR: u32, bOff: u32, bR: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
${MATH}
${UDIV}
fn f(a: f32, b: f32) -> f32 { return ${BINARY[op]}; }
${main}
`);
}

/** The general binary kernel: one element per item, strides of rank `rank`. */
function binaryStridedKernel(op: BinaryOp, rank: number): Kernel {
  return kernel(`ew_binary_${op}_r${rank}`, () => `
struct U { n4: u32, ls: u32, is: u32, yOff: u32, ${stridedFields(rank, ["a", "b"])} }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${MATH}
${UDIV}
fn f(a: f32, b: f32) -> f32 { return ${BINARY[op]}; }
${loopMain(`${stridedOffsets(rank, ["a", "b"])}\n    y[u.yOff + t] = f(a[o_a], b[o_b]);`)}
`);
}

/**
 * The 2-D vec4 layout of a coalesced binary, or null: per operand [offset, rowStride, colStride]
 * with colStride 0 or 1, and vec4-aligned rows wherever colStride is 1.
 */
function plan2d(
  shape: number[],
  strides: number[][],
  offsets: number[],
  bufs: GpuBuffer[],
): { rows: number; cols: number; ops: number[][] } | null {
  if (shape.length > 2) return null;
  const rows = shape.length === 2 ? shape[0] : 1, cols = shape[shape.length - 1];
  if (rows > 1 && cols % 4 !== 0) return null;
  const ops: number[][] = [];
  for (let k = 0; k < 2; k++) {
    const st = strides[k], rs = shape.length === 2 ? st[0] : 0, cs = st[st.length - 1];
    if (cs !== 0 && cs !== 1) return null;
    if (cs === 1) {
      if (offsets[k] % 4 !== 0 || rs % 4 !== 0) return null;
      // rows = 1 reads the whole last vec4, which must lie inside the buffer.
      const end = offsets[k] + (rows - 1) * rs + Math.ceil(cols / 4) * 4;
      if (end * 4 > bufs[k].bytes) return null;
    }
    ops.push([offsets[k], rs, cs]);
  }
  return { rows, cols, ops };
}

/**
 * out[i] = a[av(i)] op b[bv(i)] over `shape`, out contiguous. Views broadcast with stride 0;
 * axes are coalesced first, then the 2-D vec4 kernel runs when it applies, else the strided one.
 */
export function binaryGpu(
  rt: Runtime,
  op: BinaryOp,
  a: GpuBuffer,
  av: View,
  b: GpuBuffer,
  bv: View,
  shape: readonly number[],
): GpuBuffer {
  const n = sizeOf(shape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const c = coalesce(shape, [[...av.strides], [...bv.strides], stridesOf(shape)]);
  const offsets = [av.offset, bv.offset];
  const p = plan2d(c.shape, c.strides, offsets, [a, b]);
  if (p) {
    let c4 = Math.ceil(p.cols / 4);
    const n4 = p.rows * c4;
    if (p.rows === 1 && c4 >= UDIV_MAX) {
      // Past udiv's range: view the single row as rows of 2^20 vec4s instead.
      c4 = UDIV_MAX >> 4;
      for (const o of p.ops) o[1] = o[2] * 4 * c4;
    }
    const modes = p.ops.map(([, , cs]) => (cs === 1 ? "v" : "s")).join("");
    const uniforms = [c4, invBits(c4), ...p.ops.flatMap(([off, rs]) => [off, rs])];
    dispatch4(
      rt,
      binary2dKernel(op, modes, rt.ctx.isSoftware),
      [a, b, out],
      n4 * 4,
      uniforms,
      0,
      [out],
    );
    return out;
  }
  forEachBlock(c.shape, c.strides, [...offsets, 0], (bs, bst, boff) => {
    const count = sizeOf(bs);
    rt.dispatch(
      binaryStridedKernel(op, bs.length),
      [a, b, out],
      [
        count,
        ...loopStrides(rt),
        boff[2],
        ...stridedUniforms(bs, bst.slice(0, 2), boff.slice(0, 2)),
      ],
      dispatchGrid(rt, Math.ceil(count / (WG * PER))),
    );
  });
  return out;
}
