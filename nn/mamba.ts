/**
 * The Mamba (S6) block of mamba-ssm v1.1.1 (`modules/mamba_simple.py`), parameter for parameter:
 * in_proj → [x, z]; x = SiLU(causal depthwise conv(x)); x_proj(x) → [δ_low, B, C];
 * δ = dt_proj.weight · δ_low (its bias enters the scan as deltaBias); selective scan with
 * A = −exp(A_log), skip D and gate SiLU(z); out_proj.
 */
import { exp, neg, silu } from "../core/ops/elementwise.ts";
import { causalConv1d, selectiveScan } from "../core/ops/fused.ts";
import { matmulT } from "../core/ops/matmul.ts";
import { reshape, slice } from "../core/ops/shape_ops.ts";
import type { Tensor } from "../core/tensor.ts";
import { assign, type Init, inverseSoftplus } from "./init.ts";
import { Linear } from "./layers.ts";
import { Module } from "./module.ts";

/** Mamba hyper-parameters; the defaults are mamba-ssm's, used unchanged by the ICL papers. */
export interface MambaOptions {
  /** SSM state size N (16). */
  dState?: number;
  /** Depthwise conv width (4). */
  dConv?: number;
  /** d_inner = expand · d_model (2). */
  expand?: number;
  /** Rank of the Δ projection (⌈d_model / 16⌉). */
  dtRank?: number;
  dtMin?: number;
  dtMax?: number;
  dtInitFloor?: number;
  /** Depth used to rescale out_proj by 1/√nLayer (mamba-ssm's `_init_weights`); 1 = none. */
  nLayer?: number;
}

/** Resolved Mamba sizes for a model width. */
export function mambaSizes(dModel: number, o: MambaOptions = {}) {
  const expand = o.expand ?? 2;
  return {
    dInner: expand * dModel,
    dState: o.dState ?? 16,
    dConv: o.dConv ?? 4,
    dtRank: o.dtRank ?? Math.ceil(dModel / 16),
  };
}

/** Causal depthwise Conv1d(C, C, K, groups=C, padding=K−1) cut to length L, with bias. */
export class DepthwiseConv1d extends Module {
  /** [C, 1, K] as PyTorch stores it. */
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(init: Init, readonly channels: number, readonly kernel: number) {
    super();
    // PyTorch default: fan_in = (in_channels / groups) · K = K.
    const b = 1 / Math.sqrt(kernel);
    this.weight = this.param("weight", init.uniform([channels, 1, kernel], -b, b));
    this.bias = this.param("bias", init.uniform([channels], -b, b));
  }
  /** x [B, L, C] → [B, L, C]. */
  forward(x: Tensor): Tensor {
    return causalConv1d(x, reshape(this.weight, [this.channels, this.kernel]), this.bias);
  }
}

/**
 * The shared front of Mamba and S4-Mamba: in_proj (no bias) producing x and z, then
 * SiLU(conv1d(x)). Returns x [B, L, d_inner] and z [B, L, d_inner].
 */
export function mambaFront(
  inProj: Linear,
  conv: DepthwiseConv1d,
  u: Tensor,
  dInner: number,
): { x: Tensor; z: Tensor } {
  const xz = inProj.forward(u);
  const x = silu(conv.forward(slice(xz, 2, 0, dInner)));
  return { x, z: slice(xz, 2, dInner, 2 * dInner) };
}

export class MambaMixer extends Module {
  readonly in_proj: Linear;
  readonly conv1d: DepthwiseConv1d;
  readonly x_proj: Linear;
  readonly dt_proj: Linear;
  /** [d_inner, N]; A = −exp(A_log). */
  readonly A_log: Tensor;
  /** [d_inner] skip connection. */
  readonly D: Tensor;
  readonly out_proj: Linear;
  readonly dInner: number;
  readonly dState: number;
  readonly dtRank: number;

  constructor(init: Init, readonly dModel: number, o: MambaOptions = {}) {
    super();
    const { dInner, dState, dConv, dtRank } = mambaSizes(dModel, o);
    this.dInner = dInner;
    this.dState = dState;
    this.dtRank = dtRank;
    // Own parameters are listed first by namedParameters(): A_log and D, then the layers.
    const aLog = new Float32Array(dInner * dState);
    for (let c = 0; c < dInner; c++) {
      for (let n = 0; n < dState; n++) aLog[c * dState + n] = Math.log(n + 1); // S4D-Real
    }
    this.A_log = this.param("A_log", init.tensor(aLog, [dInner, dState]));
    this.D = this.param("D", init.ones([dInner]));

    this.in_proj = this.module(
      "in_proj",
      new Linear(init.fork("in_proj"), dModel, 2 * dInner, false),
    );
    this.conv1d = this.module("conv1d", new DepthwiseConv1d(init.fork("conv1d"), dInner, dConv));
    this.x_proj = this.module(
      "x_proj",
      new Linear(init.fork("x_proj"), dInner, dtRank + 2 * dState, false),
    );
    this.dt_proj = this.module("dt_proj", makeDtProj(init.fork("dt_proj"), dtRank, dInner, o));
    this.out_proj = this.module(
      "out_proj",
      new Linear(init.fork("out_proj"), dInner, dModel, false, {
        weightScale: 1 / Math.sqrt(o.nLayer ?? 1),
      }),
    );
  }

  /** u [B, L, d_model] → [B, L, d_model]. */
  forward(u: Tensor): Tensor {
    const [B, L] = u.shape;
    const R = this.dtRank, N = this.dState, Di = this.dInner;
    const { x, z } = mambaFront(this.in_proj, this.conv1d, u, Di);
    const dbc = this.x_proj.forward(x);
    const dLow = reshape(slice(dbc, 2, 0, R), [B * L, R]);
    const BC = slice(dbc, 2, R, R + 2 * N);
    const delta = reshape(matmulT(dLow, this.dt_proj.weight, false, true), [B, L, Di]);
    const y = selectiveScan({
      x,
      delta,
      deltaBias: this.dt_proj.bias!,
      A: neg(exp(this.A_log)),
      BC,
      D: this.D,
      z,
    });
    return this.out_proj.forward(y);
  }
}

/**
 * dt_proj: weight U(±dt_rank^−½); bias = softplus⁻¹(dt) with dt log-uniform in [dtMin, dtMax]
 * floored at dtInitFloor, so softplus(bias) starts in [0.001, 0.1] for every channel.
 */
function makeDtProj(init: Init, dtRank: number, dInner: number, o: MambaOptions): Linear {
  const lin = new Linear(init.fork("linear"), dtRank, dInner, true);
  const std = 1 / Math.sqrt(dtRank);
  const lo = Math.log(o.dtMin ?? 0.001), hi = Math.log(o.dtMax ?? 0.1);
  const floor = o.dtInitFloor ?? 1e-4;
  const w = init.fork("weight").uniformArray(dtRank * dInner, -std, std);
  const u = init.fork("bias").uniformArray(dInner, 0, 1);
  const b = u.map((v) => inverseSoftplus(Math.max(Math.exp(lo + v * (hi - lo)), floor)));
  assign(lin.weight, w);
  assign(lin.bias!, b);
  return lin;
}
