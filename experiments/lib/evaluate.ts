/**
 * Evaluation as in Garg et al.: fresh prompts (1,280 by default, in batches of 64), per-position
 * error or accuracy, bootstrap 5–95% bands over prompts.
 */
import type { Backend } from "../../core/backend.ts";
import { Rng } from "../../core/rng.ts";
import { batchErrors, concatRows, type PositionStats, positionStats } from "../../tasks/metrics.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import { predictHost, type SequenceModel } from "./icl.ts";

export interface EvalOptions {
  prompts: number;
  batch?: number;
  seed: number;
  /** Prompt length (length extrapolation evaluates beyond the training length). */
  nPoints?: number;
  nDims?: number;
}

export interface EvalResult {
  /** [prompts, P] per-prompt, per-position error (or accuracy). */
  errors: Float64Array;
  mask?: Float32Array;
  prompts: number;
  positions: number;
  stats: PositionStats;
}

/** The evaluation prompts for a seed: the same for every model, so comparisons are paired. */
export function evalBatches(task: Task, opts: EvalOptions): IclBatch[] {
  const rng = new Rng(opts.seed).fork("eval");
  const bs = opts.batch ?? 64;
  const out: IclBatch[] = [];
  for (let done = 0; done < opts.prompts; done += bs) {
    out.push(
      task.sample(rng, Math.min(bs, opts.prompts - done), {
        nPoints: opts.nPoints,
        nDims: opts.nDims,
      }),
    );
  }
  return out;
}

export async function evaluateModel(
  model: SequenceModel,
  task: Task,
  batches: IclBatch[],
  backend: Backend,
  bootstrapSeed = 0,
): Promise<EvalResult> {
  const errs: Float64Array[] = [], masks: Float32Array[] = [];
  // Batches per readback: the predictions are small, the forward's temporaries die per batch.
  const GROUP = 16;
  for (let g = 0; g < batches.length; g += GROUP) {
    const group = batches.slice(g, g + GROUP);
    const preds = await predictHost(model, group, backend);
    group.forEach((b, i) => {
      const { errors, mask } = batchErrors(task, b, preds[i]);
      errs.push(errors);
      if (mask) masks.push(mask);
    });
  }
  return summarize(errs, masks, batches, bootstrapSeed);
}

/** Baseline predictions [B, N] scored like a model's. */
export function evaluatePredictions(
  task: Task,
  batches: IclBatch[],
  predict: (b: IclBatch) => Float32Array,
  bootstrapSeed = 0,
): EvalResult {
  const errs: Float64Array[] = [], masks: Float32Array[] = [];
  for (const b of batches) {
    const { errors, mask } = batchErrors(task, b, predict(b));
    errs.push(errors);
    if (mask) masks.push(mask);
  }
  return summarize(errs, masks, batches, bootstrapSeed);
}

function summarize(
  errs: Float64Array[],
  masks: Float32Array[],
  batches: IclBatch[],
  seed: number,
): EvalResult {
  const errors = concatRows(errs);
  const mask = masks.length ? concatRows(masks) : undefined;
  const positions = batches[0].predPos.length;
  const prompts = errors.length / positions;
  const stats = positionStats(errors, prompts, positions, { seed, mask });
  return { errors, mask, prompts, positions, stats };
}

/**
 * Mean over the positions [from, to) per prompt, then the mean over prompts with a bootstrap
 * 5–95% interval (one number per model, e.g. late-position parity accuracy).
 */
export function rangeMean(
  r: EvalResult,
  from: number,
  to: number,
  seed = 0,
  resamples = 1000,
): { value: number; ci: [number, number] } {
  const per = new Float64Array(r.prompts);
  // Prompts with nothing scored in the range (all outliers) are left out, not counted as NaN.
  const counted = new Float32Array(r.prompts);
  for (let p = 0; p < r.prompts; p++) {
    let s = 0, c = 0;
    for (let j = from; j < to; j++) {
      const w = r.mask ? r.mask[p * r.positions + j] : 1;
      if (w) {
        s += r.errors[p * r.positions + j];
        c++;
      }
    }
    per[p] = c ? s / c : NaN;
    counted[p] = c ? 1 : 0;
  }
  const mask = counted.includes(0) ? counted : undefined;
  const st = positionStats(per, r.prompts, 1, { seed, resamples, mask });
  return { value: st.mean[0], ci: [st.lo[0], st.hi[0]] };
}
