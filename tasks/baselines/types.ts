/**
 * Shared types of the classical in-context baselines (spec 5). Each baseline sees the raw
 * prompt xs [B, N, d], ys [B, N] and, for every prompt and prefix length i, predicts y_i from
 * the pairs 0..i-1 and x_i; the prediction at i = 0 is 0.
 */
import type { IclBatch } from "../task.ts";

/** Raw prompts for a baseline. */
export interface BaselineInput {
  /** [B, N, d] */
  xs: Float32Array;
  /** [B, N] */
  ys: Float32Array;
  batch: number;
  nPoints: number;
  nDims: number;
}

/** Options understood by the baselines (each reads the ones it needs). */
export interface BaselineOptions {
  /**
   * Prefix lengths to evaluate (default all 0..N-1). Other positions are NaN in the output,
   * which keeps the heavy baselines (NN, boosting, lasso) affordable.
   */
  positions?: readonly number[];
  /** Seed of the baselines that are random (2-layer NN GD). Default 0. */
  seed?: number;
  /** Number of neighbours (k-NN, default 3). */
  neighbors?: number;
  /** Lasso penalty α of sklearn's (1/2n)||y − Xw||² + α||w||₁ (default 0.01). */
  alpha?: number;
  /** Lasso coordinate-descent sweeps cap (default 10000) and tolerance (default 1e-4). */
  maxIter?: number;
  tol?: number;
  /** Tree depth limit (greedy tree: default unlimited; boosting: default 6). */
  maxDepth?: number;
  /** 2-layer NN: hidden width (100), Adam steps (100), learning rate (5e-3), minibatch (100). */
  hidden?: number;
  steps?: number;
  lr?: number;
  batchSize?: number;
  /** Boosting: trees (100), shrinkage (0.3), L2 leaf penalty λ (1), min child hessian (1). */
  nEstimators?: number;
  learningRate?: number;
  lambda?: number;
  minChildWeight?: number;
}

/** A baseline: predictions [B, N] (NaN at positions not evaluated). */
export type Baseline = (input: BaselineInput, opts?: BaselineOptions) => Float32Array;

/** The raw prompt of a batch; throws if the task did not provide one (e.g. MQAR). */
export function baselineInput(b: IclBatch): BaselineInput {
  if (!b.xs || !b.ys || b.nPoints === undefined || b.nDims === undefined) {
    throw new Error("baselineInput: this batch has no raw xs/ys (the task has no baselines)");
  }
  return { xs: b.xs, ys: b.ys, batch: b.batch, nPoints: b.nPoints, nDims: b.nDims };
}

/** Checks shapes and returns a [N] flag array of the positions to evaluate. */
export function evaluatedPositions(input: BaselineInput, opts?: BaselineOptions): Uint8Array {
  const { xs, ys, batch, nPoints, nDims } = input;
  if (xs.length !== batch * nPoints * nDims) {
    throw new Error(
      `baseline: xs has ${xs.length} values, expected B·N·d = ${batch * nPoints * nDims}`,
    );
  }
  if (ys.length !== batch * nPoints) {
    throw new Error(`baseline: ys has ${ys.length} values, expected B·N = ${batch * nPoints}`);
  }
  const flags = new Uint8Array(nPoints);
  if (!opts?.positions) return flags.fill(1);
  for (const p of opts.positions) {
    if (!Number.isInteger(p) || p < 0 || p >= nPoints) {
      throw new Error(`baseline: positions entry ${p} is outside 0..${nPoints - 1}`);
    }
    flags[p] = 1;
  }
  return flags;
}

/** A [B, N] output filled with NaN except where the baseline writes. */
export function emptyPredictions(input: BaselineInput): Float32Array {
  return new Float32Array(input.batch * input.nPoints).fill(NaN);
}
