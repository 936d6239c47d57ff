/** Basic layers: Linear, LayerNorm, RMSNorm, GPT-2's MLP, learned positions, dropout. */
import type { UnaryOp } from "../core/backend.ts";
import { fromArray, fromInts } from "../core/create.ts";
import { mul } from "../core/ops/elementwise.ts";
import { layerNorm, rmsNorm } from "../core/ops/fused.ts";
import { matmulT } from "../core/ops/matmul.ts";
import { gather, reshape, slice } from "../core/ops/shape_ops.ts";
import type { Rng } from "../core/rng.ts";
import { sizeOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Init } from "./init.ts";
import { Module } from "./module.ts";

/** How a Linear is initialised; the default is PyTorch's nn.Linear. */
export interface LinearInit {
  /** Draw the weight from N(0, std²) instead of PyTorch's U(±1/√fan_in). */
  weightStd?: number;
  /** Multiply the drawn weight by this (mamba-ssm divides out_proj by √n_layer). */
  weightScale?: number;
  /** Start the bias at zero instead of U(±1/√fan_in). */
  zeroBias?: boolean;
}

/**
 * y = x·Wᵀ + b with W stored [out, in] as in PyTorch, applied to the last axis of x. Leading
 * axes are flattened so the forward and both gradients are single 2-D matmuls.
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    init: Init,
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
    how: LinearInit = {},
  ) {
    super();
    let w = how.weightStd !== undefined
      ? init.normal([outFeatures, inFeatures], how.weightStd)
      : init.kaimingUniform([outFeatures, inFeatures], inFeatures);
    if (how.weightScale !== undefined && how.weightScale !== 1) {
      const scaled = mul(w, how.weightScale);
      w.dispose();
      w = scaled;
    }
    this.weight = this.param("weight", w);
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = bias
      ? this.param(
        "bias",
        how.zeroBias ? init.zeros([outFeatures]) : init.uniform([outFeatures], -bound, bound),
      )
      : null;
  }

  /** x·Wᵀ + b, then `act` (fused into the matmul's epilogue where the backend can). */
  forward(x: Tensor, act?: UnaryOp): Tensor {
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new Error(
        `Linear(${this.inFeatures} → ${this.outFeatures}): input ${x.describe()} should be ` +
          `[..., ${this.inFeatures}]`,
      );
    }
    const lead = x.shape.slice(0, -1);
    const x2 = x.rank === 2 ? x : reshape(x, [sizeOf(lead), this.inFeatures]);
    const y = matmulT(x2, this.weight, false, true, this.bias ?? undefined, act);
    return x.rank === 2 ? y : reshape(y, [...lead, this.outFeatures]);
  }
}

/** Which normalisation a model uses: LayerNorm (weight, bias) or RMSNorm (weight only). */
export type NormKind = "layer" | "rms";

/** LayerNorm over the last axis, eps 1e-5, weight 1 and bias 0 at init. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(init: Init, dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param("weight", init.ones([dim]));
    this.bias = this.param("bias", init.zeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** RMSNorm over the last axis, eps 1e-5, weight 1 at init. */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(init: Init, dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param("weight", init.ones([dim]));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export type Norm = LayerNorm | RMSNorm;

export function makeNorm(init: Init, kind: NormKind, dim: number): Norm {
  return kind === "rms" ? new RMSNorm(init, dim) : new LayerNorm(init, dim);
}

/** GPT-2's feed-forward: c_proj(gelu_new(c_fc(x))), hidden width `hidden` (4·E in GPT-2). */
export class MLP extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  constructor(init: Init, dim: number, hidden: number, fc: LinearInit = {}, proj = fc) {
    super();
    this.c_fc = this.module("c_fc", new Linear(init.fork("c_fc"), dim, hidden, true, fc));
    this.c_proj = this.module("c_proj", new Linear(init.fork("c_proj"), hidden, dim, true, proj));
  }
  forward(x: Tensor): Tensor {
    return this.c_proj.forward(this.c_fc.forward(x, "gelu"));
  }
}

/** A learned absolute position table [P, E] (nn.Embedding), read for positions 0..T−1. */
export class PositionalEmbedding extends Module {
  readonly weight: Tensor;
  constructor(init: Init, readonly maxLen: number, dim: number, std: number) {
    super();
    this.weight = this.param("weight", init.normal([maxLen, dim], std));
  }

  /** Past maxLen: throw (default), or repeat the last learned row (length-generalisation probes). */
  beyond: "error" | "repeat" = "error";

  /** The first `length` rows, [length, E]; adds broadcast over the batch. */
  forward(length: number): Tensor {
    if (length > this.maxLen && this.beyond === "repeat") {
      const idx = Array.from({ length }, (_, t) => Math.min(t, this.maxLen - 1));
      return gather(this.weight, fromInts(idx, [length], this.weight.backend), 0);
    }
    if (length > this.maxLen) {
      throw new Error(
        `PositionalEmbedding: sequence length ${length} exceeds maxLen ${this.maxLen} ` +
          `(the number of learned positions); build the model with a larger maxLen`,
      );
    }
    return length === this.maxLen ? this.weight : slice(this.weight, 0, 0, length);
  }
}

/**
 * A shared, replaceable random stream for dropout masks: every layer of a model holds the same
 * reference, so restoring a checkpoint's RNG state is one assignment.
 */
export class RngRef {
  constructor(public rng: Rng) {}
}

/**
 * Inverted dropout: zero entries with probability p and scale the rest by 1/(1−p). The mask is
 * drawn on the host from `rng` (identical on every backend) with `maskShape`, which broadcasts
 * against x: pass [B, 1, C] for channel dropout (torch's Dropout1d on a [B, C, L] input).
 */
export function dropout(
  x: Tensor,
  p: number,
  rng: Rng,
  training: boolean,
  maskShape: readonly number[] = x.shape,
): Tensor {
  if (!training || p === 0) return x;
  if (!(p > 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  const n = sizeOf(maskShape), keep = 1 / (1 - p);
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = rng.uniform() < p ? 0 : keep;
  return mul(x, fromArray(m, maskShape, x.backend));
}
