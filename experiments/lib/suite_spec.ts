/**
 * What a Fig. 1a suite is, apart from running it (suite.ts): the spec an experiment script
 * fills in, the summary it gets back (the output contract's fields), the model configs at the
 * paper's layer convention, training FLOPs along a curriculum, and the Markdown table.
 *
 * Layers follow the paper's convention (A.2: "2 blocks of either Mamba, Multi-head Attention,
 * or a Feed Forward Network as 1 layer"): L layers = L GPT-2 blocks, 2L Mamba blocks, or a
 * MambaFormer of 2L mixers (initial Mamba, then L (attention, Mamba) pairs minus one Mamba), so
 * equal-depth models have roughly equal parameter counts.
 */
import { Rng } from "../../core/rng.ts";
import type { Tensor } from "../../core/tensor.ts";
import { type ICLModel, type ModelConfig, resolveConfig, trainingFlops } from "../../nn/mod.ts";
import { type Curriculum, curriculumAt } from "../../tasks/curriculum.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import type { Backend } from "../../core/backend.ts";
import type { EvalResult } from "./evaluate.ts";
import type { Mark } from "./marks.ts";
import { fmtTime } from "./progress.ts";

/** Models a suite can train ("transformer_nope": GPT-2 without positions, for MQAR). */
export const MODEL_NAMES = ["transformer", "mamba", "mambaformer", "transformer_nope"] as const;
export type ModelName = typeof MODEL_NAMES[number];

/** Width, depth (paper layers) and heads shared by the models of a suite. */
export interface ModelSize {
  width: number;
  layers: number;
  heads: number;
}

/** Value and bootstrap 5–95% interval. */
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

/** Everything one task's run needs. */
export interface SuiteSpec {
  /** Task key (a Fig. 1a row, e.g. "linear_regression"); also the sub-folder name. */
  key: string;
  /** Sub-folder name when one task is run in several settings (default: key). */
  dir?: string;
  title: string;
  /** One line of settings, printed and stored. */
  description: string;
  task: Task;
  curriculum?: Curriculum;
  models: ModelName[];
  size: ModelSize;
  steps: number;
  batch: number;
  lr: number;
  clip: number;
  evalPrompts: number;
  curvePrompts: number;
  evalEvery: number;
  checkpointEvery: number;
  baselines: string[];
  /** Prompts for the slow baselines (nn_gd, xgboost, trees, lasso), at a grid of positions. */
  heavyPrompts: number;
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

/** One trained model in a suite's summary (the output contract's fields first). */
export interface ModelRow extends Estimate {
  model: string;
  params: number;
  flops: number;
  steps: number;
  seconds: number;
  metric: string;
  mark?: Mark;
  paperMark?: Mark;
  normalized?: number;
  reason?: string;
  extra?: Record<string, Estimate>;
  curve: { step: number; value: number }[];
  error?: string;
}

/** A baseline or the trivial predictor in a suite's summary. */
export interface BaselineRow extends Estimate {
  name: string;
  prompts: number;
  positions: number[] | "all";
  seconds: number;
}

/** What `runSuite` returns and writes to `summary.json`. */
export interface SuiteSummary {
  task: string;
  /** Sub-folder of the run (differs from task for MQAR's settings). */
  dir: string;
  title: string;
  description: string;
  departures: string[];
  settings: Record<string, unknown>;
  metric: string;
  higherIsBetter: boolean;
  trivial: BaselineRow;
  models: ModelRow[];
  baselines: BaselineRow[];
  verdict: string;
  figures: string[];
}

/** The late quarter of the prediction positions: [floor(0.75 P), P). */
export function lateRange(positions: number): [number, number] {
  return [Math.min(Math.floor(positions * 0.75), positions - 1), positions];
}

/** The model config of a suite model (paper layers converted to blocks, see the file doc). */
export function modelConfig(
  name: ModelName,
  size: ModelSize,
  task: Task,
  maxLen: number,
  outDim = task.outDim,
): ModelConfig {
  const cfg: ModelConfig = {
    arch: name === "transformer_nope" ? "transformer" : name,
    dModel: size.width,
    nLayer: name.startsWith("transformer") ? size.layers : 2 * size.layers,
    tokenDim: task.tokenDim,
    outDim,
  };
  if (name !== "mamba") cfg.nHead = size.heads;
  if (name === "transformer") cfg.maxLen = maxLen;
  if (name === "transformer_nope") cfg.posEmb = false;
  return cfg;
}

/** Full-length sequence of a task (what the evaluation feeds). */
export function seqLenOf(task: Task, cur?: { nDims: number; nPoints: number }): number {
  return task.sample(new Rng(0), 1, cur).seqLen;
}

/** Throws (naming the field) unless every model config of the spec is valid. */
export function validateSpec(spec: SuiteSpec): void {
  const maxLen = seqLenOf(spec.task);
  for (const m of spec.models) {
    resolveConfig(modelConfig(m, spec.size, spec.task, maxLen, spec.head?.outDim));
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

/** Compact number: 3 decimals, or exponent form for tiny values. */
export function fmtV(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}

/** The suite's Markdown table: models with marks, then baselines and the trivial predictor. */
export function suiteTable(s: SuiteSummary): string {
  const lines = [
    `| model | params | train FLOPs | steps | wall time | ${s.metric} | 5–95% | normalized | mark (paper) |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | :---: |",
  ];
  for (const r of s.models) {
    lines.push(
      `| ${r.model} | ${r.params.toLocaleString("en-US")} | ${
        r.flops.toExponential(2)
      } | ${r.steps} | ${fmtTime(r.seconds)} | ${fmtV(r.value)} | [${
        r.ci.map(fmtV).join(", ")
      }] | ${fmtV(r.normalized ?? NaN)} | ${r.mark ?? "?"} (${r.paperMark ?? "–"}) |`,
    );
  }
  for (const b of [...s.baselines, s.trivial]) {
    const where = b.positions === "all"
      ? ""
      : ` (${b.prompts} prompts, positions ${b.positions.join(",")})`;
    lines.push(
      `| *${b.name}*${where} | | | | | ${fmtV(b.value)} | [${b.ci.map(fmtV).join(", ")}] | | |`,
    );
  }
  return lines.join("\n");
}

/** Prints the table, the models' extra estimates and the verdict. */
export function printSuiteTable(s: SuiteSummary): void {
  console.log("");
  console.log(suiteTable(s));
  for (const r of s.models) {
    if (r.extra) {
      for (const [k, e] of Object.entries(r.extra)) {
        console.log(`  ${r.model} ${k}: ${fmtV(e.value)} [${e.ci.map(fmtV).join(", ")}]`);
      }
    }
  }
  console.log(`verdict: ${s.verdict}`);
}
