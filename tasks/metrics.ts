/**
 * Evaluation statistics of spec 1.4: per-prompt, per-position errors (squared error divided by
 * the task's normalizer, or accuracy), their per-position mean and unbiased std, and bootstrap
 * 5–95% bands (1000 resamples of the prompts, seeded).
 */
import { Rng } from "../core/rng.ts";
import type { IclBatch, MetricKind, Task } from "./task.ts";

/** What the error computation needs to know about a task. */
export interface ErrorSpec {
  metric: MetricKind;
  normalizer: number;
  outDim: number;
}

/**
 * Errors [B, P]. squared_error: Σ_o (ŷ − y)² / normalizer over the outDim components (for
 * vector MQAR that is the norm-squared error). accuracy: 1 when the logit's sign matches the
 * {0, 1} label (logit > 0 ⇔ label 1), else 0; a logit of exactly 0 counts as wrong, as
 * `y == sign(ŷ)` does in Garg's code. NaN predictions give NaN errors.
 */
export function pointwiseErrors(
  spec: ErrorSpec,
  preds: Float32Array,
  targets: Float32Array,
  batch: number,
  nPred: number,
): Float64Array {
  const { metric, normalizer, outDim } = spec;
  const cells = batch * nPred;
  if (!(normalizer > 0)) {
    throw new Error(`pointwiseErrors: normalizer must be > 0, got ${normalizer}`);
  }
  if (targets.length !== cells * outDim) {
    throw new Error(
      `pointwiseErrors: targets has ${targets.length} values, expected ${cells * outDim}`,
    );
  }
  const errors = new Float64Array(cells);
  if (metric === "accuracy") {
    if (preds.length !== cells) {
      throw new Error(`pointwiseErrors: preds has ${preds.length} values, expected B·P = ${cells}`);
    }
    for (let c = 0; c < cells; c++) {
      const logit = preds[c];
      errors[c] = Number.isNaN(logit) ? NaN : (targets[c] >= 0.5 ? logit > 0 : logit < 0) ? 1 : 0;
    }
    return errors;
  }
  if (preds.length !== cells * outDim) {
    throw new Error(
      `pointwiseErrors: preds has ${preds.length} values, expected ${cells * outDim}`,
    );
  }
  for (let c = 0; c < cells; c++) {
    let s = 0;
    for (let o = 0; o < outDim; o++) s += (preds[c * outDim + o] - targets[c * outDim + o]) ** 2;
    errors[c] = s / normalizer;
  }
  return errors;
}

/** Errors of predictions on a batch; also returns the batch's mask (outlier tasks). */
export function batchErrors(
  task: Pick<Task, "metric" | "normalizer">,
  batch: IclBatch,
  preds: Float32Array,
): { errors: Float64Array; mask?: Float32Array } {
  const spec = { metric: task.metric, normalizer: task.normalizer, outDim: batch.outDim };
  const errors = pointwiseErrors(spec, preds, batch.targets, batch.batch, batch.predPos.length);
  return { errors, mask: batch.targetMask };
}

/** Per-position statistics over prompts. */
export interface PositionStats {
  /** Mean over prompts (only those with mask 1). */
  mean: Float64Array;
  /** Unbiased standard deviation over prompts. */
  std: Float64Array;
  /** Bootstrap lower and upper quantiles of the mean. */
  lo: Float64Array;
  hi: Float64Array;
  /** Prompts counted at each position. */
  count: Int32Array;
}

/** Options of `positionStats`. */
export interface BootstrapOptions {
  /** Resamples of the prompts (default 1000). */
  resamples?: number;
  /** Seed of the resampling (default 0); or pass an Rng. */
  seed?: number;
  rng?: Rng;
  /** Band quantiles (default 0.05 and 0.95). */
  loQuantile?: number;
  hiQuantile?: number;
  /** [B, P] 1 = count this prompt at this position (outlier tasks); default all. */
  mask?: Float32Array;
}

/**
 * Garg's aggregate_metrics: per position mean, unbiased std and bootstrap quantiles of the
 * mean (resampling whole prompts with replacement, so correlated positions stay together).
 */
export function positionStats(
  errors: Float64Array,
  batch: number,
  nPos: number,
  opts: BootstrapOptions = {},
): PositionStats {
  if (errors.length !== batch * nPos) {
    throw new Error(
      `positionStats: errors has ${errors.length} values, expected B·P = ${batch * nPos}`,
    );
  }
  const mask = opts.mask;
  if (mask && mask.length !== errors.length) {
    throw new Error(`positionStats: mask has ${mask.length} values, expected ${errors.length}`);
  }
  const resamples = opts.resamples ?? 1000;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new Error(`positionStats: resamples must be an integer >= 1, got ${resamples}`);
  }
  const rng = opts.rng ?? new Rng(opts.seed ?? 0).fork("bootstrap");
  const weight = (c: number) => (mask ? mask[c] : 1);

  const mean = new Float64Array(nPos), std = new Float64Array(nPos), count = new Int32Array(nPos);
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < nPos; p++) {
      const c = b * nPos + p;
      if (weight(c)) {
        mean[p] += errors[c];
        count[p]++;
      }
    }
  }
  for (let p = 0; p < nPos; p++) mean[p] = count[p] > 0 ? mean[p] / count[p] : NaN;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < nPos; p++) {
      const c = b * nPos + p;
      if (weight(c)) std[p] += (errors[c] - mean[p]) ** 2;
    }
  }
  for (let p = 0; p < nPos; p++) std[p] = count[p] > 1 ? Math.sqrt(std[p] / (count[p] - 1)) : NaN;

  const boot = new Float64Array(resamples * nPos); // [resample, position]
  const sums = new Float64Array(nPos), counts = new Float64Array(nPos);
  for (let r = 0; r < resamples; r++) {
    sums.fill(0);
    counts.fill(0);
    for (let t = 0; t < batch; t++) {
      const base = rng.int(batch) * nPos;
      for (let p = 0; p < nPos; p++) {
        const w = weight(base + p);
        if (w) {
          sums[p] += errors[base + p];
          counts[p]++;
        }
      }
    }
    for (let p = 0; p < nPos; p++) boot[r * nPos + p] = counts[p] > 0 ? sums[p] / counts[p] : NaN;
  }
  const lo = new Float64Array(nPos), hi = new Float64Array(nPos);
  const column = new Float64Array(resamples);
  for (let p = 0; p < nPos; p++) {
    let m = 0;
    for (let r = 0; r < resamples; r++) {
      const v = boot[r * nPos + p];
      if (!Number.isNaN(v)) column[m++] = v;
    }
    const sorted = column.subarray(0, m).sort();
    lo[p] = quantile(sorted, opts.loQuantile ?? 0.05);
    hi[p] = quantile(sorted, opts.hiQuantile ?? 0.95);
  }
  return { mean, std, lo, hi, count };
}

/** Quantile of sorted values with linear interpolation (numpy's and torch's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be in [0, 1], got ${q}`);
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q, i = Math.floor(h);
  return i + 1 < n ? sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]) : sorted[n - 1];
}

/** Concatenates per-batch [B_k, P] arrays (e.g. 20 batches of 64 → 1280 prompts). */
export function concatRows<T extends Float64Array | Float32Array>(parts: T[]): T {
  if (parts.length === 0) throw new Error("concatRows: parts must not be empty");
  const total = parts.reduce((s, a) => s + a.length, 0);
  const out = new (parts[0].constructor as new (n: number) => T)(total);
  let off = 0;
  for (const a of parts) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}
