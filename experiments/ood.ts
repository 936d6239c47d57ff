/**
 * exp:ood: out-of-distribution prompts for trained linear-regression models (Garg's build_evals,
 * which Grazzi reuses; Park's Fig. 4 right): skewed covariance (one fixed rotation, and
 * Grazzi's new rotation per batch), a half subspace, the query orthogonal to the context's
 * subspace, x scaled by 1/3 and by 3, noisy y, and for models trained with outliers the
 * outlier-free test. Every model and the baselines see the same prompts.
 *
 *   deno task exp:ood                              # trains Transformer and Mamba (quick) first
 *   deno task exp:ood --run runs/regression-...    # every LR-family model of a run folder
 */
import { makeTask } from "../tasks/registry.ts";
import { OOD_TEXT, OodLinearRegression, type OodOptions } from "../tasks/ood.ts";
import type { Task } from "../tasks/task.ts";
import { errorCurveSvg, type PlotSeries } from "./plot.ts";
import { baselinesFor, scoreBaselines, scoreModel } from "./lib/analysis_eval.ts";
import type { Scored } from "./lib/analysis_eval.ts";
import { setupAnalysis, writeAnalysis } from "./lib/analysis_cli.ts";
import { ARCH_COLOR, type ArchName } from "./lib/archs.ts";
import { groupedBarsSvg } from "./lib/bars.ts";
import { fail, intFlag } from "./lib/cli.ts";
import { evalBatches } from "./lib/evaluate.ts";
import { loadModel, type RunInfo, runTask } from "./lib/load_run.ts";
import { fmtTime } from "./lib/progress.ts";
import { lateRange } from "./lib/spec.ts";
import { fmtV } from "./lib/tables.ts";

const NAME = "exp:ood";
const LR_FAMILY = [
  "linear_regression",
  "skewed_linear_regression",
  "ortho_outlier_regression",
  "many_outlier_regression",
];

interface Variant {
  key: string;
  text: string;
  task: Task;
}

/** The prompt sets of a run: in distribution first, then the shifts. */
function variantsOf(run: RunInfo): Variant[] {
  const { nDims, nPoints } = run.taskOptions;
  const ood = (key: string, o: Omit<OodOptions, "nDims" | "nPoints">): Variant => ({
    key,
    text: OOD_TEXT[o.kind],
    task: new OodLinearRegression({ nDims, nPoints, rotationSeed: 7, ...o }),
  });
  const out: Variant[] = [
    { key: "in_distribution", text: run.description, task: runTask(run) },
  ];
  if (run.taskKey.includes("outlier")) {
    out.push({
      key: "outlier_free",
      text: "the training task with p = 0 (Park's Fig. 4 right)",
      task: makeTask(run.taskKey, { ...run.taskOptions, p: 0 }),
    });
  }
  out.push(
    ood("skewed", { kind: "skewed" }),
    ood("skewed_per_batch", { kind: "skewed_per_batch" }),
    ood("half_subspace", { kind: "half_subspace" }),
    ood("orthogonal_query", { kind: "orthogonal_query" }),
    { ...ood("scale_x_1/3", { kind: "scale_x", scale: 1 / 3 }), text: "x scaled by 1/3" },
    { ...ood("scale_x_3", { kind: "scale_x", scale: 3 }), text: "x scaled by 3" },
    ood("noisy_y", { kind: "noisy_y", noiseStd: 1 }),
  );
  return out;
}

if (import.meta.main) {
  const t0 = performance.now();
  const setup = await setupAnalysis(
    NAME,
    "out-of-distribution prompts (Garg's shifts, Park's outlier-free test, Grazzi's skewed " +
      "variants) for linear-regression models, with the baselines on the same prompts",
    { prompts: { type: "string", default: "640", help: "test prompts per prompt set" } },
    (f) => intFlag(NAME, "prompts", f.prompts as string),
  );
  const prompts = intFlag(NAME, "prompts", setup.flags.prompts as string);
  const runs = setup.runs.filter((r) => LR_FAMILY.includes(r.taskKey));
  for (const r of setup.runs) {
    if (!runs.includes(r)) console.log(`  skipping ${r.dir}: task ${r.taskKey} is not LR`);
  }
  if (!runs.length) fail(NAME, `no linear-regression-family run (${LR_FAMILY.join(", ")})`);
  const late = (p: number): [number, number] => lateRange(p);
  const rows: Record<string, Record<string, Scored>> = {};
  const texts: Record<string, string> = {};
  const curves: Record<string, PlotSeries[]> = {};
  // Baselines depend only on the prompts: once per task setting and prompt set.
  const baselineCache = new Map<string, Record<string, Scored>>();
  for (const run of runs) {
    const model = await loadModel(run, setup.backend);
    const t = performance.now();
    for (const v of variantsOf(run)) {
      const batches = evalBatches(v.task, { prompts, seed: 30_000 + setup.seed });
      const sKey = `${run.taskKey}/${JSON.stringify(run.taskOptions)}/${v.key}`;
      if (!baselineCache.has(sKey)) {
        baselineCache.set(
          sKey,
          scoreBaselines(baselinesFor(run.taskKey), v.task, batches, late, setup.seed),
        );
      }
      texts[v.key] = v.text;
      rows[v.key] ??= {};
      rows[v.key][run.name] = await scoreModel(model, v.task, batches, setup.backend, late, 0);
      for (const [b, s] of Object.entries(baselineCache.get(sKey)!)) rows[v.key][b] ??= s;
    }
    model.dispose();
    console.log(`  ${run.name} (${run.dir}): ${fmtTime((performance.now() - t) / 1000)}`);
  }
  const groups = Object.keys(rows);
  const modelNames = runs.map((r) => r.name);
  const names = [...new Set([...modelNames, ...groups.flatMap((g) => Object.keys(rows[g]))])];
  const header = `| prompts | ${names.join(" | ")} |`;
  const table = [header, `| --- |${names.map(() => " ---: |").join("")}`];
  for (const g of groups) {
    table.push(
      `| ${g} | ${names.map((n) => (rows[g][n] ? fmtV(rows[g][n].value) : "—")).join(" | ")} |`,
    );
  }
  console.log(
    `\nlate-position squared error / d (last quarter of the points; orthogonal_query: ` +
      `the last point only), ${prompts} prompts per set:\n${table.join("\n")}`,
  );
  for (const g of groups) console.log(`  ${g}: ${texts[g]}`);
  const departures = [
    "noisy_y rescales y by the expected sqrt(d/(d+σ²)) instead of the batch's std(y)",
    "orthogonal_query: context in one random d/2-dim subspace and the query in its complement " +
    "(Garg orthogonalises each query against the preceding points)",
    "errors are normalized by d for every prompt set (scale_x 3 makes the zero predictor ~9)",
  ];
  for (const d of departures) console.log(`  departure from the paper: ${d}`);
  const figs: Record<string, string> = {
    "ood.svg": groupedBarsSvg({
      title: "Out-of-distribution prompts: late-position error",
      yLabel: "squared error / d (log)",
      groups,
      series: names.map((n) => ({
        name: n,
        values: groups.map((g) => rows[g][n]?.value ?? NaN),
        color: modelNames.includes(n) ? ARCH_COLOR[n as ArchName] : undefined,
        light: !modelNames.includes(n),
      })),
    }),
  };
  for (const g of groups) {
    curves[g] = names.filter((n) => rows[g][n]).map((n) => ({
      name: n,
      x: rows[g][n].curve.map((_, i) => i),
      y: rows[g][n].curve,
      dashed: !modelNames.includes(n),
      color: modelNames.includes(n) ? ARCH_COLOR[n as ArchName] : undefined,
    }));
    if (g === "orthogonal_query") continue; // one scored point: the bar chart shows it
    figs[`ood_${g.replace("/", "_")}.svg`] = errorCurveSvg({
      title: `OOD prompts: ${g}`,
      xLabel: `in-context examples (${prompts} prompts)`,
      yLabel: "squared error / d (log)",
      series: curves[g],
      logY: true,
    });
  }
  await writeAnalysis(
    setup.outDir,
    figs,
    {
      experiment: NAME,
      trainedIn: setup.trainedIn ?? null,
      runs: runs.map((r) => r.dir),
      prompts,
      promptSets: texts,
      results: rows,
      table: table.join("\n"),
      departures,
    },
    t0,
    !!setup.flags.json,
  );
}
