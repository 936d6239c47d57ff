/**
 * The contract between ops and backends. Ops (core/ops) own shape rules and gradients; a backend
 * supplies kernels only. Every kernel takes contiguous row-major buffers plus the sizes it needs
 * and returns freshly allocated outputs (or writes in place where the name says so). Kernels are
 * asynchronous on WebGPU: they record work; only `read` waits for the device.
 */

/** Opaque device memory: a Float32Array/Int32Array on the CPU, a pooled GPUBuffer on WebGPU. */
export interface DeviceBuffer {
  readonly bytes: number;
}

export type DType = "f32" | "i32";

export type UnaryOp =
  | "neg"
  | "exp"
  | "log"
  | "sqrt"
  | "rsqrt"
  | "abs"
  | "square"
  | "reciprocal"
  | "tanh"
  | "sigmoid"
  | "relu"
  | "gelu" // tanh approximation (GPT-2's gelu_new)
  | "silu"
  | "softplus" // log(1 + e^x), = x above 20 as in mamba-ssm
  | "sign"
  | "step" // 1 where x > 0 else 0
  | "cos"
  | "sin";

export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "max"
  | "min"
  | "pow"
  | "gt"
  | "ge"
  | "lt"
  | "eq";

/** A strided view of a buffer: element offset and per-axis strides (0 broadcasts). */
export interface View {
  offset: number;
  strides: readonly number[];
}

export interface MatmulArgs {
  /** Number of matrices; aBatchStride/bBatchStride in elements (0 broadcasts one matrix). */
  batch: number;
  m: number;
  n: number;
  k: number;
  /** A is stored [k, m] instead of [m, k]. */
  transA: boolean;
  /** B is stored [n, k] instead of [k, n]. */
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

/**
 * Selective scan (Mamba S6). Layouts are (batch, length, channels); B and C come side by side as
 * BC (batch, length, 2·state), the way Mamba's x_proj produces them (one buffer, one binding).
 */
export interface ScanArgs {
  batch: number;
  length: number;
  channels: number; // d_inner
  state: number; // d_state N
  hasZ: boolean;
}

export interface ScanInputs {
  x: DeviceBuffer; // [B, L, D]
  delta: DeviceBuffer; // [B, L, D] pre-softplus
  deltaBias: DeviceBuffer; // [D]
  A: DeviceBuffer; // [D, N] (negative)
  BC: DeviceBuffer; // [B, L, 2N]: B_t then C_t
  Dskip: DeviceBuffer; // [D]
  z?: DeviceBuffer; // [B, L, D] gate, optional
}

export interface ScanGrads {
  dx: DeviceBuffer;
  dDelta: DeviceBuffer;
  dDeltaBias: DeviceBuffer;
  dA: DeviceBuffer;
  dBC: DeviceBuffer;
  dDskip: DeviceBuffer;
  dz?: DeviceBuffer;
}

/** Causal multi-head attention on q, k, v laid out [B, H, T, dh]. */
export interface AttentionArgs {
  batch: number;
  heads: number;
  length: number;
  headDim: number;
  scale: number;
}

export interface AdamArgs {
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number; // decoupled (AdamW) when > 0
  step: number; // 1-based, for bias correction
}

/** One parameter of a multi-tensor Adam step: p, m, v are updated in place from g. */
export interface AdamItem {
  p: DeviceBuffer;
  g: DeviceBuffer;
  m: DeviceBuffer;
  v: DeviceBuffer;
  n: number;
  /** 1-based step of this parameter, for bias correction. */
  step: number;
}

export type AdamHyper = Omit<AdamArgs, "n" | "step">;

export interface MemoryInfo {
  /** Bytes held by live tensors. */
  bytesInUse: number;
  /** Bytes the backend holds from the system (pool included). */
  bytesAllocated: number;
}

export interface Backend {
  readonly name: "cpu" | "webgpu";
  /** Human-readable device description, e.g. the WebGPU adapter. */
  readonly description: string;

  // memory
  alloc(n: number, dtype: DType): DeviceBuffer;
  upload(data: Float32Array | Int32Array): DeviceBuffer;
  read(buf: DeviceBuffer, n: number, dtype: DType): Promise<Float32Array | Int32Array>;
  release(buf: DeviceBuffer): void;
  memory(): MemoryInfo;
  /** Submit recorded work (no-op on the CPU). */
  flush(): void;

  fill(n: number, value: number): DeviceBuffer;
  unary(op: UnaryOp, x: DeviceBuffer, n: number): DeviceBuffer;
  /** dy * f'(x) for a unary op, fused (the derivative of each unary op is one kernel). */
  unaryGrad(op: UnaryOp, x: DeviceBuffer, dy: DeviceBuffer, n: number): DeviceBuffer;
  /** out[i] = a[view_a(i)] op b[view_b(i)] over `shape` (views broadcast with stride 0). */
  binary(
    op: BinaryOp,
    a: DeviceBuffer,
    av: View,
    b: DeviceBuffer,
    bv: View,
    shape: readonly number[],
  ): DeviceBuffer;
  /** y = a * x + b elementwise with scalars (scale/shift without a broadcast buffer). */
  affine(x: DeviceBuffer, n: number, a: number, b: number): DeviceBuffer;
  /** Reduce the middle axis of [outer, r, inner] to [outer, inner]. */
  reduce(op: "sum" | "max", x: DeviceBuffer, outer: number, r: number, inner: number): DeviceBuffer;
  /** dst[view_dst(i)] = src[view_src(i)] over `shape`; writes in place into dst. */
  copy(src: DeviceBuffer, sv: View, dst: DeviceBuffer, dv: View, shape: readonly number[]): void;
  /** op(A)·op(B) per MatmulArgs; `bias` [n], when given, is added to every row (the epilogue). */
  matmul(a: DeviceBuffer, b: DeviceBuffer, args: MatmulArgs, bias?: DeviceBuffer): DeviceBuffer;
  /**
   * [op(A)·op(B), sums] for one matrix (batch 1): with "rows" the sums over k of op(A)'s rows
   * ([m]), with "cols" of op(B)'s columns ([n]), from the same pass over the operands. A linear
   * layer's weight gradient and its bias gradient (the output gradient summed over tokens) read
   * that gradient once, in one dispatch.
   */
  matmulSums(
    a: DeviceBuffer,
    b: DeviceBuffer,
    args: MatmulArgs,
    of: "rows" | "cols",
  ): [DeviceBuffer, DeviceBuffer];
  /**
   * [act(op(A)·op(B) + bias), the pre-activation or null]: the activation as the matmul's
   * epilogue where the backend can fuse it; the pre-activation (what the activation's backward
   * reads) is kept only with keepPre.
   */
  matmulAct(
    a: DeviceBuffer,
    b: DeviceBuffer,
    args: MatmulArgs,
    act: UnaryOp,
    keepPre: boolean,
    bias?: DeviceBuffer,
  ): [DeviceBuffer, DeviceBuffer | null];
  /** Row-wise softmax (or log-softmax) over the last axis of [rows, cols]. */
  softmax(x: DeviceBuffer, rows: number, cols: number, log: boolean): DeviceBuffer;
  softmaxGrad(
    y: DeviceBuffer,
    dy: DeviceBuffer,
    rows: number,
    cols: number,
    log: boolean,
  ): DeviceBuffer;
  /** out[o, j, i] = x[o, idx[j], i] for x [outer, axis, inner], idx i32 [nIdx]. */
  gather(
    x: DeviceBuffer,
    idx: DeviceBuffer,
    outer: number,
    axis: number,
    inner: number,
    nIdx: number,
  ): DeviceBuffer;
  /** Adjoint of gather: out [outer, axis, inner] accumulates dy[o, j, i] at idx[j]. */
  scatterAdd(
    dy: DeviceBuffer,
    idx: DeviceBuffer,
    outer: number,
    axis: number,
    inner: number,
    nIdx: number,
  ): DeviceBuffer;

  // fused primitives with hand-written backwards
  layerNorm(
    x: DeviceBuffer,
    w: DeviceBuffer | null,
    b: DeviceBuffer | null,
    rows: number,
    cols: number,
    eps: number,
    rms: boolean,
  ): { y: DeviceBuffer; mean: DeviceBuffer; rstd: DeviceBuffer };
  layerNormGrad(
    x: DeviceBuffer,
    w: DeviceBuffer | null,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    dy: DeviceBuffer,
    rows: number,
    cols: number,
    rms: boolean,
  ): { dx: DeviceBuffer; dw: DeviceBuffer; db: DeviceBuffer };
  /** Causal depthwise conv over time: x [B, L, C], w [C, K], bias [C]; left padding K-1. */
  conv1d(
    x: DeviceBuffer,
    w: DeviceBuffer,
    bias: DeviceBuffer,
    batch: number,
    length: number,
    channels: number,
    kernel: number,
  ): DeviceBuffer;
  conv1dGrad(
    x: DeviceBuffer,
    w: DeviceBuffer,
    dy: DeviceBuffer,
    batch: number,
    length: number,
    channels: number,
    kernel: number,
  ): { dx: DeviceBuffer; dw: DeviceBuffer; db: DeviceBuffer };
  /** Returns the gated output and whatever the backward needs saved (chunk states). */
  selectiveScan(inp: ScanInputs, args: ScanArgs): { out: DeviceBuffer; saved: DeviceBuffer[] };
  selectiveScanGrad(
    inp: ScanInputs,
    saved: DeviceBuffer[],
    dout: DeviceBuffer,
    args: ScanArgs,
  ): ScanGrads;
  attention(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    args: AttentionArgs,
  ): { o: DeviceBuffer; lse: DeviceBuffer };
  attentionGrad(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    dO: DeviceBuffer,
    args: AttentionArgs,
  ): { dq: DeviceBuffer; dk: DeviceBuffer; dv: DeviceBuffer };
  /**
   * The same attention on q, k, v as they come out of one qkv projection, [B, T, 3, H, dh]
   * (heads not split out), giving o as the output projection takes it, [B, T, H, dh].
   */
  attentionPacked(qkv: DeviceBuffer, args: AttentionArgs): { o: DeviceBuffer; lse: DeviceBuffer };
  /** Backward of attentionPacked: dqkv [B, T, 3, H, dh]. */
  attentionPackedGrad(
    qkv: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    dO: DeviceBuffer,
    args: AttentionArgs,
  ): DeviceBuffer;
  /**
   * In place: every item's p, m, v updated from its g (times gradScale[0] when given, e.g.
   * clipping). On WebGPU items whose p, m and v are parts of packed allocations (`allocParts`)
   * share dispatches, four parameters to one.
   */
  adam(items: readonly AdamItem[], hyper: AdamHyper, gradScale: DeviceBuffer | null): void;
  /**
   * [‖x‖₂ over every item's first n values, min(1, maxNorm / (‖x‖ + 1e-6))] as two new
   * 1-element buffers (PyTorch's clip_grad_norm_ factor; 1 when maxNorm is 0). Two dispatches
   * for up to seven buffers on WebGPU.
   */
  gradNorm(items: readonly { buf: DeviceBuffer; n: number }[], maxNorm: number): [
    DeviceBuffer,
    DeviceBuffer,
  ];
  /**
   * Zero-filled buffers of these element counts, in one allocation where the backend can (on
   * WebGPU a kernel over several of them binds one buffer). Released one by one, as any buffer.
   */
  allocParts(sizes: readonly number[]): DeviceBuffer[];
  /**
   * One LSTM time step, fused: gate pre-activations [B, 4H] (i, f, g, o) and the previous state
   * hc [B, 2H] (h then c per row; null: zero) → the new hc [B, 2H] (core/cpu/lstm.ts).
   */
  lstmCell(
    gates: DeviceBuffer,
    prev: DeviceBuffer | null,
    batch: number,
    hidden: number,
  ): DeviceBuffer;
  /** Backward of lstmCell: d(gates) [B, 4H] and d(prev) [B, 2H] (its h half zero; null without prev). */
  lstmCellGrad(
    gates: DeviceBuffer,
    prev: DeviceBuffer | null,
    dhc: DeviceBuffer,
    batch: number,
    hidden: number,
  ): { dGates: DeviceBuffer; dPrev: DeviceBuffer | null };
}
