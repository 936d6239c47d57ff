/**
 * The shared runner of the Fig. 1a experiments: train a list of models on one task with its
 * curriculum for the same number of steps, evaluate all of them on the same test prompts
 * (per-position errors with bootstrap bands, and one late-position number per model), run the
 * task's classical baselines and the trivial predictor on those prompts, assign the ✓/▲/✗ marks
 * (marks.ts), and write per-run metrics, two SVG figures and a summary.
 *
 * Layers follow the paper's convention (A.2: "2 blocks of either Mamba, Multi-head Attention,
 * or a Feed Forward Network as 1 layer"): L layers = L GPT-2 blocks, 2L Mamba blocks, or a
 * MambaFormer of 2L mixers (initial Mamba, then L (attention, Mamba) pairs minus one Mamba), so
 * equal-depth models have roughly equal parameter counts.
 */
import type { Backend } from "../../core/backend.ts";
import { Rng } from "../../core/rng.ts";
import type { Tensor } from "../../core/tensor.ts";
import {
  constantSchedule,
  type ICLModel,
  makeModel,
  type ModelConfig,
  resolveConfig,
  trainingFlops,
} from "../../nn/mod.ts";
import { baselineInput, BASELINES } from "../../tasks/baselines.ts";
import { type Curriculum, curriculumAt } from "../../tasks/curriculum.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import { errorCurveSvg, type PlotSeries } from "../plot.ts";
import {
  evalBatches,
  type EvalResult,
  evaluateModel,
  evaluatePredictions,
  rangeMean,
} from "./evaluate.ts";
import { writeAtomic } from "./files.ts";
import { assignMarks, type Mark, PAPER_MARKS } from "./marks.ts";
import { fmtTime } from "./progress.ts";
import { NonFiniteLossError, train } from "./trainer.ts";

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

/** Baselines that get a grid of positions and `heavyPrompts` prompts instead of everything. */
const HEAVY = new Set(["nn_gd", "xgboost", "greedy_tree", "greedy_tree_depth4", "lasso"]);

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
function seqLenOf(task: Task, cur?: { nDims: number; nPoints: number }): number {
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

async function defaultEval(
  model: ICLModel,
  task: Task,
  batches: IclBatch[],
  backend: Backend,
  late: [number, number],
  seed: number,
): Promise<ModelEval> {
  const curve = await evaluateModel(model, task, batches, backend, seed);
  return { curve, ...rangeMean(curve, late[0], late[1], seed) };
}

/** Marks NaN (not evaluated) cells as not counted, then the late mean. */
function maskedLate(r: EvalResult, late: [number, number], seed: number): Estimate {
  const mask = new Float32Array(r.errors.length);
  for (let c = 0; c < mask.length; c++) {
    mask[c] = (r.mask ? r.mask[c] : 1) && Number.isFinite(r.errors[c]) ? 1 : 0;
  }
  return rangeMean({ ...r, mask }, late[0], late[1], seed);
}

interface CachedRun {
  done: true;
  row: ModelRow;
  mean: number[];
  lo: number[];
  hi: number[];
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

/** Learning-curve points logged by earlier sessions of a resumed run (metrics.jsonl "late"). */
async function readEarlierCurve(path: string): Promise<{ step: number; value: number }[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l))
    .filter((r) => typeof r.late === "number").map((r) => ({ step: r.step, value: r.late }));
}

/** Adds earlier points to `curve` where this session has none at that step; sorts by step. */
function mergeEarlierCurve(
  curve: { step: number; value: number }[],
  earlier: { step: number; value: number }[],
): void {
  const have = new Set(curve.map((c) => c.step));
  for (const c of earlier) if (!have.has(c.step)) curve.push(c);
  curve.sort((a, b) => a.step - b.step);
}

const arr = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : NaN));

/** Train, evaluate and mark every model of `spec`; writes into `dir`. */
export async function runSuite(
  spec: SuiteSpec,
  backend: Backend,
  opts: { dir: string; seed: number; resume: boolean },
): Promise<SuiteSummary> {
  const { dir, seed } = opts;
  const task = spec.task;
  await Deno.mkdir(dir, { recursive: true });
  console.log(`\n== ${spec.title}: ${spec.description}`);
  for (const d of spec.departures) console.log(`  departure from the paper: ${d}`);
  const finalSet = evalBatches(task, { prompts: spec.evalPrompts, seed: 20_000 + seed });
  const curveSet = evalBatches(task, { prompts: spec.curvePrompts, seed: 10_000 + seed });
  const positions = finalSet[0].predPos.length;
  const maxLen = seqLenOf(task);
  const higherIsBetter = task.metric === "accuracy";
  const evalFn = (m: ICLModel, b: IclBatch[]) =>
    spec.head
      ? spec.head.evaluate(m, b, backend, spec.late, seed)
      : defaultEval(m, task, b, backend, spec.late, seed);

  // Trivial predictor and baselines on the same prompts.
  const curves: PlotSeries[] = [];
  let trivial: BaselineRow;
  if (spec.trivial.value !== undefined) {
    const v = spec.trivial.value;
    trivial = {
      name: spec.trivial.name,
      value: v,
      ci: [v, v],
      prompts: 0,
      positions: "all",
      seconds: 0,
    };
    curves.push({ name: spec.trivial.name, x: [0, positions - 1], y: [v, v], dashed: true });
  } else {
    const zero = (b: IclBatch) => new Float32Array(b.batch * b.predPos.length * b.outDim);
    const r = evaluatePredictions(task, finalSet, zero, seed);
    trivial = {
      name: spec.trivial.name,
      ...maskedLate(r, spec.late, seed),
      prompts: r.prompts,
      positions: "all",
      seconds: 0,
    };
    curves.push({
      name: spec.trivial.name,
      x: [...r.stats.mean.keys()],
      y: arr(r.stats.mean),
      dashed: true,
    });
  }
  const baselines: BaselineRow[] = [];
  for (const name of spec.baselines) {
    const heavy = HEAVY.has(name);
    const sets = heavy ? finalSet.slice(0, Math.ceil(spec.heavyPrompts / 64)) : finalSet;
    const pos = heavy ? heavyPositions(positions, spec.late) : undefined;
    const t0 = performance.now();
    const r = evaluatePredictions(
      task,
      sets,
      (b) => BASELINES[name](baselineInput(b), { positions: pos, seed }),
      seed,
    );
    const row: BaselineRow = {
      name,
      ...maskedLate(r, spec.late, seed),
      prompts: r.prompts,
      positions: pos ?? "all",
      seconds: (performance.now() - t0) / 1000,
    };
    baselines.push(row);
    const xs = pos ?? [...r.stats.mean.keys()];
    curves.push({
      name,
      x: xs,
      y: xs.map((p) => r.stats.mean[p]),
      // Bands only where the baseline saw every prompt (the slow ones' few prompts clutter).
      lo: heavy ? undefined : xs.map((p) => r.stats.lo[p]),
      hi: heavy ? undefined : xs.map((p) => r.stats.hi[p]),
      dashed: true,
    });
    console.log(
      `  baseline ${name}: ${fmtV(row.value)} [${
        row.ci.map(fmtV).join(", ")
      }] on ${r.prompts} prompts` +
        `${pos ? ` at positions ${pos.join(",")}` : ""} (${fmtTime(row.seconds)})`,
    );
  }

  // Models.
  const rows: ModelRow[] = [];
  const modelCurves: PlotSeries[] = [];
  for (const name of spec.models) {
    const cfg = modelConfig(name, spec.size, task, maxLen, spec.head?.outDim);
    const runDir = `${dir}/${name}-seed${seed}`;
    await Deno.mkdir(runDir, { recursive: true });
    const cached = opts.resume ? await readJson<CachedRun>(`${runDir}/result.json`) : undefined;
    if (cached?.done && cached.row.steps === spec.steps) {
      console.log(`  ${name}: finished earlier, reusing ${runDir}/result.json`);
      rows.push(cached.row);
      modelCurves.push(modelSeries(name, cached.mean, cached.lo, cached.hi));
      continue;
    }
    if (!opts.resume) {
      // A fresh run in an old folder must not append to, or reuse, the old run's files.
      for (const f of ["metrics.jsonl", "progress.json", "result.json", "checkpoint.safetensors"]) {
        await Deno.remove(`${runDir}/${f}`).catch(() => {});
      }
    }
    await writeAtomic(
      `${runDir}/config.json`,
      JSON.stringify({ task: spec.key, description: spec.description, seed, model: cfg }, null, 2),
    );
    const model = makeModel(cfg, { seed, backend });
    const label = `${spec.dir ?? spec.key}/${name}`;
    const curve: { step: number; value: number }[] = [];
    const prior =
      (opts.resume ? await readJson<{ seconds: number }>(`${runDir}/progress.json`) : undefined)
        ?.seconds ?? 0;
    let error: string | undefined, steps = 0, seconds = 0;
    const t0 = performance.now();
    try {
      const res = await train(model, task, backend, {
        steps: spec.steps,
        batch: spec.batch,
        lr: spec.lr,
        schedule: constantSchedule(spec.lr),
        clip: spec.clip,
        seed,
        curriculum: spec.curriculum,
        logEvery: 25,
        evalEvery: spec.evalEvery,
        onEval: async (step) => {
          const ev = await evalFn(model, curveSet);
          curve.push({ step, value: ev.value });
          await writeAtomic(
            `${runDir}/progress.json`,
            JSON.stringify({ step, seconds: prior + (performance.now() - t0) / 1000 }),
          );
          return { late: ev.value };
        },
        runDir,
        checkpointEvery: spec.checkpointEvery,
        resume: opts.resume,
        label,
        config: { model: cfg },
        loss: spec.head ? (b) => spec.head!.loss(model, b, backend) : undefined,
      });
      steps = res.steps;
      seconds = prior + res.seconds;
    } catch (e) {
      if (!(e instanceof NonFiniteLossError)) throw e;
      error = e.message;
      seconds = prior + (performance.now() - t0) / 1000;
      console.error(e.message);
    }
    if (opts.resume) mergeEarlierCurve(curve, await readEarlierCurve(`${runDir}/metrics.jsonl`));
    const ev = await evalFn(model, finalSet);
    const row: ModelRow = {
      model: name,
      params: model.numParams(),
      flops: trainFlops(cfg, task, spec.curriculum, spec.batch, steps),
      steps,
      seconds,
      metric: spec.metric,
      value: ev.value,
      ci: ev.ci,
      extra: ev.extra,
      curve,
      error,
    };
    model.dispose();
    rows.push(row);
    const st = ev.curve.stats;
    modelCurves.push(modelSeries(name, arr(st.mean), arr(st.lo), arr(st.hi)));
    if (!error) {
      const cache: CachedRun = {
        done: true,
        row,
        mean: arr(st.mean),
        lo: arr(st.lo),
        hi: arr(st.hi),
      };
      await writeAtomic(`${runDir}/result.json`, JSON.stringify(cache));
    }
    console.log(
      `  ${name}: ${fmtV(row.value)} [${row.ci.map(fmtV).join(", ")}] after ${steps} steps, ` +
        `${fmtTime(seconds)} (${row.params.toLocaleString("en-US")} params)`,
    );
  }

  // Marks.
  const marks = assignMarks(rows, {
    higherIsBetter,
    trivial: trivial.value,
    learn: spec.learn,
  });
  const paper = PAPER_MARKS[spec.key] ?? {};
  rows.forEach((r, i) => {
    r.mark = marks[i].mark;
    r.normalized = marks[i].normalized;
    r.reason = marks[i].reason;
    r.paperMark = paper[r.model];
  });
  const compared = rows.filter((r) => r.paperMark);
  const agree = compared.filter((r) => r.mark === r.paperMark).length;
  const verdict = `${spec.title}: ` +
    rows.map((r) => `${r.model} ${r.mark}${r.paperMark ? ` (paper ${r.paperMark})` : ""}`).join(
      ", ",
    ) +
    (compared.length ? `; ${agree}/${compared.length} marks agree with the paper` : "");

  // Figures.
  const yMax = higherIsBetter ? 1 : Math.max(trivial.value, 1e-9) * 1.25;
  const figures = ["error_vs_examples.svg", "learning_curves.svg"];
  await writeAtomic(
    `${dir}/${figures[0]}`,
    errorCurveSvg({
      title: spec.title,
      xLabel: `${spec.xLabel} (${spec.evalPrompts} test prompts, 5–95% bands)`,
      yLabel: spec.curveMetric ?? spec.metric.replace(/ \(.*$/, ""),
      series: [...modelCurves, ...curves],
      yMax,
    }),
  );
  const lc: PlotSeries[] = rows.filter((r) => r.curve.length).map((r) => ({
    name: r.model,
    x: r.curve.map((c) => c.step),
    y: r.curve.map((c) => c.value),
  }));
  lc.push({
    name: trivial.name,
    x: [0, spec.steps],
    y: [trivial.value, trivial.value],
    dashed: true,
  });
  await writeAtomic(
    `${dir}/${figures[1]}`,
    errorCurveSvg({
      title: `${spec.title}: during training`,
      xLabel: `training step (late positions of ${spec.curvePrompts} prompts)`,
      yLabel: spec.metric.replace(/ \(.*$/, ""),
      series: lc,
      yMax,
    }),
  );

  const summary: SuiteSummary = {
    task: spec.key,
    dir: spec.dir ?? spec.key,
    title: spec.title,
    description: spec.description,
    departures: spec.departures,
    settings: {
      nDims: task.nDims,
      nPoints: task.nPoints,
      curriculum: spec.curriculum ?? null,
      size: spec.size,
      steps: spec.steps,
      batch: spec.batch,
      lr: spec.lr,
      clip: spec.clip,
      evalPrompts: spec.evalPrompts,
      heavyPrompts: spec.heavyPrompts,
      late: spec.late,
      seed,
      learn: spec.learn ?? null,
    },
    metric: spec.metric,
    higherIsBetter,
    trivial,
    models: rows,
    baselines,
    verdict,
    figures,
  };
  await writeAtomic(`${dir}/summary.json`, JSON.stringify(summary, null, 2));
  printSuiteTable(summary);
  return summary;
}

function modelSeries(name: string, mean: number[], lo: number[], hi: number[]): PlotSeries {
  return { name, x: mean.map((_, i) => i), y: mean, lo, hi };
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

function printSuiteTable(s: SuiteSummary): void {
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
