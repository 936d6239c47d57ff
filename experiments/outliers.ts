/**
 * exp:outliers: the two outlier ("filtering") regression rows of the MambaFormer paper's Fig. 1a
 * (Table 1, A.3.2): orthogonal-outlier regression (d=20, N=101, p=0.5: pairs replaced by dummy
 * vectors orthogonal to w) and many-outlier regression (d=20, N=512, p=0.9: pairs replaced by
 * (1, 1)). Outlier positions are neither trained on nor scored. Transformer, Mamba and
 * MambaFormer with the [MF] curricula, least squares (on the contaminated prompts) and the
 * zero predictor on the same prompts, and the ✓/▲/✗ marks of experiments/lib/marks.ts.
 *
 *   deno task exp:outliers
 *   deno task exp:outliers --tasks many_outlier_regression --backend cpu --steps 200
 *   deno task exp:outliers --preset paper --out runs/outliers-paper [--resume]
 */
import { BASELINES_FOR_TASK } from "../tasks/baselines.ts";
import { defaultCurriculum } from "../tasks/curriculum.ts";
import { makeTask, type TaskOptions } from "../tasks/registry.ts";
import { parseCli } from "./lib/cli.ts";
import { FIG1A_MODELS, FIG1A_TITLES } from "./lib/marks.ts";
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
  QUICK_CURRICULUM_NOTE,
  QUICK_TRAINING,
  runFamily,
  type TaskPart,
} from "./lib/suite_cli.ts";

/** The tasks of this script. */
export const OUTLIER_KEYS = ["ortho_outlier_regression", "many_outlier_regression"] as const;

const PAPER: Record<string, { options: TaskOptions; text: string }> = {
  ortho_outlier_regression: {
    options: { nDims: 20, nPoints: 101, p: 0.5 },
    text: "d=20, N=101, p=0.5",
  },
  many_outlier_regression: {
    options: { nDims: 20, nPoints: 512, p: 0.9 },
    text: "d=20, N=512, p=0.9",
  },
};

/**
 * Quick sizes: d=5 for orthogonal outliers; many-outlier keeps p=0.9 and the paper's ratio of
 * clean examples to dimensions (N·(1−p)/d ≈ 2.6 at d=20, N=512) with d=3, N=80.
 */
const QUICK: Record<string, { options: TaskOptions; text: string }> = {
  ortho_outlier_regression: {
    options: { nDims: 5, nPoints: 21, p: 0.5 },
    text: "d=5, N=21, p=0.5",
  },
  many_outlier_regression: { options: { nDims: 3, nPoints: 80, p: 0.9 }, text: "d=3, N=80, p=0.9" },
};

/** The task part of one outlier row for a preset. */
export function outlierPart(key: string, preset: "quick" | "paper"): TaskPart {
  const sizes = (preset === "paper" ? PAPER : QUICK)[key];
  const task = makeTask(key, sizes.options);
  const departures: string[] = [];
  if (preset === "quick") {
    departures.push(`task sizes ${sizes.text} (paper: ${PAPER[key].text})`);
    departures.push(QUICK_CURRICULUM_NOTE);
  }
  return {
    key,
    title: FIG1A_TITLES[key],
    task,
    curriculum: preset === "paper" ? defaultCurriculum(key) : undefined,
    models: [...FIG1A_MODELS],
    baselines: [...(BASELINES_FOR_TASK[key] ?? [])],
    metricName: "squared error / d on clean positions",
    description: `${sizes.text}${
      preset === "paper" ? ", [MF] curriculum" : ""
    }; outliers not scored`,
    departures,
  };
}

/** Specs of the selected outlier tasks with the command-line overrides applied. */
export function outlierSpecs(
  o: CommonOptions,
  keys: readonly string[] = OUTLIER_KEYS,
): SuiteSpec[] {
  const budget = o.preset === "paper" ? PAPER_TRAINING : QUICK_TRAINING;
  return keys.map((key) => {
    const spec = finalSpec(outlierPart(key, o.preset), budget, PAPER_TRAINING, o);
    if (o.preset === "quick") spec.curriculum = compressedCurriculum(spec.task, spec.steps);
    return spec;
  });
}

if (import.meta.main) {
  const NAME = "exp:outliers";
  const flags = parseCli(
    NAME,
    "in-context regression with outliers (orthogonal and many-outlier) for Transformer, Mamba, " +
      "MambaFormer",
    COMMON_FLAGS,
  );
  const o = parseCommon(NAME, flags, OUTLIER_KEYS);
  const specs = buildSpecs(NAME, () => outlierSpecs(o, o.tasks ?? OUTLIER_KEYS));
  const { summary, outDir } = await runFamily("outliers", specs, o);
  await finishFamily(outDir, summary, o.json);
}
