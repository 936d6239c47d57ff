/**
 * WebGPU non-fused kernels (fill, unary, unaryGrad, binary, affine, reduce, copy, softmax,
 * gather, scatterAdd) against the CPU reference in core/cpu/elementwise.ts, on sizes that are
 * not multiples of any vector or workgroup width. Skipped when no WebGPU adapter exists.
 *
 * Tolerances, |gpu − cpu| <= atol + rtol·|cpu| (the CPU computes in f64 and rounds once):
 * - exact (bit-for-bit, ±0 distinguished, NaN = NaN): copies, gather, scatterAdd (same f32
 *   adds in the same order), fill, comparisons, max/min, neg/abs/square/relu/sign/step;
 * - rtol 1e-6: add/sub/mul/div, sqrt/rsqrt/reciprocal, affine (one or two f32 roundings,
 *   plus a and b rounded to f32 in affine, hence atol 1e-6·|b| too);
 * - atol = rtol = 1e-5: transcendental ops and their derivatives, pow, softmax (WGSL's exp,
 *   log, sin, cos are a few ulp, error grows with |x| for exp, and our tanh/log1p/gelu are
 *   reformulated for stability, so agreement is to ~1e-6 relative, not bits);
 * - reductions: sum to 1e-6·Σ|x| (f32 chunked folds against an f64 sequential sum; the bound
 *   scales with the condition of the sum), max exact.
 */
import assert from "node:assert/strict";
import type { BinaryOp, UnaryOp, View } from "../core/backend.ts";
import * as cpu from "../core/cpu/elementwise.ts";
import { Rng } from "../core/rng.ts";
import { stridesOf } from "../core/shape.ts";
import { texturize } from "../core/webgpu/kernels/texture_operands.ts";
import { copyGpu } from "../core/webgpu/kernels/copy.ts";
import { invBits, UDIV } from "../core/webgpu/kernels/flat.ts";
import {
  affineGpu,
  binaryGpu,
  fillGpu,
  unaryGpu,
  unaryGradGpu,
} from "../core/webgpu/kernels/elementwise.ts";
import { gatherGpu, scatterAddGpu } from "../core/webgpu/kernels/gather.ts";
import { reduceGpu } from "../core/webgpu/kernels/reduce.ts";
import { softmaxGpu, softmaxGradGpu } from "../core/webgpu/kernels/softmax.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import { gpuTests, rt } from "./gpu_runtimes.ts";

/** A test on every runtime of gpu_runtimes.ts (quick = fewer ops on the two extra ones). */
function gpuTest(name: string, fn: (rt: Runtime, quick: boolean) => Promise<void>) {
  gpuTests(`webgpu basic: ${name}`, fn);
}

const SIZES = [1, 3, 17, 33, 257, 70000];
const rng = new Rng(7);

function rand(n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}
function up(rt: Runtime, data: Float32Array | Int32Array): GpuBuffer {
  const b = rt.alloc(Math.max(4, data.byteLength));
  if (data.byteLength) rt.write(b, data);
  return b;
}
async function down(rt: Runtime, b: GpuBuffer, n: number, free = true): Promise<Float32Array> {
  const out = new Float32Array(await rt.read(b, n * 4));
  if (free) rt.release(b);
  return out;
}

/**
 * Exact when the tolerances are 0 (NaN equals NaN), else |got − want| <= atol + rtol·|want|;
 * atol may be given per element. The sign of zero is only checked where asked (`signed`):
 * WGSL lets compilers ignore it in arithmetic (Mesa folds x·0 to +0), but selects, copies and
 * max/min tie rules must keep it.
 */
function check(
  got: Float32Array,
  want: Float32Array,
  what: string,
  atol: number | ArrayLike<number> = 0,
  rtol = typeof atol === "number" ? atol : 0,
  signed = false,
) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Object.is(g, w) || (!signed && g === w)) continue;
    const at = typeof atol === "number" ? atol : atol[i];
    const ok = (at > 0 || rtol > 0) && Number.isFinite(w) &&
      Math.abs(g - w) <= at + rtol * Math.abs(w);
    if (!ok) assert.fail(`${what}: [${i}] gpu ${g} vs cpu ${w}`);
  }
}

const EXACT_UNARY = new Set<UnaryOp>(["neg", "abs", "square", "relu", "sign", "step"]);
const ARITH_UNARY = new Set<UnaryOp>(["sqrt", "rsqrt", "reciprocal"]);
const UNARY_OPS: UnaryOp[] = [
  ..."neg exp log sqrt rsqrt abs square reciprocal tanh sigmoid relu gelu silu softplus sign step cos sin"
    .split(" ") as UnaryOp[],
];

/** Inputs inside each op's domain, with the branch points (0, ±20 for softplus) included. */
function unaryInput(op: UnaryOp, n: number): Float32Array {
  if (op === "log" || op === "sqrt" || op === "rsqrt") return rand(n, 0.01, 10);
  if (op === "reciprocal") return rand(n, 0.1, 10).map((v, i) => (i % 2 ? -v : v));
  const x = rand(n, -4, 4);
  const special = [0, -0, 1e-4, -1e-3, 0.1, 19.9, 20.5, -25, 30, -90, 90];
  if (op === "exp" || op === "cos" || op === "sin") return x;
  for (let i = 0; i < Math.min(n, special.length); i++) x[(i * 7919) % n] = special[i];
  return x;
}

function unaryTol(op: UnaryOp): [number, number] {
  if (EXACT_UNARY.has(op)) return [0, 0];
  if (ARITH_UNARY.has(op)) return [1e-6, 1e-6];
  return [1e-5, 1e-5];
}

gpuTest("fill", async (rt) => {
  for (const n of SIZES) {
    for (const v of [0, -2.5, -Infinity, NaN]) {
      check(
        await down(rt, fillGpu(rt, n, v), n),
        new Float32Array(n).fill(v),
        `fill ${n} ${v}`,
        0,
        0,
        true,
      );
    }
  }
});

gpuTest("unary and unaryGrad, every op", async (rt, quick) => {
  for (const op of quick ? ["gelu", "softplus", "sign"] as UnaryOp[] : UNARY_OPS) {
    const [atol, rtol] = unaryTol(op);
    for (const n of SIZES) {
      const x = unaryInput(op, n), dy = rand(n, -2, 2);
      const xb = up(rt, x), dyb = up(rt, dy);
      const y = await down(rt, unaryGpu(rt, op, xb, n), n);
      check(y, cpu.unaryCpu(op, x), `${op} n=${n}`, atol, rtol);
      const dx = await down(rt, unaryGradGpu(rt, op, xb, dyb, n), n);
      // The exact ops' derivatives (±1, 0, 2x) make dy·f'(x) a single rounding: still exact.
      check(dx, cpu.unaryGradCpu(op, x, dy), `${op}' n=${n}`, atol, rtol);
      rt.release(xb);
      rt.release(dyb);
    }
  }
});

interface BinCase {
  name: string;
  shape: number[];
  a: [number, View]; // buffer length, view
  b: [number, View];
}
const contig = (shape: number[], offset = 0): View => ({ offset, strides: stridesOf(shape) });
const bcast = (shape: number[], full: number[]): View => {
  const st = stridesOf(shape), off = full.length - shape.length;
  return {
    offset: 0,
    strides: full.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : st[i - off])),
  };
};

const BIN_CASES: BinCase[] = [
  ...SIZES.map((
    n,
  ) => ({ name: `same [${n}]`, shape: [n], a: [n, contig([n])], b: [n, contig([n])] } as BinCase)),
  { name: "scalar b", shape: [257], a: [257, contig([257])], b: [1, bcast([], [257])] },
  { name: "scalar a", shape: [33], a: [1, bcast([], [33])], b: [33, contig([33])] },
  {
    name: "row [17,32]+[32]",
    shape: [17, 32],
    a: [544, contig([17, 32])],
    b: [32, bcast([32], [17, 32])],
  },
  {
    name: "row [17,33]+[33]",
    shape: [17, 33],
    a: [561, contig([17, 33])],
    b: [33, bcast([33], [17, 33])],
  },
  {
    name: "col [17,8]*[17,1]",
    shape: [17, 8],
    a: [136, contig([17, 8])],
    b: [17, bcast([17, 1], [17, 8])],
  },
  {
    name: "[3,1,5] with [1,4,5]",
    shape: [3, 4, 5],
    a: [15, bcast([3, 1, 5], [3, 4, 5])],
    b: [20, bcast([1, 4, 5], [3, 4, 5])],
  },
  {
    name: "transposed a",
    shape: [17, 33],
    a: [561, { offset: 0, strides: [1, 17] }],
    b: [561, contig([17, 33])],
  },
  {
    name: "offset 4 (aligned)",
    shape: [3, 8],
    a: [30, contig([3, 8], 4)],
    b: [8, bcast([8], [3, 8])],
  },
  { name: "offset 3 (unaligned)", shape: [70], a: [75, contig([70], 3)], b: [70, contig([70])] },
  {
    name: "rank 7 (host split)",
    shape: [2, 2, 2, 2, 2, 2, 3],
    a: [192, { offset: 0, strides: [1, 2, 4, 8, 16, 32, 64] }],
    b: [192, contig([2, 2, 2, 2, 2, 2, 3])],
  },
];

/** Values with ties, ±0 and small integers (comparisons, max/min), else smooth randoms. */
function binaryInput(op: BinaryOp, n: number, which: "a" | "b"): Float32Array {
  if (op === "pow") {
    if (which === "b") {
      return Float32Array.from({ length: n }, (_, i) => [0, 1, 2, -1, 0.5, 3, -2, 1.7][i % 8]);
    }
    return rand(n, -3, 3).map((v, i) => (i % 5 === 0 ? 0 : v));
  }
  if (op === "div" && which === "b") return rand(n, 0.5, 3).map((v, i) => (i % 2 ? -v : v));
  if (["gt", "ge", "lt", "eq", "max", "min"].includes(op)) {
    return Float32Array.from(
      { length: n },
      () => [-1, -0, 0, 1, 2.5][Math.floor(rng.uniform() * 5)],
    );
  }
  return rand(n, -3, 3);
}

gpuTest("binary, every op on contiguous, broadcast and strided views", async (rt, quick) => {
  const all: BinaryOp[] = ["add", "sub", "mul", "div", "max", "min", "pow", "gt", "ge", "lt", "eq"];
  for (const op of quick ? ["add", "max", "pow"] as BinaryOp[] : all) {
    const [atol, rtol] = op === "pow"
      ? [1e-5, 1e-5]
      : ["add", "sub", "mul", "div"].includes(op)
      ? [1e-6, 1e-6]
      : [0, 0];
    for (const c of BIN_CASES) {
      const a = binaryInput(op, c.a[0], "a"), b = binaryInput(op, c.b[0], "b");
      const ab = up(rt, a), bb = up(rt, b);
      const n = c.shape.reduce((p, q) => p * q, 1);
      const got = await down(rt, binaryGpu(rt, op, ab, c.a[1], bb, c.b[1], c.shape), n);
      const want = cpu.binaryCpu(op, a, c.a[1], b, c.b[1], c.shape);
      check(got, want, `${op} ${c.name}`, atol, rtol, atol === 0);
      rt.release(ab);
      rt.release(bb);
    }
  }
});

gpuTest("affine", async (rt) => {
  for (const n of SIZES) {
    const x = rand(n, -5, 5), xb = up(rt, x);
    const want = x.map((v) => 0.37 * v - 1.1);
    check(await down(rt, affineGpu(rt, xb, n, 0.37, -1.1), n), want, `affine ${n}`, 2e-6, 1e-6);
    rt.release(xb);
  }
});

gpuTest("reduce sum/max over [outer, r, inner]", async (rt) => {
  const triples = [
    [1, 20000, 1],
    [1, 20001, 1],
    [7, 33, 129],
    [1, 17920, 128],
    [3, 1, 5],
    [4, 0, 3],
    [5, 64, 1],
    [300, 128, 1],
    [2, 7, 4],
    // Past 65,535 steps of one fold, where llvmpipe silently ends a loop (reduce.ts MAX_CHUNK):
    // scalar rows, vec4 rows, vec4 lanes along inner.
    [1, 262145, 1],
    [1, 300000, 1],
    [1, 70001, 4],
  ];
  for (const [outer, r, inner] of triples) {
    const x = rand(outer * r * inner);
    // (No NaN in the long folds: a NaN sum would hide a fold that stopped early.)
    if (x.length > 40 && r < 65536) [x[3], x[37]] = [NaN, -Infinity];
    const xb = up(rt, x);
    for (const op of ["sum", "max"] as const) {
      const got = await down(rt, reduceGpu(rt, op, xb, outer, r, inner), outer * inner);
      const want = cpu.reduceCpu(op, x, outer, r, inner);
      const label = `${op} (${outer}, ${r}, ${inner})`;
      const mag = cpu.reduceCpu("sum", x.map(Math.abs), outer, r, inner);
      check(got, want, label, op === "max" ? 0 : mag.map((m) => 1e-6 * m));
    }
    rt.release(xb);
  }
});

gpuTest("copy: transpose, permute, slice, expand, pad, concat, i32 bits, in-buffer", async (rt) => {
  interface CopyCase {
    name: string;
    shape: number[];
    src: [number, View];
    dst: [number, View];
  }
  const cases: CopyCase[] = [
    {
      name: "transpose [33,17]",
      shape: [17, 33],
      src: [561, { offset: 0, strides: [1, 17] }],
      dst: [561, contig([17, 33])],
    },
    {
      // 4x4-block transpose kernel: aligned sizes, one batch, 2-D
      name: "transpose4x4 [36,20]",
      shape: [20, 36],
      src: [720, { offset: 0, strides: [1, 20] }],
      dst: [720, contig([20, 36])],
    },
    {
      // batched, offsets, src rows padded to 24, dst rows to 44, dst batch stride 1000
      name: "transpose4x4 batched, offsets, padded rows",
      shape: [3, 20, 36],
      src: [3 * 900 + 8, { offset: 8, strides: [900, 1, 24] }],
      dst: [3000, { offset: 4, strides: [1000, 44, 1] }],
    },
    {
      name: "transpose4x4 not taken: offset not a multiple of 4",
      shape: [8, 12],
      src: [98, { offset: 2, strides: [1, 8] }],
      dst: [96, contig([8, 12])],
    },
    {
      name: "permute scalar [2,3,4,5]→(0,2,1,3)",
      shape: [2, 4, 3, 5],
      src: [120, { offset: 0, strides: [60, 5, 20, 1] }],
      dst: [120, contig([2, 4, 3, 5])],
    },
    {
      name: "permute vec4 [2,3,5,8]→(0,2,1,3)",
      shape: [2, 5, 3, 8],
      src: [240, { offset: 0, strides: [120, 8, 40, 1] }],
      dst: [240, contig([2, 5, 3, 8])],
    },
    {
      name: "slice [5,9][1:4, 2:7]",
      shape: [3, 5],
      src: [45, { offset: 11, strides: [9, 1] }],
      dst: [15, contig([3, 5])],
    },
    {
      name: "expand [3,1,5]→[3,4,5]",
      shape: [3, 4, 5],
      src: [15, bcast([3, 1, 5], [3, 4, 5])],
      dst: [60, contig([3, 4, 5])],
    },
    {
      name: "pad [3,5] into [5,9] at (1,2)",
      shape: [3, 5],
      src: [15, contig([3, 5])],
      dst: [45, { offset: 11, strides: [9, 1] }],
    },
    {
      name: "concat half along axis 1",
      shape: [4, 3],
      src: [12, contig([4, 3])],
      dst: [28, { offset: 4, strides: [7, 1] }],
    },
    {
      name: "contiguous 70000",
      shape: [70000],
      src: [70003, contig([70000], 3)],
      dst: [70000, contig([70000])],
    },
    {
      name: "rank 7",
      shape: [2, 2, 2, 2, 2, 2, 3],
      src: [192, { offset: 0, strides: [1, 2, 4, 8, 16, 32, 64] }],
      dst: [192, contig([2, 2, 2, 2, 2, 2, 3])],
    },
  ];
  for (const c of cases) {
    for (const i32 of [false, true]) {
      // i32 payloads include NaN-pattern bits, which must survive untouched.
      const src = i32
        ? Int32Array.from({ length: c.src[0] }, (_, i) => (i % 3 ? i * 7919 - 5 : 0x7fc00001 + i))
        : rand(c.src[0]);
      const dst = i32 ? new Int32Array(c.dst[0]).fill(-9) : new Float32Array(c.dst[0]).fill(-9);
      const sb = up(rt, src), db = up(rt, dst);
      copyGpu(rt, sb, c.src[1], db, c.dst[1], c.shape);
      cpu.copyCpu(src, c.src[1], dst, c.dst[1], c.shape);
      const got = new Int32Array(await rt.read(db, dst.length * 4));
      assert.deepEqual(got, new Int32Array(dst.buffer), `copy ${c.name} ${i32 ? "i32" : "f32"}`);
      rt.release(sb);
      rt.release(db);
    }
  }
  // Source and destination in one buffer (non-overlapping halves, transposed).
  const buf = rand(2 * 35), bb = up(rt, buf);
  const sv = { offset: 0, strides: [1, 5] }, dv = { offset: 35, strides: [7, 1] };
  copyGpu(rt, bb, sv, bb, dv, [5, 7]);
  cpu.copyCpu(buf, sv, buf, dv, [5, 7]);
  check(await down(rt, bb, buf.length), buf, "copy within one buffer");
});

gpuTest("softmax / log-softmax and backward (the profile's row kernels)", async (rt) => {
  for (const [rows, cols] of [[1, 1], [3, 7], [5, 257], [2, 1000], [70, 33]]) {
    const x = rand(rows * cols, -8, 8), dy = rand(rows * cols);
    x[0] = -Infinity; // a masked entry (rows of one column stay all-masked: NaN on both sides)
    if (cols > 1) x[x.length - 1] = 60; // large logits must not overflow
    const xb = up(rt, x), dyb = up(rt, dy);
    for (const log of [false, true]) {
      const want = cpu.softmaxCpu(x, rows, cols, log);
      const wantDx = cpu.softmaxGradCpu(want, dy, rows, cols, log);
      const yb = up(rt, want);
      const what = `${log ? "log" : ""}softmax ${rows}x${cols} ${rt.profile.rows}`;
      const got = await down(rt, softmaxGpu(rt, xb, rows, cols, log), rows * cols);
      check(got, want, what, 1e-5, 1e-5);
      const dx = softmaxGradGpu(rt, yb, dyb, rows, cols, log);
      check(await down(rt, dx, rows * cols), wantDx, `${what} grad`, 1e-5, 1e-5);
      rt.release(yb);
    }
    rt.release(xb);
    rt.release(dyb);
  }
});

gpuTest("gather / scatterAdd with repeated indices, both scatter strategies", async (rt) => {
  const cases = [[1, 10, 4, 7], [3, 5, 1, 9], [2, 17, 3, 33], [1, 300, 64, 5000], [4, 257, 5, 600]];
  for (const [outer, axis, inner, nIdx] of cases) {
    // Repeats everywhere, and one index taking a third of the list (a big bucket).
    const idx = Int32Array.from(
      { length: nIdx },
      (_, j) => (j % 3 === 0 ? 2 : Math.floor(rng.uniform() * axis)),
    );
    const x = rand(outer * axis * inner), dy = rand(outer * nIdx * inner);
    const xb = up(rt, x), ib = up(rt, idx), dyb = up(rt, dy);
    const what = `(${outer}, ${axis}, ${inner}, ${nIdx})`;
    const g = await down(rt, gatherGpu(rt, xb, ib, outer, axis, inner, nIdx), outer * nIdx * inner);
    check(g, cpu.gatherCpu(x, idx, outer, axis, inner, nIdx), `gather ${what}`, 0, 0, true);
    const want = cpu.scatterAddCpu(dy, idx, outer, axis, inner, nIdx);
    for (const mode of ["scan", "sorted", undefined] as const) {
      const s = scatterAddGpu(rt, dyb, ib, outer, axis, inner, nIdx, mode);
      check(await down(rt, s, outer * axis * inner), want, `scatterAdd ${what} ${mode}`);
    }
    for (const b of [xb, ib, dyb]) rt.release(b);
  }
});

gpuTest("no leaked temporaries", async (rt) => {
  await rt.sync();
  const before = rt.bytesInUse;
  const x = up(rt, rand(20000)), idx = up(rt, Int32Array.from({ length: 3000 }, (_, j) => j % 7));
  const outs = [
    reduceGpu(rt, "sum", x, 1, 20000, 1),
    reduceGpu(rt, "max", x, 1, 160, 125),
    scatterAddGpu(rt, x, idx, 1, 7, 4, 3000, "sorted"),
    binaryGpu(rt, "add", x, contig([20000]), x, contig([20000]), [20000]),
  ];
  for (const b of [x, idx, ...outs]) rt.release(b);
  await rt.sync();
  assert.equal(rt.bytesInUse, before);
});

gpuTest("udiv (division without u32 divide) is exact", async (rt) => {
  const pairs: [number, number][] = [];
  const ds = [1, 2, 3, 7, 32, 128, 129, 280, 1000, 65535, 65536, 1234567, (1 << 24) - 1];
  for (const d of ds) {
    for (const k of [0, 1, 2, 1000, 65537, Math.floor(0xffffffff / d)]) {
      for (const e of [-1, 0, 1, d - 1]) {
        const n = k * d + e;
        if (n >= 0 && n <= 0xffffffff) pairs.push([n, d]);
      }
    }
    for (let i = 0; i < 50; i++) pairs.push([Math.floor(rng.uniform() * 0x100000000), d]);
  }
  const k = {
    name: "test_udiv",
    wgsl: `
struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> nd: array<vec3<u32>>;
@group(0) @binding(2) var<storage, read_write> q: array<u32>;
${UDIV}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < u.n) { q[gid.x] = udiv(nd[gid.x].x, nd[gid.x].y, nd[gid.x].z); }
}`,
  };
  const packed = new Uint32Array(pairs.length * 4);
  pairs.forEach(([n, d], i) => packed.set([n, d, invBits(d)], i * 4));
  const ndb = rt.alloc(packed.byteLength), qb = rt.alloc(pairs.length * 4);
  rt.write(ndb, packed);
  rt.dispatch(k, { nd: ndb, q: qb }, { n: pairs.length }, [Math.ceil(pairs.length / 64)]);
  const q = new Uint32Array(await rt.read(qb, pairs.length * 4));
  pairs.forEach(([n, d], i) => assert.equal(q[i], Math.floor(n / d), `udiv(${n}, ${d})`));
  rt.release(ndb);
  rt.release(qb);
});

Deno.test("texturize: reads of the named vec4 arrays become texel fetches", () => {
  const k = texturize({
    name: "t",
    wgsl: `@group(0) @binding(1) var<storage, read> In: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dIn: array<vec4<f32>>;
fn f(i: u32) -> vec4<f32> { return In[(i + idx[In[i].x]) / 4u] + dIn[i]; }`,
  }, ["In"]);
  assert.equal(k.name, "t_tex");
  assert.match(k.wgsl, /@binding\(1\) var In: texture_2d<f32>;/);
  assert.match(k.wgsl, /texel\(In, \(i \+ idx\[texel\(In, i\)\.x\]\) \/ 4u\) \+ dIn\[i\]/);
  assert.throws(() => texturize(k, ["Missing"]), /no vec4 array Missing/);
});

Deno.test({
  name: "webgpu: a texturized copy reads every word of a texture (rows and a partial row)",
  ignore: !rt,
  fn: async () => {
    const k = texturize({
      name: "texture_copy_test",
      wgsl: `struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> In: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Out: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.y * 65535u * 64u + gid.x;
  if (i < u.n) { Out[i] = In[i]; }
}`,
    }, ["In"]);
    for (const texels of [1, 2047, 2048, 2 * 2048 + 5]) {
      const data = new Float32Array(4 * texels + 4).map((_, i) => i * 0.5 - 3);
      const src = rt!.alloc(data.byteLength), dst = rt!.alloc(16 * texels);
      rt!.write(src, data);
      // from word 1: the copy honours a 16-byte offset
      const tex = rt!.texture(src, 16, texels);
      rt!.dispatch(k, { In: tex, Out: dst }, { n: texels }, [Math.ceil(texels / 64)]);
      rt!.releaseTexture(tex);
      const got = new Float32Array(await rt!.read(dst, 16 * texels));
      assert.deepEqual(got, data.subarray(4, 4 + 4 * texels), `${texels} texels`);
      rt!.release(src);
      rt!.release(dst);
    }
  },
});
