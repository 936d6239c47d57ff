/**
 * Shared types of the in-context-learning task samplers. Everything is plain Float32Array in
 * row-major order; the model side turns batches into tensors.
 */
import type { Rng } from "../core/rng.ts";

/** Training loss the model side should use for a task. */
export type LossKind = "mse" | "bce";

/** Per-position evaluation metric (spec 1.4). */
export type MetricKind = "squared_error" | "accuracy";

/**
 * A second prediction head read at other positions, used by chain-of-thought I/O: the model
 * predicts the hidden features s_i at the x_i token (teacher-forced during training).
 */
export interface IntermediateTargets {
  /** [P2] token indices where the intermediate prediction is read. */
  predPos: Int32Array;
  /** Width of the intermediate target (h for CoT-I/O). */
  outDim: number;
  /** [B, P2, outDim] the true intermediate values. */
  targets: Float32Array;
  /**
   * Offset of the intermediate slot inside the token vector, so autoregressive inference can
   * write its own prediction back into the token that follows `predPos[i]`.
   */
  tokenOffset: number;
}

/** One batch of prompts, ready for a sequence model. */
export interface IclBatch {
  /** B prompts. */
  batch: number;
  /** T tokens per prompt. */
  seqLen: number;
  /** Width of each token vector. */
  tokenDim: number;
  /** [B, T, tokenDim] model input. */
  tokens: Float32Array;
  /** [P] token indices where predictions are read (same for every prompt). */
  predPos: Int32Array;
  /** 1 for scalar targets, d for vector MQAR. */
  outDim: number;
  /** [B, P, outDim]; for BCE tasks the labels are in {0, 1}. */
  targets: Float32Array;
  /**
   * [B, P] 1 where a prediction is scored and trained on, 0 where it is not (outlier positions
   * of the outlier-regression tasks). Absent means every prediction counts.
   */
  targetMask?: Float32Array;
  /** Chain-of-thought intermediate targets (cot_io only). */
  intermediate?: IntermediateTargets;
  /** Raw prompt for the classical baselines: xs [B, N, d] (as the model sees them). */
  xs?: Float32Array;
  /** Raw prompt for the classical baselines: ys [B, N] (scalar labels as the model sees them). */
  ys?: Float32Array;
  /** N of the raw prompt. */
  nPoints?: number;
  /** d of the raw prompt. */
  nDims?: number;
}

/** Curriculum values passed to `Task.sample` (spec 1.3). */
export interface SampleOptions {
  /** Current curriculum dimension: coordinates >= nDims are zeroed (regression tasks). */
  nDims?: number;
  /** Current number of in-context examples. */
  nPoints?: number;
}

/** A family of in-context-learning prompts. */
export interface Task {
  readonly name: string;
  readonly nDims: number;
  readonly nPoints: number;
  readonly tokenDim: number;
  readonly outDim: number;
  readonly loss: LossKind;
  readonly metric: MetricKind;
  /** Divide the squared error by this to get the reported normalized error (d, k or 1). */
  readonly normalizer: number;
  /** Draw `batch` fresh prompts (new inputs and a new function per prompt unless noted). */
  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch;
}
