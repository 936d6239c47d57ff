/**
 * exp:probe: Grazzi et al.'s layer-wise decoder probing (spec §6; their Fig. 3). Each layer's
 * residual stream of a trained model goes through the model's own final norm and read-out;
 * per prompt a scale-and-shift fit on the last 10 context points maps it to y; its error on 30
 * test queries is plotted against depth (layer / blocks) next to GD and GD++ learning curves
 * on the same prompts (first 24 iterations on [0, 1], as Grazzi's figure).
 *
 *   deno task exp:probe                               # trains Transformer and Mamba (quick)
 *   deno task exp:probe --run runs/regression-...     # probes every model of a run folder
 */
import { gdCurve, type GdPrompt, tuneGamma } from "../tasks/gd.ts";
import { Rng } from "../core/rng.ts";
import { errorCurveSvg, type PlotSeries } from "./plot.ts";
import { setupAnalysis, writeAnalysis } from "./lib/analysis_cli.ts";
import { ARCH_COLOR, type ArchName } from "./lib/archs.ts";
import { fail, intFlag } from "./lib/cli.ts";
import { loadModel, type RunInfo, runTask } from "./lib/load_run.ts";
import { probeModel, type ProbePrompts, type ProbeResult } from "./lib/probing.ts";
import { fmtTime } from "./lib/progress.ts";

const NAME = "exp:probe";
const GD_ITERATIONS = 24;
/** Grazzi's tuned γ for d = 20, n = 40. */
const GRAZZI_GAMMA = 1.939e-4;

/** Probing prompts from the run's own task: C = N − 1 context points plus Q queries. */
function probePrompts(run: RunInfo, batch: number, queries: number, seed: number): ProbePrompts {
  const task = runTask(run);
  const context = task.nPoints - 1;
  const b = task.sample(new Rng(seed).fork("probe"), batch, { nPoints: context + queries });
  if (!b.xs || !b.ys || task.outDim !== 1) {
    throw new Error(`${run.dir}: task ${run.taskKey} has no scalar regression prompts to probe`);
  }
  if (b.targetMask) {
    throw new Error(`${run.dir}: task ${run.taskKey} has outlier positions; probe a clean task`);
  }
  return { xs: b.xs, ys: b.ys, batch, d: task.nDims, context, queries };
}

/** GD / GD++ curves (mean over prompts, normalized by d) on the probe's prompts. */
function gdCurves(p: ProbePrompts, gamma: number | "tune") {
  const n = p.context + p.queries;
  const prompts: GdPrompt[] = Array.from({ length: p.batch }, (_, b) => ({
    xs: p.xs.subarray(b * n * p.d, (b * n + p.context) * p.d),
    ys: p.ys.subarray(b * n, b * n + p.context),
    n: p.context,
    d: p.d,
    testXs: p.xs.subarray((b * n + p.context) * p.d, (b + 1) * n * p.d),
    testYs: p.ys.subarray(b * n + p.context, (b + 1) * n),
  }));
  const g = gamma === "tune" ? tuneGamma(prompts, GD_ITERATIONS).gamma : gamma;
  const mean = (gm: number) => {
    const acc = new Array(GD_ITERATIONS + 1).fill(0);
    for (const q of prompts) {
      gdCurve(q, { iterations: GD_ITERATIONS, gamma: gm }).forEach((v, i) =>
        acc[i] += v / (prompts.length * p.d)
      );
    }
    return acc;
  };
  return { gd: mean(0), gdpp: mean(g), gamma: g };
}

function parseOwn(f: Record<string, string | boolean | undefined>) {
  const gammaFlag = f.gamma === "tune" ? "tune" as const : Number(f.gamma);
  if (gammaFlag !== "tune" && !(gammaFlag >= 0)) fail(NAME, `--gamma must be ≥ 0 or tune`);
  return {
    batch: intFlag(NAME, "prompts", f.prompts as string),
    queries: intFlag(NAME, "queries", f.queries as string),
    window: intFlag(NAME, "window", f.window as string, 2),
    gammaFlag,
  };
}

if (import.meta.main) {
  const t0 = performance.now();
  const setup = await setupAnalysis(
    NAME,
    "Grazzi's layer-wise probing: decoded error, scale and shift against depth, with GD and GD++",
    {
      prompts: { type: "string", default: "64", help: "probing prompts (Grazzi: one batch of 64)" },
      queries: { type: "string", default: "30", help: "test queries per prompt (Grazzi: 30)" },
      window: {
        type: "string",
        default: "10",
        help: "last context points the scale-and-shift fit uses (Grazzi: 10 of 40)",
      },
      gamma: {
        type: "string",
        default: "tune",
        help: `GD++ preconditioner γ, or tune (grid search on these prompts; Grazzi's ` +
          `${GRAZZI_GAMMA} was tuned for d=20, n=40)`,
      },
    },
    parseOwn,
  );
  const f = setup.flags;
  const { batch, queries, window, gammaFlag } = parseOwn(f);
  const departures = [
    "layer 0 is the read-in's output and depth = layer / blocks (Grazzi: block outputs only)",
    "probing prompts come from the run's own training distribution (Grazzi probes LR on " +
    "skewed x)",
    "squared errors are divided by d (Grazzi's GD loss has the same 1/d)",
  ];
  const models: Record<string, ProbeResult & { run: string; blocks: number }> = {};
  let gd: ReturnType<typeof gdCurves> | undefined;
  let prompts: ProbePrompts | undefined;
  for (const run of setup.runs) {
    try {
      prompts = probePrompts(run, batch, queries, setup.seed);
    } catch (e) {
      console.log(`  skipping ${run.dir}: ${(e as Error).message}`);
      continue;
    }
    const win = Math.min(window, prompts.context);
    if (win !== 10 || prompts.context !== 40) {
      const dep = `fit on the last ${win} of ${prompts.context} context points (Grazzi: 10 of 40)`;
      if (!departures.includes(dep)) departures.push(dep);
    }
    const model = await loadModel(run, setup.backend);
    const t = performance.now();
    const r = await probeModel(model, prompts, setup.backend, {
      window: win,
      norm: prompts.d,
    });
    model.dispose();
    if (!(r.lastLayerGap <= 1e-4 * Math.max(1, ...r.raw.map(Math.sqrt)))) {
      throw new Error(
        `${run.dir}: sanity check failed: the last layer decoded differs from the model's ` +
          `output by ${r.lastLayerGap}`,
      );
    }
    models[run.name] = { ...r, run: run.dir, blocks: r.depth.length - 1 };
    console.log(
      `  ${run.name} (${run.dir}): last layer decoded = model output (max gap ` +
        `${r.lastLayerGap.toExponential(1)}); ${fmtTime((performance.now() - t) / 1000)}`,
    );
    console.log(`    depth   probed MSE/d   raw MSE/d   scale    shift`);
    r.depth.forEach((dp, i) =>
      console.log(
        `    ${dp.toFixed(2)}    ${r.probed[i].toFixed(4).padStart(8)}   ${
          r.raw[i].toFixed(4).padStart(9)
        }   ${r.scale[i].toFixed(3).padStart(6)}   ${r.shift[i].toFixed(3).padStart(6)}`,
      )
    );
    const first = r.probed[0], last = r.probed[r.probed.length - 1];
    const rises = r.depth.filter((_, i) => i > 0 && r.probed[i] > r.probed[i - 1]);
    console.log(
      `    error ${
        rises.length
          ? `rises at depth ${rises.map((v) => v.toFixed(2)).join(", ")}`
          : "falls at every layer"
      }: ${first.toFixed(4)} at the read-in → ${last.toFixed(4)} at the last block`,
    );
    if (!gd && ["linear_regression", "skewed_linear_regression"].includes(run.taskKey)) {
      gd = gdCurves(prompts, gammaFlag);
      console.log(
        `  GD (step 2/(L+μ)) and GD++ (γ = ${gd.gamma.toExponential(3)}${
          gammaFlag === "tune" ? ", tuned" : ""
        }) after 0/1/${GD_ITERATIONS} iterations: ${
          [0, 1, GD_ITERATIONS].map((k) => gd!.gd[k].toFixed(4)).join("/")
        } and ${[0, 1, GD_ITERATIONS].map((k) => gd!.gdpp[k].toFixed(4)).join("/")}`,
      );
    }
  }
  if (!Object.keys(models).length) fail(NAME, "no run could be probed");
  const series = (key: "probed" | "scale" | "shift"): PlotSeries[] =>
    Object.entries(models).map(([name, r]) => ({
      name: `${name} (${r.blocks} blocks)`,
      color: ARCH_COLOR[name as ArchName],
      x: r.depth,
      y: r[key],
    }));
  const gdX = Array.from({ length: GD_ITERATIONS + 1 }, (_, k) => k / GD_ITERATIONS);
  const mse = series("probed");
  if (gd) {
    mse.push({ name: "GD", x: gdX, y: gd.gd, dashed: true, color: "#2ca02c" });
    mse.push({ name: "GD++", x: gdX, y: gd.gdpp, dashed: true, color: "#7f7f7f" });
  }
  const ctx = `${prompts!.batch} prompts × ${prompts!.queries} queries`;
  const figs: Record<string, string> = {
    "probe_mse.svg": errorCurveSvg({
      title: "Probing: scale-and-shift decoded error against depth",
      xLabel: `depth ratio (layer / blocks); GD iterations k/${GD_ITERATIONS} (${ctx})`,
      yLabel: "squared error / d (log)",
      series: mse,
      logY: true,
    }),
    "probe_scale.svg": errorCurveSvg({
      title: "Probing: fitted scale against depth",
      xLabel: "depth ratio (layer / blocks)",
      yLabel: "scale (mean over prompts)",
      series: series("scale"),
    }),
    "probe_shift.svg": errorCurveSvg({
      title: "Probing: fitted shift against depth",
      xLabel: "depth ratio (layer / blocks)",
      yLabel: "shift (mean over prompts)",
      series: series("shift"),
    }),
  };
  for (const d of departures) console.log(`  departure from the paper: ${d}`);
  await writeAnalysis(
    setup.outDir,
    figs,
    {
      experiment: NAME,
      trainedIn: setup.trainedIn ?? null,
      prompts: batch,
      queries,
      context: prompts!.context,
      window: Math.min(window, prompts!.context),
      models,
      gd: gd ? { iterations: GD_ITERATIONS, ...gd } : null,
      departures,
    },
    t0,
    !!f.json,
  );
}
