/**
 * exp:outliers: the two outlier ("filtering") regression rows of the MambaFormer paper's Fig. 1a
 * (Table 1, A.3.2): orthogonal-outlier regression (d=20, N=101, p=0.5: pairs replaced by dummy
 * vectors orthogonal to w) and many-outlier regression (d=20, N=512, p=0.9: pairs replaced by
 * (1, 1)); `--p` sets the outlier probability (Park also tests 0.2). Outlier positions are
 * neither trained on nor scored. Any architecture at a grid of sizes with the [MF] curricula,
 * least squares (on the contaminated prompts) and the zero predictor on the same prompts, the
 * FLOPs figure (Park's Fig. 4 left) and the ✓/▲/✗ marks at matched FLOPs.
 *
 *   deno task exp:outliers
 *   deno task exp:outliers --tasks ortho_outlier_regression --p 0.2 --backend cpu --steps 200
 *   deno task exp:outliers --preset paper --out runs/outliers-paper [--resume]
 */
import { BASELINES_FOR_TASK } from "../tasks/baselines.ts";
import { defaultCurriculum } from "../tasks/curriculum.ts";
import { makeTask, type TaskOptions } from "../tasks/registry.ts";
import { parseCli } from "./lib/cli.ts";
import { finishFamily, runFamily } from "./lib/family.ts";
import { type CommonOptions, parseCommon, scriptFlags } from "./lib/flags.ts";
import { FIG1A_MODELS, FIG1A_TITLES } from "./lib/marks.ts";
import { buildSpecs, makeSpec, QUICK_CURRICULUM_NOTE, type TaskPart } from "./lib/presets.ts";
import type { SuiteSpec } from "./lib/spec.ts";

/** The tasks of this script. */
export const OUTLIER_KEYS = ["ortho_outlier_regression", "many_outlier_regression"] as const;

const PAPER: Record<string, TaskOptions> = {
  ortho_outlier_regression: { nDims: 20, nPoints: 101, p: 0.5 },
  many_outlier_regression: { nDims: 20, nPoints: 512, p: 0.9 },
};

/**
 * Quick sizes: d=5 for orthogonal outliers; many-outlier keeps p=0.9 and the paper's ratio of
 * clean examples to dimensions (N·(1−p)/d ≈ 2.6 at d=20, N=512) with d=3, N=80.
 */
const QUICK: Record<string, TaskOptions> = {
  ortho_outlier_regression: { nDims: 5, nPoints: 21, p: 0.5 },
  many_outlier_regression: { nDims: 3, nPoints: 80, p: 0.9 },
};

const text = (t: TaskOptions) => `d=${t.nDims}, N=${t.nPoints}, p=${t.p}`;

/** The task part of one outlier row for a preset, with --dims/--points/--p applied. */
export function outlierPart(key: string, o: CommonOptions): TaskPart {
  const base = (o.preset === "paper" ? PAPER : QUICK)[key];
  const options = {
    nDims: o.dims ?? base.nDims,
    nPoints: o.points ?? base.nPoints,
    p: o.p ?? base.p,
  };
  const task = makeTask(key, options);
  const departures: string[] = [];
  if (text(options) !== text(PAPER[key])) {
    departures.push(`task sizes ${text(options)} (paper: ${text(PAPER[key])})`);
  }
  if (o.preset === "quick") departures.push(QUICK_CURRICULUM_NOTE);
  let curriculum = o.preset === "paper" ? defaultCurriculum(key) : undefined;
  if (curriculum) {
    curriculum = {
      dims: {
        ...curriculum.dims,
        end: task.nDims,
        start: Math.min(curriculum.dims.start, task.nDims),
      },
      points: {
        ...curriculum.points,
        end: task.nPoints,
        start: Math.min(curriculum.points.start, task.nPoints),
      },
    };
  }
  return {
    key,
    title: FIG1A_TITLES[key],
    task,
    curriculum,
    quickCurriculum: "dims-and-points",
    models: [...FIG1A_MODELS],
    // Park's Fig. 4.
    paperModels: ["transformer", "mamba", "s4", "mambaformer", "hybrid"],
    baselines: [...(BASELINES_FOR_TASK[key] ?? [])],
    metricName: "squared error / d on clean positions",
    description: `${text(options)}${
      o.preset === "paper" ? ", [MF] curriculum" : ""
    }; outliers not scored`,
    departures,
  };
}

/** Specs of the selected outlier tasks with the command-line overrides applied. */
export function outlierSpecs(
  o: CommonOptions,
  keys: readonly string[] = OUTLIER_KEYS,
): SuiteSpec[] {
  return keys.map((key) => makeSpec(outlierPart(key, o), o));
}

if (import.meta.main) {
  const NAME = "exp:outliers";
  const flags = parseCli(
    NAME,
    "in-context regression with outliers (orthogonal and many-outlier) for any architecture at " +
      "a grid of sizes, compared at matched training FLOPs",
    scriptFlags(["dims", "points", "p"]),
  );
  const o = parseCommon(NAME, flags, OUTLIER_KEYS);
  const specs = buildSpecs(NAME, () => outlierSpecs(o, o.tasks ?? OUTLIER_KEYS));
  const { summary, outDir } = await runFamily("outliers", specs, o);
  await finishFamily(outDir, summary, o.json);
}
