/**
 * What one task's suite is, apart from running it: the spec an experiment script builds (task,
 * architectures, size grid, training recipe, seeds, evaluation), and the pure helpers the
 * runner needs from it (model configs per size, checkpoint steps, training FLOPs along a
 * curriculum, the late range, the slow baselines' positions).
 */
import { Rng } from "../../core/rng.ts";
import type { Tensor } from "../../core/tensor.ts";
import type { Backend } from "../../core/backend.ts";
import { type ICLModel, type ModelConfig, resolveConfig, trainingFlops } from "../../nn/mod.ts";
import { type Curriculum, curriculumAt } from "../../tasks/curriculum.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import { type ArchName, modelConfig, type ModelSize } from "./archs.ts";
import type { EvalResult } from "./evaluate.ts";
import type { ScheduleKind } from "./trainer.ts";

/** Value and interval (bootstrap 5–95% over prompts, or min–max over seeds). */
export interface Estimate {
  value: number;
  ci: [number, number];
}

/** A model's evaluation: the per-position curve and the number the marks use. */
export interface ModelEval extends Estimate {
  curve: EvalResult;
  /** Further numbers reported next to the main one (e.g. CoT's teacher-forced error). */
  extra?: Record<string, Estimate>;
}

/** Task-specific heads (CoT-I/O): the model's output width, its loss and its evaluation. */
export interface TaskHead {
  outDim: number;
  loss(model: ICLModel, batch: IclBatch, backend: Backend): Tensor;
  evaluate(
    model: ICLModel,
    batches: IclBatch[],
    backend: Backend,
    late: [number, number],
    seed: number,
  ): Promise<ModelEval>;
}

/** The training recipe of a suite (one per protocol and preset, see presets.ts). */
export interface Recipe {
  /** Model sizes, smallest first; the last is the reference size of the equal-steps view. */
  sizes: ModelSize[];
  /** Per-architecture grids of the same length (Grazzi's S4 is 435 wide where others are 256). */
  archSizes?: Partial<Record<ArchName, ModelSize[]>>;
  norm: "layer" | "rms";
  steps: number;
  batch: number;
  lr: number;
  /** Learning rates that differ by architecture (Grazzi: S4 1e-3 where the others use 1e-4). */
  lrFor?: Partial<Record<ArchName, number>>;
  schedule: ScheduleKind;
  warmup: number;
  optimizer: "adam" | "adamw";
  /** Weight decay; undefined: the optimizer's default (Adam 0, AdamW 0.01). */
  weightDecay?: number;
  /** Global gradient-norm clip, 0 for none. */
  clip: number;
  seeds: number[];
  /** Fractions of the steps at which checkpoints are evaluated (sorted, the last is 1). */
  fractions: number[];
  /** Steps of the moving average of the last-point loss that picks the best checkpoint; 0: off. */
  emaSpan: number;
  evalPrompts: number;
  curvePrompts: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Prompts for the slow baselines (nn_gd, xgboost, trees, lasso), at a grid of positions. */
  heavyPrompts: number;
}

/** Everything one task's run needs. */
export interface SuiteSpec extends Recipe {
  /** Task key (a Fig. 1a row, e.g. "linear_regression"); also the sub-folder name. */
  key: string;
  /** Sub-folder name when one task is run in several settings (default: key). */
  dir?: string;
  title: string;
  /** One line of settings, printed and stored. */
  description: string;
  /** "park" or "grazzi": whose training recipe the defaults follow. */
  protocol: string;
  task: Task;
  curriculum?: Curriculum;
  models: ArchName[];
  baselines: string[];
  /** Prediction positions [from, to) averaged into the mark metric. */
  late: [number, number];
  /** Label of the mark metric. */
  metric: string;
  /** Y label of the per-position figure when it differs from the mark metric (CoT-I/O). */
  curveMetric?: string;
  xLabel: string;
  /** Trivial predictor: a fixed value (parity's no-context chance) or the zero predictor. */
  trivial: { name: string; value?: number };
  /** Marks: fraction of the trivial error to remove to count as learning (marks.ts). */
  learn?: number;
  /** Every departure from the paper's settings, in words. */
  departures: string[];
  head?: TaskHead;
}

/** The late quarter of the prediction positions: [floor(0.75 P), P). */
export function lateRange(positions: number): [number, number] {
  return [Math.min(Math.floor(positions * 0.75), positions - 1), positions];
}

/** Full-length sequence of a task (what the evaluation feeds). */
export function seqLenOf(task: Task, cur?: { nDims: number; nPoints: number }): number {
  return task.sample(new Rng(0), 1, cur).seqLen;
}

/** The size grid of one architecture. */
export function sizesOf(spec: Recipe, arch: ArchName): ModelSize[] {
  return spec.archSizes?.[arch] ?? spec.sizes;
}

/** The learning rate of one architecture. */
export function lrOf(spec: Recipe, arch: ArchName): number {
  return spec.lrFor?.[arch] ?? spec.lr;
}

/** The model config of an architecture at a size, for this spec's task. */
export function specConfig(spec: SuiteSpec, arch: ArchName, size: ModelSize): ModelConfig {
  const io = { tokenDim: spec.task.tokenDim, outDim: spec.head?.outDim ?? spec.task.outDim };
  return modelConfig(arch, size, io, seqLenOf(spec.task), spec.norm);
}

/** The steps at which checkpoints are evaluated: round(f · steps), at least 1, no repeats. */
export function checkpointSteps(steps: number, fractions: number[]): number[] {
  const set = new Set(fractions.map((f) => Math.max(1, Math.round(f * steps))));
  set.add(steps);
  return [...set].filter((s) => s <= steps).sort((a, b) => a - b);
}

/** Throws (naming the field) unless every model config of the spec is valid. */
export function validateSpec(spec: SuiteSpec): void {
  for (const m of spec.models) {
    const grid = sizesOf(spec, m);
    if (grid.length !== spec.sizes.length) {
      throw new Error(
        `${spec.key}: ${m} has ${grid.length} sizes, the others ${spec.sizes.length}`,
      );
    }
    for (const size of grid) resolveConfig(specConfig(spec, m, size));
  }
  if (spec.late[0] < 0 || spec.late[1] <= spec.late[0]) {
    throw new Error(`${spec.key}: empty late range [${spec.late}]`);
  }
}

/** Training FLOPs over `steps` steps, following the curriculum's sequence lengths. */
export function trainFlops(
  cfg: ModelConfig,
  task: Task,
  curriculum: Curriculum | undefined,
  batch: number,
  steps: number,
): number {
  if (!curriculum) return trainingFlops(cfg, seqLenOf(task)) * batch * steps;
  let total = 0;
  for (let t = 0; t < steps;) {
    const cur = curriculumAt(curriculum, t);
    const next = (s: Curriculum["dims"]) =>
      s.inc > 0 && Math.min(s.start + s.inc * Math.floor(t / s.interval), s.end) < s.end
        ? (Math.floor(t / s.interval) + 1) * s.interval
        : Infinity;
    const end = Math.min(steps, next(curriculum.dims), next(curriculum.points));
    total += trainingFlops(cfg, seqLenOf(task, cur)) * batch * (end - t);
    t = end;
  }
  return total;
}

/** Positions where the slow baselines run: about 6 spread out plus 4 in the late range. */
export function heavyPositions(n: number, late: [number, number]): number[] {
  const set = new Set<number>();
  for (let k = 0; k <= 5; k++) set.add(Math.round((k * (late[0] - 1)) / 5));
  for (let k = 0; k < 4; k++) set.add(Math.round(late[0] + (k * (late[1] - 1 - late[0])) / 3));
  return [...set].filter((p) => p >= 0 && p < n).sort((a, b) => a - b);
}
