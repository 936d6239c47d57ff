/**
 * exp:regression: the four regression rows of the MambaFormer paper's Fig. 1a (Table 1):
 * linear regression (d=20, N=41), sparse linear regression (d=20, N=101, k=3), 2-layer ReLU
 * network regression (d=20, N=101, hidden 100) and depth-4 decision trees (d=20, N=101), each
 * for Transformer, Mamba and MambaFormer with Garg's curricula, the classical baselines of
 * Garg's plots on the same prompts, and the ✓/▲/✗ marks of experiments/lib/marks.ts.
 *
 *   deno task exp:regression                      # quick preset, all four tasks
 *   deno task exp:regression --tasks decision_tree --backend cpu --steps 200
 *   deno task exp:regression --preset paper --out runs/reg-paper [--resume]
 */
import { BASELINES_FOR_TASK } from "../tasks/baselines.ts";
import { type Curriculum, defaultCurriculum, fixedSchedule } from "../tasks/curriculum.ts";
import { makeTask, type TaskOptions } from "../tasks/registry.ts";
import { parseCli } from "./lib/cli.ts";
import type { SuiteSpec } from "./lib/suite.ts";
import {
  buildSpecs,
  COMMON_FLAGS,
  type CommonOptions,
  compressedCurriculum,
  finalSpec,
  finishFamily,
  PAPER_TRAINING,
  parseCommon,
  type PresetTraining,
  QUICK_CURRICULUM_NOTE,
  QUICK_TRAINING,
  runFamily,
  type TaskPart,
} from "./lib/suite_cli.ts";
import { FIG1A_MODELS, FIG1A_TITLES } from "./lib/marks.ts";

/** The tasks of this script. */
export const REGRESSION_KEYS = [
  "linear_regression",
  "sparse_linear_regression",
  "relu_2nn_regression",
  "decision_tree",
] as const;

interface Sizes {
  options: TaskOptions;
  /** Plain-words size, e.g. "d=20, N=41". */
  text: string;
  normalizer: string;
}

/** The paper's Table 1 sizes. */
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
};

/** Departures of the quick sizes from the paper's, in words. */
function sizeDepartures(key: string, q: Sizes): string[] {
  return q.text === PAPER[key].text ? [] : [`task sizes ${q.text} (paper: ${PAPER[key].text})`];
}

/** The task part of one regression row for a preset. */
export function regressionPart(key: string, preset: "quick" | "paper"): TaskPart {
  const sizes = (preset === "paper" ? PAPER : QUICK)[key];
  const task = makeTask(key, sizes.options);
  let curriculum: Curriculum | undefined = defaultCurriculum(key);
  const departures = preset === "paper" ? [] : sizeDepartures(key, sizes);
  if (preset === "quick") {
    // Garg's curriculum spans 30k steps; regressionSpecs squeezes it into the quick run.
    curriculum = undefined;
    departures.push(QUICK_CURRICULUM_NOTE);
  }
  if (curriculum) {
    curriculum.dims = { ...curriculum.dims, end: task.nDims };
    if (curriculum.dims.start > task.nDims) curriculum.dims = fixedSchedule(task.nDims);
  }
  return {
    key,
    title: FIG1A_TITLES[key],
    task,
    curriculum,
    models: [...FIG1A_MODELS],
    baselines: [...(BASELINES_FOR_TASK[key] ?? [])],
    metricName: `squared error / ${sizes.normalizer}`,
    description: `${sizes.text}${curriculum ? ", Garg's curriculum" : ""}`,
    departures,
  };
}

/** Paper budget per task: the [MF] decision-tree config uses lr 4e-4. */
export function regressionTraining(key: string, preset: "quick" | "paper"): PresetTraining {
  if (preset === "quick") return QUICK_TRAINING;
  return key === "decision_tree" ? { ...PAPER_TRAINING, lr: 4e-4 } : PAPER_TRAINING;
}

/** Specs of the selected regression tasks with the command-line overrides applied. */
export function regressionSpecs(
  o: CommonOptions,
  keys: readonly string[] = REGRESSION_KEYS,
): SuiteSpec[] {
  return keys.map((key) => {
    const part = regressionPart(key, o.preset);
    const spec = finalSpec(
      part,
      regressionTraining(key, o.preset),
      regressionTraining(key, "paper"),
      o,
    );
    if (o.preset === "quick") spec.curriculum = compressedCurriculum(spec.task, spec.steps);
    return spec;
  });
}

if (import.meta.main) {
  const NAME = "exp:regression";
  const flags = parseCli(
    NAME,
    `in-context regression (${REGRESSION_KEYS.join(", ")}) for Transformer, Mamba, MambaFormer`,
    COMMON_FLAGS,
  );
  const o = parseCommon(NAME, flags, REGRESSION_KEYS);
  const specs = buildSpecs(NAME, () => regressionSpecs(o, o.tasks ?? REGRESSION_KEYS));
  const { summary, outDir } = await runFamily("regression", specs, o);
  await finishFamily(outDir, summary, o.json);
}
