/**
 * The shared runner of the Fig. 1a experiments: train a list of models on one task with its
 * curriculum for the same number of steps, evaluate all of them on the same test prompts
 * (per-position errors with bootstrap bands, and one late-position number per model), run the
 * task's classical baselines and the trivial predictor on those prompts, assign the ✓/▲/✗ marks
 * (marks.ts), and write per-run metrics, two SVG figures and a summary. The spec, the summary's
 * types, model configs and the table are in suite_spec.ts (re-exported here).
 */
import type { Backend } from "../../core/backend.ts";
import { constantSchedule, type ICLModel, makeModel } from "../../nn/mod.ts";
import { baselineInput, BASELINES } from "../../tasks/baselines.ts";
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
import { assignMarks, PAPER_MARKS } from "./marks.ts";
import { fmtTime } from "./progress.ts";
import { NonFiniteLossError, train } from "./trainer.ts";

export * from "./suite_spec.ts";
import {
  type BaselineRow,
  type Estimate,
  fmtV,
  heavyPositions,
  modelConfig,
  type ModelEval,
  type ModelRow,
  printSuiteTable,
  seqLenOf,
  type SuiteSpec,
  type SuiteSummary,
  trainFlops,
} from "./suite_spec.ts";

/** Baselines that get a grid of positions and `heavyPrompts` prompts instead of everything. */
const HEAVY = new Set(["nn_gd", "xgboost", "greedy_tree", "greedy_tree_depth4", "lasso"]);

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
