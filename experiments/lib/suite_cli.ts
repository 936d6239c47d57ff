/**
 * Command line and multi-task runs shared by the Fig. 1a scripts (table1, regression, outliers,
 * cot, mqar): the common flags and their validation (exit 2 before anything is written), the
 * command-line overrides of a task spec, and the runner that puts each task's suite in
 * `<out>/<task>/` and combines the summaries.
 */
import { initBackend } from "../../core/device_select.ts";
import { Rng } from "../../core/rng.ts";
import type { Curriculum } from "../../tasks/curriculum.ts";
import type { Task } from "../../tasks/task.ts";
import { choiceFlag, fail, type FlagSpec, intFlag, numFlag } from "./cli.ts";
import { timestamp, writeAtomic } from "./files.ts";
import { fig1aMarkdown } from "./marks.ts";
import { fmtTime } from "./progress.ts";
import {
  lateRange,
  MODEL_NAMES,
  type ModelName,
  type ModelRow,
  runSuite,
  type SuiteSpec,
  type SuiteSummary,
  type TaskHead,
  validateSpec,
} from "./suite.ts";

/** Flags every Fig. 1a script accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  preset: {
    type: "string",
    default: "quick",
    help: "quick (sized for a 2-core CPU machine; every departure from the paper is listed) or " +
      "paper (the paper's sizes, N, curricula, 500k steps, checkpoints every 1000 steps; for a GPU)",
  },
  tasks: { type: "string", help: "comma-separated subset of this script's tasks (default: all)" },
  models: {
    type: "string",
    help: `comma-separated models from ${MODEL_NAMES.join(", ")} (default: the script's)`,
  },
  steps: { type: "string", help: "training steps per model (default: the preset's)" },
  batch: { type: "string", help: "prompts per training step" },
  lr: { type: "string", help: "Adam learning rate (constant)" },
  width: { type: "string", help: "model width d_model" },
  layers: { type: "string", help: "paper layers (1 layer = 1 GPT-2 block = 2 Mamba blocks)" },
  heads: { type: "string", help: "attention heads (must divide the width)" },
  "eval-prompts": { type: "string", help: "test prompts shared by every model and baseline" },
  "eval-every": { type: "string", help: "steps between learning-curve evaluations" },
  "baseline-prompts": {
    type: "string",
    help: "prompts for the slow baselines (2-layer NN GD, XGBoost-style boosting, trees, lasso)",
  },
  "no-baselines": { type: "boolean", default: false, help: "skip the classical baselines" },
  seed: { type: "string", default: "1", help: "seed of the weights and training data" },
  backend: { type: "string", default: "auto", help: "auto (WebGPU, else CPU), webgpu, or cpu" },
  out: { type: "string", help: "run folder (default runs/<experiment>-<timestamp>)" },
  resume: {
    type: "boolean",
    default: false,
    help: "continue in --out: finished runs are reused, unfinished ones restart from checkpoints",
  },
  json: { type: "boolean", default: false, help: "print summary.json as the last line of stdout" },
};

/** The parsed common flags. */
export interface CommonOptions {
  preset: "quick" | "paper";
  tasks?: string[];
  models?: ModelName[];
  steps?: number;
  batch?: number;
  lr?: number;
  width?: number;
  layers?: number;
  heads?: number;
  evalPrompts?: number;
  evalEvery?: number;
  heavyPrompts?: number;
  noBaselines: boolean;
  seed: number;
  backend: "auto" | "webgpu" | "cpu";
  out?: string;
  resume: boolean;
  json: boolean;
}

/** Validates the common flags (exit 2 with a message on anything bad; nothing is written). */
export function parseCommon(
  name: string,
  f: Record<string, string | boolean | undefined>,
  taskKeys: readonly string[],
): CommonOptions {
  const s = (k: string) => f[k] as string | undefined;
  const int = (k: string) => (s(k) === undefined ? undefined : intFlag(name, k, s(k)!));
  const list = (k: string) => s(k)?.split(",").map((x) => x.trim()).filter(Boolean);
  const preset = choiceFlag(name, "preset", s("preset") ?? "quick", ["quick", "paper"] as const);
  const tasks = list("tasks")?.map((t) => choiceFlag(name, "tasks", t, taskKeys));
  if (tasks && !tasks.length) fail(name, "--tasks must name at least one task");
  const models = list("models")?.map((m) => choiceFlag(name, "models", m, MODEL_NAMES));
  if (models && !models.length) fail(name, "--models must name at least one model");
  return {
    preset,
    tasks,
    models,
    steps: int("steps"),
    batch: int("batch"),
    lr: s("lr") === undefined ? undefined : numFlag(name, "lr", s("lr")!),
    width: int("width"),
    layers: int("layers"),
    heads: int("heads"),
    evalPrompts: int("eval-prompts"),
    evalEvery: int("eval-every"),
    heavyPrompts: int("baseline-prompts"),
    noBaselines: f["no-baselines"] === true,
    seed: intFlag(name, "seed", s("seed") ?? "1", 0),
    backend: choiceFlag(
      name,
      "backend",
      s("backend") ?? "auto",
      ["auto", "webgpu", "cpu"] as const,
    ),
    out: s("out"),
    resume: f.resume === true,
    json: f.json === true,
  };
}

/** The spec with the command-line overrides applied. */
export function applyOverrides(spec: SuiteSpec, o: CommonOptions): SuiteSpec {
  const out: SuiteSpec = { ...spec, size: { ...spec.size } };
  if (o.models) out.models = o.models;
  if (o.steps) out.steps = o.steps;
  if (o.batch) out.batch = o.batch;
  if (o.lr) out.lr = o.lr;
  if (o.width) out.size.width = o.width;
  if (o.layers) out.size.layers = o.layers;
  if (o.heads) out.size.heads = o.heads;
  if (o.evalPrompts) {
    out.evalPrompts = o.evalPrompts;
    out.curvePrompts = Math.min(out.curvePrompts, o.evalPrompts);
  }
  if (o.evalEvery) out.evalEvery = o.evalEvery;
  if (o.heavyPrompts) out.heavyPrompts = o.heavyPrompts;
  if (o.noBaselines) out.baselines = [];
  out.heavyPrompts = Math.min(out.heavyPrompts, out.evalPrompts);
  const changed = (["steps", "batch", "lr", "width", "layers", "heads"] as const).filter((k) =>
    o[k] !== undefined
  );
  if (changed.length) {
    out.description += ` [overridden by flags: ${changed.map((k) => `${k}=${o[k]}`).join(", ")}]`;
  }
  return out;
}

/** Builds and validates the specs, turning any error into exit 2 before anything is written. */
export function buildSpecs(name: string, build: () => SuiteSpec[]): SuiteSpec[] {
  try {
    const specs = build();
    specs.forEach(validateSpec);
    return specs;
  } catch (e) {
    fail(name, (e as Error).message);
  }
}

/** One model of one task, flattened: a ModelRow's output-contract fields and marks, plus where. */
export type FlatRow =
  & Pick<
    ModelRow,
    | "model"
    | "params"
    | "flops"
    | "steps"
    | "seconds"
    | "metric"
    | "value"
    | "ci"
    | "mark"
    | "paperMark"
  >
  & {
    task: string;
    /** Sub-folder of the run (MQAR settings differ from the task key). */
    run: string;
  };

/** A multi-task run's summary.json. */
export interface FamilySummary {
  experiment: string;
  preset: string;
  backend: string;
  seed: number;
  wallSeconds: number;
  models: FlatRow[];
  tasks: SuiteSummary[];
  marksTable: string;
  verdict: string;
  [extra: string]: unknown;
}

/** Runs every spec into `<out>/<task>/`, then builds the combined summary (not yet written). */
export async function runFamily(
  experiment: string,
  specs: SuiteSpec[],
  o: CommonOptions,
): Promise<{ summary: FamilySummary; outDir: string }> {
  const outDir = o.out ?? `runs/${experiment}-${timestamp()}`;
  const backend = await initBackend(o.backend);
  await Deno.mkdir(outDir, { recursive: true });
  const t0 = performance.now();
  console.log(`${experiment}: preset ${o.preset}, ${specs.length} task(s), seed ${o.seed}`);
  console.log(`  backend ${backend.name} (${backend.description}); run folder ${outDir}`);
  const tasks: SuiteSummary[] = [];
  for (const spec of specs) {
    tasks.push(
      await runSuite(spec, backend, {
        dir: `${outDir}/${spec.dir ?? spec.key}`,
        seed: o.seed,
        resume: o.resume,
      }),
    );
  }
  const models: FlatRow[] = tasks.flatMap((t) =>
    t.models.map((r) => ({
      task: t.task,
      run: t.dir,
      model: r.model,
      params: r.params,
      flops: r.flops,
      steps: r.steps,
      seconds: r.seconds,
      metric: r.metric,
      value: r.value,
      ci: r.ci,
      mark: r.mark,
      paperMark: r.paperMark,
    }))
  );
  const fig = fig1aMarkdown(
    tasks.map((t) => ({
      task: t.task,
      marks: Object.fromEntries(t.models.map((r) => [r.model, r.mark])),
    })),
  );
  const verdict = fig.compared
    ? `${fig.agree}/${fig.compared} marks agree with the paper's Fig. 1a` +
      (fig.mismatches.length ? ` (differ: ${fig.mismatches.join("; ")})` : "")
    : "no marks to compare with the paper";
  return {
    summary: {
      experiment,
      preset: o.preset,
      backend: backend.description,
      seed: o.seed,
      wallSeconds: (performance.now() - t0) / 1000,
      models,
      tasks,
      marksTable: fig.table,
      verdict,
    },
    outDir,
  };
}

/** Writes summary.json, prints the marks table and verdict, and the JSON line with --json. */
export async function finishFamily(
  outDir: string,
  summary: FamilySummary,
  json: boolean,
): Promise<void> {
  await writeAtomic(`${outDir}/summary.json`, JSON.stringify(summary, null, 2));
  console.log(`\n${summary.marksTable}\n`);
  console.log(`verdict: ${summary.verdict}`);
  console.log(`total wall time ${fmtTime(summary.wallSeconds)}; wrote ${outDir}/summary.json`);
  if (json) console.log(JSON.stringify(summary));
}

/** Model size and training/evaluation budget of a preset (the task scripts add the task). */
export type PresetTraining = Pick<
  SuiteSpec,
  | "size"
  | "steps"
  | "batch"
  | "lr"
  | "clip"
  | "evalPrompts"
  | "curvePrompts"
  | "evalEvery"
  | "checkpointEvery"
  | "heavyPrompts"
>;

/**
 * The paper's budget: Garg's standard model (width 256, 12 layers, 8 heads; also the paper's
 * parity model and its CoT "Standard"), batch 64, 500k steps, Adam 1e-4 (the [MF] configs),
 * gradient clip 10, 1,280 test prompts, checkpoints every 1000 steps.
 */
export const PAPER_TRAINING: PresetTraining = {
  size: { width: 256, layers: 12, heads: 8 },
  steps: 500_000,
  batch: 64,
  lr: 1e-4,
  clip: 10,
  evalPrompts: 1280,
  curvePrompts: 256,
  evalEvery: 5000,
  checkpointEvery: 1000,
  heavyPrompts: 256,
};

/** The quick budget: small models, short runs, for a 2-core machine without a GPU. */
export const QUICK_TRAINING: PresetTraining = {
  size: { width: 32, layers: 1, heads: 4 },
  steps: 1000,
  batch: 16,
  lr: 2e-3,
  clip: 10,
  evalPrompts: 1280,
  curvePrompts: 128,
  evalEvery: 100,
  checkpointEvery: 0,
  heavyPrompts: 64,
};

/** The departures of a training budget from the paper's, in words. */
export function trainingDepartures(
  t: Pick<PresetTraining, "size" | "steps" | "batch" | "lr">,
  paper: PresetTraining = PAPER_TRAINING,
): string[] {
  const out: string[] = [];
  const ps = paper.size, s = t.size;
  if (s.width !== ps.width || s.layers !== ps.layers) {
    out.push(`model width ${s.width}, ${s.layers} layer(s) (paper: ${ps.width}, ${ps.layers})`);
  }
  if (t.steps !== paper.steps) out.push(`${t.steps} training steps (paper: ${paper.steps})`);
  if (t.batch !== paper.batch) out.push(`batch ${t.batch} (paper: ${paper.batch})`);
  if (t.lr !== paper.lr) out.push(`learning rate ${t.lr} (paper: ${paper.lr})`);
  return out;
}

/** The task-specific parts of a spec. */
export interface TaskPart {
  key: string;
  title: string;
  task: Task;
  curriculum?: Curriculum;
  models: ModelName[];
  baselines: string[];
  /** Name of the metric, e.g. "normalized squared error". */
  metricName: string;
  xLabel?: string;
  trivial?: { name: string; value?: number };
  learn?: number;
  description: string;
  departures: string[];
  head?: TaskHead;
  /** Prediction positions of the mark metric (default: the late quarter). */
  late?: [number, number];
  /** Y label of the per-position figure when it differs from the mark metric. */
  curveMetric?: string;
  /** What the prediction positions count, in the metric's label (default "examples"). */
  unit?: string;
}

/** A full spec from a task part and a training budget (late range from the task's sizes). */
export function makeSpec(part: TaskPart, t: PresetTraining): SuiteSpec {
  const b = part.task.sample(new Rng(0), 1);
  const late = part.late ?? lateRange(b.predPos.length);
  const xLabel = part.xLabel ?? "in-context examples";
  const unit = part.unit ?? "examples";
  return {
    key: part.key,
    title: part.title,
    description: part.description,
    task: part.task,
    curriculum: part.curriculum,
    models: part.models,
    size: { ...t.size },
    steps: t.steps,
    batch: t.batch,
    lr: t.lr,
    clip: t.clip,
    evalPrompts: t.evalPrompts,
    curvePrompts: t.curvePrompts,
    evalEvery: t.evalEvery,
    checkpointEvery: t.checkpointEvery,
    baselines: part.baselines,
    heavyPrompts: t.heavyPrompts,
    late,
    metric: `${part.metricName} (${unit} ${late[0]}–${late[1] - 1})`,
    xLabel,
    trivial: part.trivial ?? { name: "zero predictor" },
    learn: part.learn,
    departures: part.departures,
    head: part.head,
    curveMetric: part.curveMetric,
  };
}

/**
 * The spec of a task part under a preset budget, with the command-line overrides applied and
 * the departures of the final budget from `paper` listed first.
 */
export function finalSpec(
  part: TaskPart,
  budget: PresetTraining,
  paper: PresetTraining,
  o: CommonOptions,
): SuiteSpec {
  const spec = applyOverrides(makeSpec(part, budget), o);
  spec.departures = [...trainingDepartures(spec, paper), ...spec.departures];
  return spec;
}

/** The departure line of `compressedCurriculum`. */
export const QUICK_CURRICULUM_NOTE =
  "curriculum compressed: dims from 2 and points from N/3 reach the task's sizes at 40% of " +
  "the steps (Garg's/[MF]'s take 30k-50k steps)";

/**
 * Garg's curriculum squeezed into a short run: dims from 2 and points from about N/3 grow in
 * equal stages and reach the task's sizes after `fraction` of the steps (Garg's reaches them
 * after 30k of 500k steps). Tasks without a dims curriculum keep their d.
 */
export function compressedCurriculum(
  task: Task,
  steps: number,
  fraction = 0.4,
  growDims = true,
): Curriculum {
  const d = task.nDims, n = task.nPoints;
  const d0 = growDims ? Math.min(2, d) : d;
  const n0 = Math.min(n, Math.max(3, Math.round(n / 3)));
  const stages = Math.max(d - d0, 3);
  const interval = Math.max(1, Math.floor((fraction * steps) / stages));
  return {
    dims: { start: d0, end: d, inc: d > d0 ? Math.ceil((d - d0) / stages) : 0, interval },
    points: { start: n0, end: n, inc: n > n0 ? Math.ceil((n - n0) / stages) : 0, interval },
  };
}
