/**
 * exp:regression: the regression rows of Park et al.'s Fig. 1a and Figs. 2 and 8 — linear
 * regression (d=20, N=41), sparse linear regression (d=20, N=101, k=3), 2-layer ReLU network
 * regression (d=20, N=101, hidden 100), depth-4 decision trees (d=20, N=101) — and Grazzi et
 * al.'s skewed-covariance linear regression (Cov(x) eigenvalues ∝ 1/(i+1)², a new rotation
 * every batch) under Grazzi's protocol. Every architecture can run on every task, at a grid of
 * sizes (--sizes), with checkpoints evaluated at fractions of training, Garg's curricula and
 * baselines, the FLOPs-vs-error figure and the ✓/▲/✗ marks at matched FLOPs.
 *
 *   deno task exp:regression                      # quick preset, all five tasks
 *   deno task exp:regression --tasks linear_regression --models transformer,mamba,s4mamba,s4 \
 *     --sizes quick                               # Park's Fig. 2 (LR panel) at CPU size
 *   deno task exp:regression --preset paper --out runs/reg-paper [--resume]
 */
import { BASELINES_FOR_TASK } from "../tasks/baselines.ts";
import { type Curriculum, defaultCurriculum, fixedSchedule } from "../tasks/curriculum.ts";
import { makeTask, type TaskOptions } from "../tasks/registry.ts";
import { parseCli } from "./lib/cli.ts";
import { finishFamily, runFamily } from "./lib/family.ts";
import { type CommonOptions, parseCommon, scriptFlags } from "./lib/flags.ts";
import { FIG1A_MODELS, FIG1A_TITLES } from "./lib/marks.ts";
import {
  buildSpecs,
  GRAZZI_MODELS,
  makeSpec,
  QUICK_CURRICULUM_NOTE,
  type TaskPart,
} from "./lib/presets.ts";
import type { SuiteSpec } from "./lib/spec.ts";

/** The tasks of this script (the Fig. 1a ones first). */
export const REGRESSION_KEYS = [
  "linear_regression",
  "sparse_linear_regression",
  "relu_2nn_regression",
  "decision_tree",
  "skewed_linear_regression",
] as const;

/** The Fig. 1a regression rows. */
export const FIG1A_REGRESSION = REGRESSION_KEYS.slice(0, 4);

interface Sizes {
  options: TaskOptions;
  /** Plain-words size, e.g. "d=20, N=41". */
  text: string;
  normalizer: string;
}

/** The papers' sizes (Park's Table 1; Grazzi's skewed LR uses Garg's d=20, N=41). */
const PAPER: Record<string, Sizes> = {
  linear_regression: { options: { nDims: 20, nPoints: 41 }, text: "d=20, N=41", normalizer: "d" },
  sparse_linear_regression: {
    options: { nDims: 20, nPoints: 101, k: 3 },
    text: "d=20, N=101, k=3",
    normalizer: "k",
  },
  relu_2nn_regression: {
    options: { nDims: 20, nPoints: 101, hidden: 100 },
    text: "d=20, N=101, hidden 100",
    normalizer: "d",
  },
  decision_tree: {
    options: { nDims: 20, nPoints: 101, depth: 4 },
    text: "d=20, N=101, depth 4",
    normalizer: "1",
  },
  skewed_linear_regression: {
    options: { nDims: 20, nPoints: 41, exp: 1 },
    text: "d=20, N=41, eigenvalues ∝ 1/(i+1)²",
    normalizer: "d",
  },
};

/**
 * Quick sizes: small d and N so that a 32-wide model learns something in a few hundred steps
 * on a CPU; N keeps Garg's ratio N ≈ 2d + 1 for LR and leaves room after d examples elsewhere.
 */
const QUICK: Record<string, Sizes> = {
  linear_regression: { options: { nDims: 5, nPoints: 11 }, text: "d=5, N=11", normalizer: "d" },
  sparse_linear_regression: {
    options: { nDims: 5, nPoints: 16, k: 2 },
    text: "d=5, N=16, k=2",
    normalizer: "k",
  },
  relu_2nn_regression: {
    options: { nDims: 5, nPoints: 21, hidden: 100 },
    text: "d=5, N=21, hidden 100",
    normalizer: "d",
  },
  decision_tree: {
    options: { nDims: 5, nPoints: 21, depth: 2 },
    text: "d=5, N=21, depth 2",
    normalizer: "1",
  },
  skewed_linear_regression: {
    options: { nDims: 5, nPoints: 11, exp: 1 },
    text: "d=5, N=11, eigenvalues ∝ 1/(i+1)²",
    normalizer: "d",
  },
};

/** The task part of one regression task for a preset, with --dims/--points applied. */
export function regressionPart(key: string, o: CommonOptions): TaskPart {
  const paper = PAPER[key], preset = o.preset === "paper" ? paper : QUICK[key];
  const options = { ...preset.options, nDims: o.dims ?? preset.options.nDims };
  options.nPoints = o.points ?? preset.options.nPoints;
  const task = makeTask(key, options);
  const text = preset.text.replace(/d=\d+, N=\d+/, `d=${task.nDims}, N=${task.nPoints}`);
  const departures = text === paper.text ? [] : [`task sizes ${text} (paper: ${paper.text})`];
  const grazzi = key === "skewed_linear_regression";
  if (grazzi) {
    departures.push(
      "scored on skewed test prompts (in distribution); Grazzi's eval.py scores its standard " +
        "entry on isotropic x",
    );
  }
  let curriculum: Curriculum | undefined = defaultCurriculum(key);
  curriculum.dims = { ...curriculum.dims, end: task.nDims };
  if (curriculum.dims.start > task.nDims) curriculum.dims = fixedSchedule(task.nDims);
  curriculum.points = {
    ...curriculum.points,
    start: Math.min(curriculum.points.start, task.nPoints),
    end: task.nPoints,
  };
  if (o.preset === "quick") {
    // Garg's curriculum spans 30k steps; makeSpec squeezes it into the quick run.
    curriculum = undefined;
    departures.push(QUICK_CURRICULUM_NOTE);
  }
  return {
    key,
    title: FIG1A_TITLES[key] ?? "Skewed-covariance linear regression",
    task,
    protocol: grazzi ? "grazzi" : undefined,
    curriculum,
    quickCurriculum: "dims-and-points",
    models: grazzi ? [...GRAZZI_MODELS] : [...FIG1A_MODELS],
    // Park's Fig. 2 (Transformer, Mamba, S4-Mamba, S4) and Fig. 8 (the two hybrids).
    paperModels: grazzi
      ? undefined
      : ["transformer", "mamba", "s4mamba", "s4", "mambaformer", "hybrid"],
    baselines: [...(BASELINES_FOR_TASK[key] ?? [])],
    metricName: `squared error / ${preset.normalizer}`,
    description: `${text}${curriculum ? ", Garg's curriculum" : ""}`,
    departures,
    // The [MF] decision-tree config uses lr 4e-4.
    ...(key === "decision_tree" ? { paperRecipe: { lr: 4e-4 } } : {}),
  };
}

/** Specs of the selected regression tasks with the command-line overrides applied. */
export function regressionSpecs(
  o: CommonOptions,
  keys: readonly string[] = REGRESSION_KEYS,
): SuiteSpec[] {
  return keys.map((key) => makeSpec(regressionPart(key, o), o));
}

if (import.meta.main) {
  const NAME = "exp:regression";
  const flags = parseCli(
    NAME,
    `in-context regression (${REGRESSION_KEYS.join(", ")}) for any architecture at a grid of ` +
      "sizes, compared at matched training FLOPs",
    scriptFlags(["dims", "points"]),
  );
  const o = parseCommon(NAME, flags, REGRESSION_KEYS);
  const specs = buildSpecs(NAME, () => regressionSpecs(o, o.tasks ?? REGRESSION_KEYS));
  const { summary, outDir } = await runFamily("regression", specs, o);
  await finishFamily(outDir, summary, o.json);
}
