/**
 * Presets and protocols, and the one way a script turns its task into a spec. A preset is a
 * budget (quick: a 2-core CPU; paper: the paper's sizes and 500k steps, for a GPU); a protocol
 * is whose training recipe the defaults follow:
 *
 * - park ([MF] configs): Adam at a constant 1e-4 (4e-4 for decision trees and parity, set by
 *   the task), gradient clip 10, LayerNorm Mamba, learned positions in GPT-2, one seed;
 * - grazzi ([GZ] `conf/`): cosine annealing from 1e-4 (S4 1e-3), no clipping, RMSNorm Mamba,
 *   GPT-2 without positions, Mamba 256 × 24 and S4 435 × 24 next to GPT-2 256 × 12 (all about
 *   10M parameters), seeds 1, 2, 3, the best checkpoint by a moving average of the last-point
 *   loss (span 1000 steps).
 *
 * The flags override any of it; every difference between the final recipe and the paper's is
 * listed as a departure (printed, and stored in summary.json and report.md).
 */
import { Rng } from "../../core/rng.ts";
import type { Curriculum } from "../../tasks/curriculum.ts";
import type { Task } from "../../tasks/task.ts";
import { type ArchName, HAS_ATTENTION, type ModelSize } from "./archs.ts";
import { fail } from "./cli.ts";
import { type CommonOptions, HEADS_UNSET } from "./flags.ts";
import { NAMED_SIZES, PAPER_GRID, sizeLabel } from "./sizes.ts";
import { lateRange, type Recipe, type SuiteSpec, type TaskHead, validateSpec } from "./spec.ts";

export type Protocol = "park" | "grazzi";

/** Park's checkpoints: 100k, 300k and 500k of 500k iterations. */
export const PAPER_FRACTIONS = [0.2, 0.6, 1];

const PARK_PAPER: Recipe = {
  sizes: PAPER_GRID,
  norm: "layer",
  steps: 500_000,
  batch: 64,
  lr: 1e-4,
  schedule: "constant",
  warmup: 0,
  optimizer: "adam",
  clip: 10,
  seeds: [1],
  fractions: PAPER_FRACTIONS,
  emaSpan: 0,
  evalPrompts: 1280,
  curvePrompts: 256,
  evalEvery: 5000,
  checkpointEvery: 1000,
  heavyPrompts: 256,
};

const GRAZZI_PAPER: Recipe = {
  ...PARK_PAPER,
  sizes: [NAMED_SIZES.standard],
  archSizes: { s4_postnorm: [{ width: 435, layers: 12, heads: 8 }] },
  norm: "rms",
  lrFor: { s4: 1e-3, s4_postnorm: 1e-3 },
  schedule: "cosine",
  clip: 0,
  seeds: [1, 2, 3],
  emaSpan: 1000,
};

/** Small models and short runs for a 2-core machine without a GPU. */
const PARK_QUICK: Recipe = {
  sizes: [{ width: 32, layers: 1, heads: 4 }],
  norm: "layer",
  steps: 1000,
  batch: 16,
  lr: 2e-3,
  schedule: "constant",
  warmup: 0,
  optimizer: "adam",
  clip: 10,
  seeds: [1],
  fractions: PAPER_FRACTIONS,
  emaSpan: 0,
  evalPrompts: 1280,
  curvePrompts: 128,
  evalEvery: 100,
  // Quick runs checkpoint too, so a killed one resumes (and the best-EMA cadence stays 100).
  checkpointEvery: 100,
  heavyPrompts: 64,
};

const GRAZZI_QUICK: Recipe = {
  ...PARK_QUICK,
  norm: "rms",
  lrFor: { s4: 1e-2, s4_postnorm: 1e-2 },
  schedule: "cosine",
  clip: 0,
  emaSpan: 50,
};

/** The base recipe of a preset under a protocol. */
export function recipeFor(preset: "quick" | "paper", protocol: Protocol): Recipe {
  const r = protocol === "grazzi"
    ? (preset === "paper" ? GRAZZI_PAPER : GRAZZI_QUICK)
    : (preset === "paper" ? PARK_PAPER : PARK_QUICK);
  return structuredClone(r);
}

/** Grazzi's three models. */
export const GRAZZI_MODELS: ArchName[] = ["transformer_nope", "mamba", "s4_postnorm"];

/** The task-specific parts of a spec, as a script describes its task. */
export interface TaskPart {
  key: string;
  title: string;
  task: Task;
  /** Whose recipe the defaults follow (default park). */
  protocol?: Protocol;
  curriculum?: Curriculum;
  /** Default architectures (Grazzi's three under the grazzi protocol unless set). */
  models: ArchName[];
  /** Default architectures of the paper preset: those of the paper's figure for the task. */
  paperModels?: ArchName[];
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
  /** Task-specific changes to the preset's recipe and to the paper's (e.g. [MF]'s lr 4e-4). */
  recipe?: Partial<Recipe>;
  paperRecipe?: Partial<Recipe>;
  /** How the quick preset shortens the curriculum (default: none). */
  quickCurriculum?: "dims-and-points" | "points";
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

const sizesText = (s: ModelSize[]) => s.map(sizeLabel).join(", ");

/** The departures of a final recipe from the paper's, in words. */
export function recipeDepartures(r: Recipe, paper: Recipe, models: ArchName[]): string[] {
  const out: string[] = [];
  const grid = (x: Recipe, m: ArchName) => sizesText(x.archSizes?.[m] ?? x.sizes);
  const gridText = (x: Recipe) =>
    [...new Set(models.map((m) => grid(x, m)))].length === 1
      ? sizesText(x.sizes)
      : models.map((m) => `${m} ${grid(x, m)}`).join("; ");
  if (gridText(r) !== gridText(paper)) {
    out.push(`model sizes ${gridText(r)} (paper: ${gridText(paper)})`);
  }
  if (r.steps !== paper.steps) out.push(`${r.steps} training steps (paper: ${paper.steps})`);
  if (r.batch !== paper.batch) out.push(`batch ${r.batch} (paper: ${paper.batch})`);
  const lrs = (x: Recipe) => models.map((m) => x.lrFor?.[m] ?? x.lr);
  if (lrs(r).join() !== lrs(paper).join()) {
    const txt = (x: Recipe) =>
      [...new Set(lrs(x))].length === 1
        ? String(lrs(x)[0])
        : models.map((m, i) => `${m} ${lrs(x)[i]}`).join(", ");
    out.push(`learning rate ${txt(r)} (paper: ${txt(paper)})`);
  }
  if (r.schedule !== paper.schedule) out.push(`${r.schedule} schedule (paper: ${paper.schedule})`);
  if (r.warmup !== paper.warmup) out.push(`warm-up ${r.warmup} steps (paper: ${paper.warmup})`);
  const opt = (x: Recipe) =>
    `${x.optimizer === "adamw" ? "AdamW" : "Adam"}${
      x.weightDecay
        ? `, weight decay ${x.weightDecay}`
        : x.optimizer === "adamw"
        ? ", weight decay 0.01"
        : ""
    }`;
  if (opt(r) !== opt(paper)) out.push(`${opt(r)} (paper: ${opt(paper)})`);
  if (r.clip !== paper.clip) {
    const c = (x: number) => (x > 0 ? `clip ${x}` : "no clipping");
    out.push(`${c(r.clip)} (paper: ${c(paper.clip)})`);
  }
  if (
    r.norm !== paper.norm && models.some((m) => m !== "transformer" && m !== "transformer_nope")
  ) {
    out.push(`${r.norm} norm in the Mamba-family blocks (paper: ${paper.norm})`);
  }
  if (r.seeds.join() !== paper.seeds.join()) {
    out.push(`seeds ${r.seeds.join(", ")} (paper: ${paper.seeds.join(", ")})`);
  }
  if (r.fractions.join() !== paper.fractions.join()) {
    out.push(`checkpoints at ${r.fractions.join(", ")} of the steps (paper: ${paper.fractions})`);
  }
  if ((r.emaSpan > 0) !== (paper.emaSpan > 0) || (r.emaSpan > 0 && r.emaSpan !== paper.emaSpan)) {
    const e = (
      x: number,
    ) => (x > 0 ? `best-EMA checkpoint over ${x} steps` : "no best-EMA checkpoint");
    out.push(`${e(r.emaSpan)} (paper: ${e(paper.emaSpan)})`);
  }
  return out;
}

/** The sizes after --sizes/--width/--layers/--heads; throws naming the flag when heads misfit. */
function finalSizes(base: Recipe, o: CommonOptions, models: ArchName[]): Recipe {
  const r = { ...base };
  const ref = base.sizes[base.sizes.length - 1];
  if (o.sizes) {
    r.sizes = o.sizes.map((s) => ({ ...s, heads: s.heads === HEADS_UNSET ? ref.heads : s.heads }));
  } else if (o.width || o.layers || o.heads) {
    r.sizes = [{
      width: o.width ?? ref.width,
      layers: o.layers ?? ref.layers,
      heads: o.heads ?? ref.heads,
    }];
  }
  if (r.sizes !== base.sizes) delete r.archSizes;
  if (models.some((m) => HAS_ATTENTION.has(m))) {
    for (const s of r.sizes) {
      if (s.width % s.heads !== 0) {
        const flag = o.sizes ? "--sizes" : o.heads ? "--heads" : "--width";
        throw new Error(
          `${flag}: ${s.heads} attention heads do not divide width ${s.width}` +
            (o.sizes ? " (give WIDTHxLAYERSxHEADS)" : ""),
        );
      }
    }
  }
  return r;
}

/** The spec of a task part under the options' preset and protocol, with the flags applied. */
export function makeSpec(part: TaskPart, o: CommonOptions): SuiteSpec {
  const protocol: Protocol = o.protocol ?? part.protocol ?? "park";
  const models = o.models ??
    (protocol === "grazzi" && !part.protocol
      ? GRAZZI_MODELS
      : (o.preset === "paper" ? part.paperModels : undefined) ?? part.models);
  // The task's own recipe changes are its paper's ([MF]'s lr 4e-4 for trees and parity), so
  // they do not follow the task into the other protocol.
  const own = protocol === (part.protocol ?? "park");
  const paper = { ...recipeFor("paper", protocol), ...(own ? part.paperRecipe : {}) };
  const base = {
    ...recipeFor(o.preset, protocol),
    ...(own ? (o.preset === "paper" ? part.paperRecipe : part.recipe) : {}),
  };
  const r = finalSizes(base, o, models);
  if (o.norm) r.norm = o.norm;
  if (o.steps) r.steps = o.steps;
  if (o.batch) r.batch = o.batch;
  if (o.lr) {
    r.lr = o.lr;
    delete r.lrFor;
  }
  if (o.schedule) r.schedule = o.schedule;
  if (o.warmup !== undefined) r.warmup = o.warmup;
  if (o.optimizer) r.optimizer = o.optimizer;
  if (o.weightDecay !== undefined) r.weightDecay = o.weightDecay;
  if (o.clip !== undefined) r.clip = o.clip;
  if (o.seeds) r.seeds = o.seeds;
  if (o.fractions) r.fractions = o.fractions;
  if (o.emaSpan !== undefined) r.emaSpan = o.emaSpan;
  if (o.evalPrompts) {
    r.evalPrompts = o.evalPrompts;
    r.curvePrompts = Math.min(r.curvePrompts, o.evalPrompts);
  }
  if (o.evalEvery) r.evalEvery = o.evalEvery;
  if (o.sweep?.checkpointEvery !== undefined) r.checkpointEvery = o.sweep.checkpointEvery;
  if (o.heavyPrompts) r.heavyPrompts = o.heavyPrompts;
  r.heavyPrompts = Math.min(r.heavyPrompts, r.evalPrompts);
  if (r.warmup >= r.steps) {
    throw new Error(`--warmup (${r.warmup}) must be below --steps (${r.steps})`);
  }
  const b = part.task.sample(new Rng(0), 1);
  const late = part.late ?? lateRange(b.predPos.length);
  const unit = part.unit ?? "examples";
  let curriculum = part.curriculum;
  if (o.preset === "quick" && part.quickCurriculum) {
    curriculum = compressedCurriculum(
      part.task,
      r.steps,
      0.4,
      part.quickCurriculum === "dims-and-points",
    );
  }
  const changed =
    (["steps", "batch", "lr", "width", "layers", "heads", "norm", "schedule", "clip"] as const)
      .filter((k) => o[k] !== undefined);
  const flagsNote = changed.length || o.sizes
    ? ` [set by flags: ${
      [...(o.sizes ? [`sizes=${sizesText(r.sizes)}`] : []), ...changed.map((k) => `${k}=${o[k]}`)]
        .join(", ")
    }]`
    : "";
  return {
    ...r,
    key: part.key,
    title: part.title,
    description: `${part.description}; ${protocol} protocol${flagsNote}`,
    protocol,
    task: part.task,
    curriculum,
    models,
    baselines: o.noBaselines ? [] : part.baselines,
    late,
    metric: `${part.metricName} (${unit} ${late[0]}–${late[1] - 1})`,
    xLabel: part.xLabel ?? "in-context examples",
    trivial: part.trivial ?? { name: "zero predictor" },
    learn: part.learn,
    departures: [...recipeDepartures(r, paper, models), ...part.departures],
    head: part.head,
    curveMetric: part.curveMetric,
  };
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
