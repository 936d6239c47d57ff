/**
 * Batched matmul on WebGPU: picks a kernel variant per call and records its dispatches.
 * Transposed operands are read in place (the kernels index them as stored; nothing is
 * materialised), batch strides may be 0 to broadcast one matrix, and any size works (tails are
 * clamped on load and masked on store). The profile's `matmul` family picks the unrolled
 * register-block kernels of matmul_sw.ts (software adapters) or the shared-memory tiles of
 * matmul_tiled.ts (GPUs).
 */
import type { MatmulArgs, UnaryOp } from "../../backend.ts";
import { type Kernel, kernel } from "../kernel.ts";
import { type GpuBuffer, type Runtime, TEX_W } from "../runtime.ts";
import { copyGpu } from "./copy.ts";
import { unaryGpu } from "./elementwise.ts";
import { reduceGpu } from "./reduce.ts";
import {
  type OperandMode,
  SW_WG,
  swGrid,
  swKernelName,
  swKernelWgsl,
  type SwVariant,
} from "./matmul_sw.ts";
import { chooseTiled, tiledGrid, tiledKernelName, tiledKernelWgsl } from "./matmul_tiled.ts";
import { splitKTiled, splitKVariantName, tiledSplitK } from "./matmul_splitk_gpu.ts";

/** A fused activation after the matmul (and bias); keepPre also writes the pre-activation. */
export interface Epilogue {
  act: UnaryOp;
  keepPre: boolean;
}

export const software = (rt: Runtime) => rt.profile.matmul === "software";

/** What one matmul call dispatches: the kernel, its grid and the (possibly folded) sizes. */
export interface MatmulPlan {
  kernel: Kernel;
  /** Workgroups along x and y; z is the batch. */
  grid: [number, number];
  batch: number;
  m: number;
  aStride: number;
  bStride: number;
  /** Texels of A and B to copy into textures first (software kernels with `tex`), or null. */
  textures: [number, number] | null;
}

/** Choose the kernel variant for a call (exported so benchmarks can name what they time). */
export function planMatmul(
  rt: Runtime,
  args: MatmulArgs,
  bias: SwVariant["bias"] = "none",
  epilogue: Epilogue | null = null,
  sums: SwVariant["sums"] = "none",
): MatmulPlan {
  let { batch, m } = args;
  const { n, k, transA, transB } = args;
  // One matrix: strides are irrelevant (and must not spoil the vec4 alignment checks).
  let aStride = batch > 1 ? args.aBatchStride : 0;
  const bStride = batch > 1 ? args.bBatchStride : 0;
  // A shared B against contiguous plain A matrices is one tall matmul: fewer row tails and
  // bigger blocks (the linear layer on [batch, tokens, features]).
  if (batch > 1 && bStride === 0 && !transA && aStride === m * k) {
    m *= batch;
    batch = 1;
    aStride = 0;
  }
  if (software(rt)) {
    const base = chooseSw(batch, m, n, k, transA, transB, aStride, bStride);
    const texels = (stride: number, size: number) => ((batch - 1) * stride + size) / 4;
    const fits = Math.max(texels(aStride, m * k), texels(bStride, n * k)) <=
      TEX_W * rt.ctx.limits.maxTextureDimension2D / 2; // (rows are pooled in powers of two)
    // Only the 32x32 blocks read textures (unless the profile says always, as tests do).
    const flop = 2 * batch * m * n * k, min = rt.profile.matmulTextureFlop;
    const tex = base.aMode !== "s" && base.bMode !== "s" && fits &&
      (min === 0 || (base.tm === 32 && flop >= min));
    const v: SwVariant = {
      ...base,
      bias,
      tex,
      act: epilogue?.act ?? null,
      pre: epilogue?.keepPre ?? false,
      sums,
    };
    return {
      kernel: kernel(swKernelName(v), () => swKernelWgsl(v)),
      grid: swGrid(v, m, n),
      batch,
      m,
      aStride,
      bStride,
      textures: tex ? [texels(aStride, m * k), texels(bStride, n * k)] : null,
    };
  }
  if (bias === "rows" || epilogue || sums !== "none") {
    throw new Error("matmul: row bias, activations and sums are software-kernel paths only");
  }
  // The largest tile that still fills the GPU (profile.tiledWorkgroups), vec4 where aligned.
  const v = chooseTiled(
    rt.profile.tiledWorkgroups,
    { batch, m, n, k, transA, transB },
    aStride,
    bStride,
    bias === "cols",
  );
  return {
    kernel: kernel(tiledKernelName(v), () => tiledKernelWgsl(v)),
    grid: tiledGrid(v, m, n),
    batch,
    m,
    aStride,
    bStride,
    textures: null,
  };
}

/** Software kernels never read a transposed A in place (see matmulGpu). */
export function materialisesAT(rt: Runtime, args: MatmulArgs): boolean {
  return args.transA && software(rt);
}

/** What one call dispatches, by kernel name (benchmarks label their rows with it). */
export function describeMatmul(rt: Runtime, args: MatmulArgs): string {
  if (!software(rt)) {
    // GPU family: the tiled kernel, or split-k (matmul_splitk_gpu.ts); nothing else.
    const { s } = tiledSplitK(rt, args);
    return s > 1
      ? `split-k ${s}: ${splitKVariantName(rt, args)} + sum`
      : planMatmul(rt, args).kernel.name;
  }
  const s = splitK(rt, args);
  if (s > 1) {
    const [m, n] = args.m > args.n ? [args.n, args.m] : [args.m, args.n];
    const k = args.k / s;
    const slice = { ...args, batch: s, m, n, k, transA: false, aBatchStride: m * k };
    return `split-k ${s}${args.m > args.n ? " (as Cᵀ)" : ""}: Aᵀ copy + ` +
      `${planMatmul(rt, { ...slice, bBatchStride: k * n }).kernel.name} + sum`;
  }
  const tall = tallNarrow(rt, args);
  if (tall) {
    const { n, k, transA, transB } = args;
    const t = { batch: 1, m: n, n: tall, k, aBatchStride: 0, bBatchStride: 0 };
    return `as Cᵀ: ${describeMatmul(rt, { ...t, transA: !transB, transB: !transA })}` +
      " + transpose";
  }
  if (!materialisesAT(rt, args)) return planMatmul(rt, args).kernel.name;
  const plain = { ...args, transA: false, aBatchStride: args.aBatchStride && args.m * args.k };
  return `Aᵀ copy + ${planMatmul(rt, plain).kernel.name}`;
}

/**
 * C[i] = op(A[i]) · op(B[i]) for i < batch, as MatmulArgs defines (A stored [k, m] when transA,
 * B stored [n, k] when transB, batch strides in elements), plus `bias` [n] on every row when
 * given (or `bias` [m] on every column with biasRows, the Cᵀ path's own use). Returns a new
 * [batch, m, n] buffer.
 */
export function matmulGpu(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  bias?: GpuBuffer,
  biasRows = false,
): GpuBuffer {
  if (!software(rt) && !bias) {
    // GPU family: a long k over few output tiles is split (matmul_splitk_gpu.ts).
    const gs = tiledSplitK(rt, args);
    if (gs.s > 1) return splitKTiled(rt, a, b, args, gs);
  }
  const split = bias ? 1 : splitK(rt, args);
  if (split > 1) return splitKMatmul(rt, a, b, args, split);
  const tall = !biasRows && tallNarrow(rt, args);
  if (tall) {
    // Cᵀ = op(B)ᵀ·op(A)ᵀ: the same operands read with the other transpose flags.
    const ct = matmulGpu(
      rt,
      b,
      a,
      {
        batch: 1,
        m: args.n,
        n: tall,
        k: args.k,
        transA: !args.transB,
        transB: !args.transA,
        aBatchStride: 0,
        bBatchStride: 0,
      },
      bias,
      true,
    );
    const c = rt.alloc(4 * tall * args.n);
    copyGpu(rt, ct, { offset: 0, strides: [1, tall] }, c, {
      offset: 0,
      strides: [args.n, 1],
    }, [tall, args.n]);
    rt.release(ct);
    return c;
  }
  if (materialisesAT(rt, args)) {
    // Mesa 22.3's llvmpipe keeps ~1.4 MB of host memory per dispatch of the transposed-A
    // register-blocked kernels (measured: RSS grows linearly with calls, the pool stays flat),
    // which exhausts memory over a long run. Materialising Aᵀ with a strided copy costs one
    // memory pass and does not leak.
    const { batch, m, k, aBatchStride } = args;
    const at = rt.alloc(4 * Math.max(1, (aBatchStride === 0 ? 1 : batch) * m * k));
    const nb = aBatchStride === 0 ? 1 : batch;
    copyGpu(rt, a, { offset: 0, strides: [aBatchStride, 1, m] }, at, {
      offset: 0,
      strides: [m * k, k, 1],
    }, [nb, m, k]);
    const out = matmulGpu(
      rt,
      at,
      b,
      {
        ...args,
        transA: false,
        aBatchStride: aBatchStride === 0 ? 0 : m * k,
      },
      bias,
      biasRows,
    );
    rt.release(at);
    return out;
  }
  const out = rt.alloc(4 * Math.max(1, args.batch * args.m * args.n));
  if (args.batch === 0 || args.m === 0 || args.n === 0) return out;
  const p = planMatmul(rt, args, !bias ? "none" : biasRows ? "rows" : "cols");
  dispatchPlan(rt, p, args, a, b, { C: out, ...(bias ? { Bias: bias } : {}) });
  return out;
}

/**
 * [act(C), C or null] for C = op(A)·op(B) + bias: one kernel on a software adapter when C is
 * computed in place (the plain register-block path), else the matmul and then the elementwise
 * op. C (the pre-activation) is kept only with keepPre: the backward needs it, inference not.
 */
export function matmulActGpu(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  epilogue: Epilogue,
  bias?: GpuBuffer,
): [GpuBuffer, GpuBuffer | null] {
  const size = args.batch * args.m * args.n;
  if (!software(rt) || size === 0 || materialisesAT(rt, args) || tallNarrow(rt, args)) {
    const pre = matmulGpu(rt, a, b, args, bias);
    const y = unaryGpu(rt, epilogue.act, pre, size);
    if (epilogue.keepPre) return [y, pre];
    rt.release(pre);
    return [y, null];
  }
  const p = planMatmul(rt, args, bias ? "cols" : "none", epilogue);
  const y = rt.alloc(4 * size);
  const pre = epilogue.keepPre ? rt.alloc(4 * size) : null;
  dispatchPlan(rt, p, args, a, b, {
    C: y,
    ...(bias ? { Bias: bias } : {}),
    ...(pre ? { Pre: pre } : {}),
  });
  return [y, pre];
}

/** Record a plan's dispatches (textures first, when it reads them). */
export function dispatchPlan(
  rt: Runtime,
  p: MatmulPlan,
  args: MatmulArgs,
  a: GpuBuffer,
  b: GpuBuffer,
  out: { C: GpuBuffer; Bias?: GpuBuffer; Pre?: GpuBuffer },
  sumsAt: { cStride: number; sOff: number } | null = null,
): void {
  const ta = p.textures && rt.texture(a, 0, p.textures[0]);
  const tb = p.textures && rt.texture(b, 0, p.textures[1]);
  const maxZ = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  const bufs = { A: ta ?? a, B: tb ?? b, ...out };
  for (let b0 = 0; b0 < p.batch; b0 += maxZ) {
    const nb = Math.min(maxZ, p.batch - b0);
    const { m, aStride, bStride } = p;
    const uniforms = { m, n: args.n, k: args.k, aStride, bStride, batch0: b0, ...sumsAt };
    rt.dispatch(p.kernel, bufs, uniforms, [p.grid[0], p.grid[1], nb]);
  }
  if (ta) rt.releaseTexture(ta);
  if (tb) rt.releaseTexture(tb);
}

/**
 * Rows of C (batches folded) when C is tall and narrow on a software adapter, else 0. Such a C
 * (17,920 tokens × 64 features) is faster computed as Cᵀ and transposed back: as Cᵀ it is wide
 * enough for 32×32 blocks with all eight lanes along n (measured at k = 256: 30.6 → 16.8 ms,
 * plus 1.8 ms for the transpose; 2,560 × 64: 4.8 → 3.4 ms). At k = 64 the transpose eats the
 * gain, hence k ≥ 128.
 */
export function tallNarrow(rt: Runtime, args: MatmulArgs): number {
  const { batch, m, n, k, transA } = args;
  if (!software(rt)) return 0;
  // Only matrices that form one plain [rows, k] or stored-transposed single matrix qualify.
  const folds = batch === 1 ||
    (args.bBatchStride === 0 && !transA && args.aBatchStride === m * k);
  const rows = batch * m;
  if (!folds || (batch > 1 && transA)) return 0;
  return n <= 64 && n % 4 === 0 && rows % 4 === 0 && k % 4 === 0 && k >= 128 && rows >= 32 * n
    ? rows
    : 0;
}

/**
 * Slices of k for a weight gradient on a software adapter: Aᵀ·B with a long k (the tokens) and
 * few output blocks leaves most of llvmpipe's lanes idle or forces small register blocks (64×256
 * outputs are 16 blocks of 32×32). Splitting k into S slices gives S times the blocks; the
 * partial products are summed afterwards (a pass over S·m·n floats, small here). 1 = no split.
 */
export function splitK(rt: Runtime, args: MatmulArgs): number {
  const { batch, m, n, k } = args;
  // (B's slices are row blocks only when B is stored plain: [k, n].)
  if (!materialisesAT(rt, args) || args.transB || batch !== 1) return 1;
  const blocks = Math.ceil(m / 32) * Math.ceil(n / 32);
  let s = 1;
  // Aim for the profile's count of 32x32 blocks (llvmpipe: 128, four 32-invocation workgroups
  // per thread), slices of at least 128 steps of k, and k / S a multiple of 4 (vec4-aligned).
  // (At 2,560 tokens a 512-step minimum left the 64 × 192 qkv gradient 48 blocks, too few for
  // 32x32 registers: 16x16 ran at 9 GFLOP/s, 16 slices of 160 at 32x24 at 2.3× that.)
  // Slices also stay at most 2^16 long: llvmpipe ends a shader loop after 65,535 iterations
  // (see reduce.ts), and the kernel's k loop steps by 4.
  const minSlice = 128, maxSlice = 1 << 16;
  const more = () => blocks * s < rt.profile.splitKBlocks && k / (2 * s) >= minSlice;
  while ((more() || k / s > maxSlice) && k % (8 * s) === 0) s *= 2;
  return s;
}

/**
 * C = Aᵀ·B as S batched slices of k: Aᵀ is materialised slice by slice ([S, m, k/S], so each
 * slice is a contiguous plain matrix), B's slices are its consecutive row blocks, and the
 * [S, m, n] partials are summed in a fixed order (deterministic).
 */
function splitKMatmul(
  rt: Runtime,
  a: GpuBuffer,
  b: GpuBuffer,
  args: MatmulArgs,
  s: number,
): GpuBuffer {
  const { m, n, k } = args;
  if (m > n) {
    // Narrow outputs run slower (see chooseSw): compute Cᵀ = Bᵀ·A, which also copies the
    // narrower operand, then transpose the small result.
    const ct = splitKMatmul(rt, b, a, { ...args, m: n, n: m }, s);
    const c = rt.alloc(4 * m * n);
    copyGpu(rt, ct, { offset: 0, strides: [1, m] }, c, { offset: 0, strides: [n, 1] }, [m, n]);
    rt.release(ct);
    return c;
  }
  const ks = k / s;
  const at = rt.alloc(4 * m * k);
  // A is stored [k, m]: element (slice, i, p) sits at (slice·ks + p)·m + i.
  copyGpu(rt, a, { offset: 0, strides: [ks * m, 1, m] }, at, {
    offset: 0,
    strides: [m * ks, ks, 1],
  }, [s, m, ks]);
  const parts = matmulGpu(rt, at, b, {
    batch: s,
    m,
    n,
    k: ks,
    transA: false,
    transB: false,
    aBatchStride: m * ks,
    bBatchStride: ks * n,
  });
  rt.release(at);
  const out = reduceGpu(rt, "sum", parts, 1, s, m * n);
  rt.release(parts);
  return out;
}

/**
 * Software variant: vec4 loads where the operand's contiguous dimension and batch stride are
 * multiples of 4, and the biggest register block that still leaves enough invocations to keep
 * both llvmpipe threads busy. 32x32 (about 35 GFLOP/s at 1024^3, but 5 s of LLVM JIT on first
 * use) only for vectorised operands; unaligned shapes are rare (small input projections) and
 * get 16x16 or 8x8, which compile in about 1 s / 0.3 s.
 */
function chooseSw(
  batch: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  aStride: number,
  bStride: number,
): Omit<SwVariant, "bias" | "tex" | "act" | "pre" | "sums"> {
  const aAligned = aStride % 4 === 0 && (transA ? m % 4 === 0 : k % 4 === 0);
  const bAligned = bStride % 4 === 0 && (transB ? k % 4 === 0 : n % 4 === 0);
  const aMode: OperandMode = !aAligned ? "s" : transA ? "o4" : "k4";
  const bMode: OperandMode = !bAligned ? "s" : transB ? "k4" : "o4";
  const lanes = (t: number) => batch * Math.ceil(m / t) * Math.ceil(n / t);
  // 64 invocations = 2 workgroups of 32 per llvmpipe thread at least.
  const t = aAligned && bAligned && lanes(32) >= 64 ? 32 : lanes(16) >= 64 ? 16 : 8;
  // Eight invocations along n (one AVX2 vector) run best (n = 64 as 8 blocks of 8: 20 GFLOP/s;
  // as 2 blocks of 32: 8), unless the blocks would cover n with over 25% clamped columns; then
  // fewer lanes along n (the rest go along m).
  const cover = (wx: number) => Math.min(t, 4 * Math.ceil(n / wx / 4));
  let wx = 8;
  while (wx > 1 && wx * cover(wx) * 0.75 > n) wx /= 2;
  let tn = cover(wx);
  // Fewer than 8 lanes along n idle the rest of llvmpipe's vector (lanes are consecutive x):
  // put all of them along m instead, with blocks as even as multiples of 4 allow (n < 4: n).
  // (At least 16 row blocks: idles at most half the lanes, as wx <= 4 always does.)
  const mx = wx < 8 && Math.ceil(m / t) >= SW_WG / 2;
  if (mx) tn = n < 4 ? n : 4 * Math.ceil(n / Math.ceil(n / t) / 4);
  return {
    tm: t,
    tn,
    wx: mx ? 1 : wx,
    mx,
    aMode,
    bMode,
    transA,
    transB,
    k4: k % 4 === 0,
    c4: n % 4 === 0,
  };
}
