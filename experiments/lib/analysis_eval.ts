/**
 * Scoring shared by exp:ood and exp:length: a trained model and the classical baselines on the
 * same prompts, per-position curves and the late-position mean with its bootstrap interval.
 */
import type { Backend } from "../../core/backend.ts";
import type { ICLModel } from "../../nn/mod.ts";
import { baselineInput, BASELINES, BASELINES_FOR_TASK } from "../../tasks/baselines.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import { type EvalResult, evaluateModel, evaluatePredictions, rangeMean } from "./evaluate.ts";
import type { Estimate } from "./spec.ts";

/** A curve (mean per position, normalized by the task) and its late mean. */
export interface Scored extends Estimate {
  curve: number[];
}

const arr = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : NaN));

/** Per-position mean and the mean over positions [from, to) (masked positions left out). */
export function scored(r: EvalResult, from: number, to: number, seed: number): Scored {
  return { curve: arr(r.stats.mean), ...rangeMean(r, from, to, seed) };
}

/** The baselines Garg's plots draw for a task (outlier tasks: least squares), plus zero. */
export function baselinesFor(taskKey: string): string[] {
  return ["zero", ...(BASELINES_FOR_TASK[taskKey] ?? ["least_squares"])].filter((b) =>
    !["nn_gd", "xgboost", "greedy_tree", "greedy_tree_depth4", "lasso"].includes(b)
  );
}

/** The model's result on `batches`, or the baselines'. */
export async function scoreModel(
  model: ICLModel,
  task: Task,
  batches: IclBatch[],
  backend: Backend,
  late: (positions: number) => [number, number],
  seed: number,
): Promise<Scored> {
  const r = await evaluateModel(model, task, batches, backend, seed);
  return scored(r, ...late(r.positions), seed);
}

export function scoreBaselines(
  names: string[],
  task: Task,
  batches: IclBatch[],
  late: (positions: number) => [number, number],
  seed: number,
): Record<string, Scored> {
  const out: Record<string, Scored> = {};
  for (const name of names) {
    const r = evaluatePredictions(task, batches, (b) => BASELINES[name](baselineInput(b)), seed);
    out[name] = scored(r, ...late(r.positions), seed);
  }
  return out;
}
