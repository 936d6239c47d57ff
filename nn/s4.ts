/**
 * S4D (diagonal S4) as in the state-spaces "minimal S4D" used by the ICL papers, and the
 * S4-Mamba mixer of the MambaFormer repo. The convolution kernel K [H, L] is computed from the
 * trainable parameters with the complex arithmetic spelled out in real ops (cos, sin, exp), and
 * the causal convolution y_t = Σ_{s≤t} K_{t−s} u_s runs as one batched matmul with a per-channel
 * Toeplitz matrix gathered from K (the reference uses an FFT: same result, O(L²) work, which is
 * cheap at ICL lengths and needs no FFT kernel).
 */
import type { Backend } from "../core/backend.ts";
import { fromArray, fromInts } from "../core/create.ts";
import { add, cos, div, exp, gelu, mul, neg, sigmoid, sin, sub } from "../core/ops/elementwise.ts";
import { matmul, matmulT } from "../core/ops/matmul.ts";
import { sum } from "../core/ops/reduce.ts";
import { gather, padAxis, permute, reshape, slice } from "../core/ops/shape_ops.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Init } from "./init.ts";
import { dropout, Linear, type RngRef } from "./layers.ts";
import { DepthwiseConv1d, mambaFront } from "./mamba.ts";
import { Module, ModuleList } from "./module.ts";

/**
 * S4D kernel parameters for H channels and N/2 complex modes: C [H, N/2, 2] complex normal
 * (real and imaginary parts N(0, ½)); log_dt [H] ~ U(log 0.001, log 0.1); log_A_real [H, N/2]
 * = log ½; A_imag [H, N/2] = π·n (S4D-Lin). All trainable, as in the reference.
 */
export class S4DKernel extends Module {
  readonly C: Tensor;
  readonly log_dt: Tensor;
  readonly log_A_real: Tensor;
  readonly A_imag: Tensor;
  readonly modes: number;

  constructor(init: Init, readonly channels: number, dState: number, dtMin = 0.001, dtMax = 0.1) {
    super();
    if (!Number.isInteger(dState) || dState < 2 || dState % 2 !== 0) {
      throw new Error(`S4DKernel: dState must be an even integer ≥ 2, got ${dState}`);
    }
    const H = channels, M = dState / 2;
    this.modes = M;
    this.C = this.param("C", init.fork("C").normal([H, M, 2], Math.SQRT1_2));
    this.log_dt = this.param(
      "log_dt",
      init.fork("log_dt").uniform([H], Math.log(dtMin), Math.log(dtMax)),
    );
    this.log_A_real = this.param("log_A_real", init.full([H, M], Math.log(0.5)));
    const aImag = new Float32Array(H * M);
    for (let h = 0; h < H; h++) for (let n = 0; n < M; n++) aImag[h * M + n] = Math.PI * n;
    this.A_imag = this.param("A_imag", init.tensor(aImag, [H, M]));
  }

  /**
   * K[h, l] = 2·Re Σ_n C'_n·exp(dt·A_n·l), C' = C·(exp(dt·A) − 1)/A, for l < L: [H, L].
   * The phases dt·Im(A)·l reach a few hundred radians at ICL lengths, so cos/sin must reduce
   * large arguments accurately (as the reference's complex64 exp does).
   */
  forward(L: number): Tensor {
    const H = this.channels, M = this.modes;
    const dt = reshape(exp(this.log_dt), [H, 1]);
    const Ar = neg(exp(this.log_A_real)), Ai = this.A_imag; // A = Ar + i·Ai, [H, M]
    const dAr = mul(Ar, dt), dAi = mul(Ai, dt);
    const Cr = reshape(slice(this.C, 2, 0, 1), [H, M]);
    const Ci = reshape(slice(this.C, 2, 1, 2), [H, M]);
    // E = exp(dt·A) − 1
    const eMag = exp(dAr);
    const Er = sub(mul(eMag, cos(dAi)), 1), Ei = mul(eMag, sin(dAi));
    // Q = E / A = E·conj(A) / |A|²  (|A|² ≥ Re(A)² > 0, so the division is safe)
    const den = add(mul(Ar, Ar), mul(Ai, Ai));
    const Qr = div(add(mul(Er, Ar), mul(Ei, Ai)), den);
    const Qi = div(sub(mul(Ei, Ar), mul(Er, Ai)), den);
    // P = C·Q
    const Pr = sub(mul(Cr, Qr), mul(Ci, Qi)), Pi = add(mul(Cr, Qi), mul(Ci, Qr));
    // exp(dt·A·l) = e^{dAr·l}(cos(dAi·l) + i·sin(dAi·l)) over [H, M, L]
    const l = fromArray(Float32Array.from({ length: L }, (_, i) => i), [1, 1, L], this.C.backend);
    const argI = mul(reshape(dAi, [H, M, 1]), l);
    const vMag = exp(mul(reshape(dAr, [H, M, 1]), l));
    const re = sub(
      mul(reshape(Pr, [H, M, 1]), mul(vMag, cos(argI))),
      mul(reshape(Pi, [H, M, 1]), mul(vMag, sin(argI))),
    );
    return mul(sum(re, 1), 2);
  }
}

// Toeplitz index tables per backend and length: small (L² i32) and reused by every layer.
const toeplitzCache = new Map<Backend, Map<number, Tensor>>();

/** Free the cached Toeplitz index tables (e.g. before measuring memory). */
export function clearToeplitzCache(): void {
  for (const m of toeplitzCache.values()) for (const t of m.values()) t.dispose();
  toeplitzCache.clear();
}

function toeplitzIndex(L: number, be: Backend): Tensor {
  let m = toeplitzCache.get(be);
  if (!m) toeplitzCache.set(be, m = new Map());
  let t = m.get(L);
  if (!t) {
    // Row t, column s reads K[t − s] for s ≤ t and the zero pad at index L above the diagonal.
    const idx = new Int32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) idx[i * L + j] = i >= j ? i - j : L;
    t = fromInts(idx, [L * L], be).keep();
    m.set(L, t);
  }
  return t;
}

/** Causal per-channel convolution: u [B, L, H], K [H, L] → y[b, t, h] = Σ_{s≤t} K[h, t−s]·u[b, s, h]. */
export function causalKernelConv(u: Tensor, K: Tensor): Tensor {
  const [, L, H] = u.shape;
  if (K.rank !== 2 || K.shape[0] !== H || K.shape[1] !== L) {
    throw new Error(`causalKernelConv: kernel ${K.describe()} should be [${H}, ${L}]`);
  }
  const T = reshape(gather(padAxis(K, 1, 0, 1), toeplitzIndex(L, u.backend), 1), [H, L, L]);
  const uh = permute(u, [2, 1, 0]); // [H, L, B]
  return permute(matmul(T, uh), [2, 1, 0]);
}

/** Conv1d(C_in, C_out, kernel_size=1) with PyTorch's layout [C_out, C_in, 1] and default init. */
export class PointwiseConv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(init: Init, readonly inChannels: number, readonly outChannels: number) {
    super();
    const b = 1 / Math.sqrt(inChannels);
    this.weight = this.param("weight", init.uniform([outChannels, inChannels, 1], -b, b));
    this.bias = this.param("bias", init.uniform([outChannels], -b, b));
  }
  /** x [B, L, C_in] → [B, L, C_out]. */
  forward(x: Tensor): Tensor {
    const [B, L, C] = x.shape;
    const w = reshape(this.weight, [this.outChannels, C]);
    const y = add(matmulT(reshape(x, [B * L, C]), w, false, true), this.bias);
    return reshape(y, [B, L, this.outChannels]);
  }
}

/**
 * The S4D layer: y = GELU(K ∗ u + D⊙u), channel dropout, then Conv1d(H → 2H, k=1) and GLU
 * (first half · sigmoid(second half)). D ~ N(0, 1). Reference GELU is the exact erf form; the
 * engine's is the tanh approximation (|difference| < 1e-3).
 */
export class S4D extends Module {
  readonly D: Tensor;
  readonly kernel: S4DKernel;
  readonly conv: PointwiseConv1d;

  constructor(
    init: Init,
    readonly channels: number,
    dState: number,
    readonly dropoutP: number,
    readonly dropRng: RngRef,
  ) {
    super();
    this.D = this.param("D", init.fork("D").normal([channels], 1));
    this.kernel = this.module("kernel", new S4DKernel(init.fork("kernel"), channels, dState));
    const conv = new PointwiseConv1d(init.fork("output_linear"), channels, 2 * channels);
    this.module("output_linear", new ModuleList([conv]));
    this.conv = conv;
  }

  /** u [B, L, H] → [B, L, H]. */
  forward(u: Tensor): Tensor {
    const [B, L, H] = u.shape;
    let y = add(causalKernelConv(u, this.kernel.forward(L)), mul(u, this.D));
    y = dropout(gelu(y), this.dropoutP, this.dropRng.rng, this.training, [B, 1, H]);
    const ab = this.conv.forward(y);
    return mul(slice(ab, 2, 0, H), sigmoid(slice(ab, 2, H, 2 * H)));
  }
}

/** The MambaFormer repo's S4Wrapper: an S4D layer under the name `s4`. */
export class S4Wrapper extends Module {
  readonly s4: S4D;
  constructor(init: Init, dim: number, dState: number, dropoutP: number, dropRng: RngRef) {
    super();
    this.s4 = this.module("s4", new S4D(init.fork("s4"), dim, dState, dropoutP, dropRng));
  }
  forward(x: Tensor): Tensor {
    return this.s4.forward(x);
  }
}

/** The S4 core of S4-Mamba: y = dropout(K ∗ x + D⊙x) · gate (no activation, no GLU). */
export class S4DMamba extends Module {
  readonly D: Tensor;
  readonly kernel: S4DKernel;
  constructor(
    init: Init,
    readonly channels: number,
    dState: number,
    readonly dropoutP: number,
    readonly dropRng: RngRef,
  ) {
    super();
    this.D = this.param("D", init.fork("D").normal([channels], 1));
    this.kernel = this.module("kernel", new S4DKernel(init.fork("kernel"), channels, dState));
  }
  forward(x: Tensor, gate: Tensor): Tensor {
    const [B, L, H] = x.shape;
    const y = add(causalKernelConv(x, this.kernel.forward(L)), mul(x, this.D));
    return mul(dropout(y, this.dropoutP, this.dropRng.rng, this.training, [B, 1, H]), gate);
  }
}

/**
 * S4-Mamba (MambaFormer repo): the Mamba block with the selective scan replaced by an S4D
 * convolution and the gate applied as raw z (no SiLU, as in the reference). Channel dropout
 * 0.1 by default; out_proj rescaled by 1/√nLayer like Mamba's.
 */
export class S4MambaMixer extends Module {
  readonly in_proj: Linear;
  readonly conv1d: DepthwiseConv1d;
  readonly core: S4DMamba;
  readonly out_proj: Linear;
  readonly dInner: number;

  constructor(
    init: Init,
    dModel: number,
    o: { dState?: number; dConv?: number; expand?: number; nLayer?: number; dropout?: number },
    dropRng: RngRef,
  ) {
    super();
    const Di = this.dInner = (o.expand ?? 2) * dModel;
    this.in_proj = this.module("in_proj", new Linear(init.fork("in_proj"), dModel, 2 * Di, false));
    this.conv1d = this.module("conv1d", new DepthwiseConv1d(init.fork("conv1d"), Di, o.dConv ?? 4));
    this.core = this.module(
      "S4DMamba",
      new S4DMamba(init.fork("S4DMamba"), Di, o.dState ?? 16, o.dropout ?? 0.1, dropRng),
    );
    this.out_proj = this.module(
      "out_proj",
      new Linear(init.fork("out_proj"), Di, dModel, false, {
        weightScale: 1 / Math.sqrt(o.nLayer ?? 1),
      }),
    );
  }

  forward(u: Tensor): Tensor {
    const { x, z } = mambaFront(this.in_proj, this.conv1d, u, this.dInner);
    return this.out_proj.forward(this.core.forward(x, z));
  }
}
