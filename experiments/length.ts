/**
 * exp:length: length generalisation (Grazzi evaluates models trained on 40 or 100 points at
 * 120–200): every model of a run folder on prompts `--factor` times longer than it was trained
 * on, the baselines on the same prompts. The models are causal, so one pass over the longest
 * prompt gives the error at every shorter length. Mamba, S4 and MambaFormer run as they are; a
 * model with learned positions stops at its table (said plainly) unless `--pe-beyond repeat`
 * reuses the last learned position for every later token.
 *
 *   deno task exp:length                               # trains Transformer and Mamba (quick)
 *   deno task exp:length --run runs/regression-... --factor 3 --pe-beyond repeat
 */
import { errorCurveSvg, type PlotSeries } from "./plot.ts";
import { baselinesFor, scoreBaselines, type Scored, scoreModel } from "./lib/analysis_eval.ts";
import { setupAnalysis, writeAnalysis } from "./lib/analysis_cli.ts";
import { ARCH_COLOR, type ArchName } from "./lib/archs.ts";
import { choiceFlag, fail, intFlag } from "./lib/cli.ts";
import { evalBatches } from "./lib/evaluate.ts";
import { loadModel, type RunInfo, runTask } from "./lib/load_run.ts";
import { fmtTime } from "./lib/progress.ts";
import { seqLenOf } from "./lib/spec.ts";
import { fmtV } from "./lib/tables.ts";
import type { IclBatch } from "../tasks/task.ts";

const NAME = "exp:length";

/** The most points a model's learned position table covers (Infinity without one). */
export function maxPointsOf(run: RunInfo): number {
  const maxLen = run.model.maxLen;
  const usesPos = run.model.arch === "hybrid" ||
    (run.model.arch === "transformer" && run.model.posEmb !== false);
  if (!usesPos || maxLen === undefined) return Infinity;
  const task = runTask(run);
  let n = 1;
  while (seqLenOf(task, { nDims: task.nDims, nPoints: n + 1 }) <= maxLen) n++;
  return n;
}

/** The first n points of every prompt of a batch (one prediction per point, e.g. Garg's). */
export function truncate(b: IclBatch, n: number): IclBatch {
  const N = b.predPos.length, tpp = b.seqLen / N, T = n * tpp, B = b.batch;
  const rows = <A extends Float32Array>(a: A, per: number, keep: number) => {
    const out = new Float32Array(B * keep);
    for (let i = 0; i < B; i++) out.set(a.subarray(i * per, i * per + keep), i * keep);
    return out;
  };
  return {
    ...b,
    seqLen: T,
    tokens: rows(b.tokens, b.seqLen * b.tokenDim, T * b.tokenDim),
    predPos: b.predPos.slice(0, n),
    targets: rows(b.targets, N * b.outDim, n * b.outDim),
    targetMask: b.targetMask ? rows(b.targetMask, N, n) : undefined,
    xs: b.xs && b.nDims ? rows(b.xs, N * b.nDims, n * b.nDims) : undefined,
    ys: b.ys ? rows(b.ys, N, n) : undefined,
    nPoints: n,
  };
}

function parseOwn(f: Record<string, string | boolean | undefined>) {
  return {
    factor: intFlag(NAME, "factor", f.factor as string, 1),
    peBeyond: choiceFlag(NAME, "pe-beyond", f["pe-beyond"] as string, ["error", "repeat"]),
    prompts: intFlag(NAME, "prompts", f.prompts as string),
  };
}

if (import.meta.main) {
  const t0 = performance.now();
  const setup = await setupAnalysis(
    NAME,
    "error against the number of in-context points, up to --factor times the training length",
    {
      factor: {
        type: "string",
        default: "4",
        help: "longest prompt, in multiples of the training number of points (Grazzi: 3 to 5)",
      },
      "pe-beyond": {
        type: "string",
        default: "error",
        help: "models with learned positions past their table: error (stop there and say so) " +
          "or repeat (reuse the last learned position)",
      },
      prompts: { type: "string", default: "640", help: "test prompts" },
    },
    parseOwn,
  );
  const f = setup.flags;
  const { factor, peBeyond, prompts } = parseOwn(f);
  const results: Record<string, Record<string, Scored & { limit?: number }>> = {};
  const notes: string[] = [];
  for (const run of setup.runs) {
    const task = runTask(run);
    if (task.metric !== "squared_error" || task.outDim !== 1) {
      console.log(`  skipping ${run.dir}: task ${run.taskKey} is not scalar regression`);
      continue;
    }
    const nTrain = task.nPoints, nMax = factor * nTrain;
    const key = `${run.taskKey} (trained on N=${nTrain})`;
    results[key] ??= {};
    const limit = maxPointsOf(run);
    let n = nMax;
    if (limit < nMax && peBeyond === "error") {
      n = limit;
      const note = `${run.name} has learned positions for ${limit} points (maxLen ` +
        `${run.model.maxLen} tokens): it cannot be evaluated past N=${limit}, so its curve ` +
        `stops there (--pe-beyond repeat reuses the last position instead)`;
      notes.push(note);
      console.log(`  ${note}`);
    }
    const long = evalBatches(task, { prompts, seed: 40_000 + setup.seed, nPoints: nMax });
    const batches = n === nMax ? long : long.map((b) => truncate(b, n));
    const model = await loadModel(run, setup.backend);
    if (limit < n) model.setPositionsBeyond("repeat");
    const t = performance.now();
    try {
      results[key][run.name] = {
        ...(await scoreModel(model, task, batches, setup.backend, () => [n - 1, n], 0)),
        ...(limit < Infinity ? { limit } : {}),
      };
    } catch (e) {
      // A model that still cannot run at this length is reported, not a stack trace.
      const note = `${run.name}: cannot evaluate at N=${n}: ${(e as Error).message}`;
      notes.push(note);
      console.log(`  ${note}`);
    } finally {
      model.dispose();
    }
    if (!Object.keys(results[key]).some((k) => k.startsWith("baseline:"))) {
      const bs = scoreBaselines(baselinesFor(run.taskKey), task, long, () => [nMax - 1, nMax], 0);
      for (const [b, s] of Object.entries(bs)) results[key][`baseline:${b}`] = s;
    }
    console.log(
      `  ${run.name} (${run.dir}) at up to N=${n}: ${fmtTime((performance.now() - t) / 1000)}`,
    );
  }
  if (!Object.keys(results).length) fail(NAME, "no scalar-regression run to evaluate");
  const figs: Record<string, string> = {};
  const tables: string[] = [];
  for (const [key, rows] of Object.entries(results)) {
    const nTrain = Number(key.match(/N=(\d+)/)![1]);
    const at = Array.from({ length: factor }, (_, k) => (k + 1) * nTrain);
    // Single positions are noisy: each column is the mean over the window of points ending there.
    const w = Math.max(1, Math.round(nTrain / 4));
    const win = (c: number[], a: number) => c.slice(a - w, a).reduce((x, v) => x + v, 0) / w;
    const lines = [
      `| ${key} | ${at.map((a) => `N=${a - w + 1}–${a}`).join(" | ")} |`,
      `| --- |${at.map(() => " ---: |").join("")}`,
    ];
    for (const [name, s] of Object.entries(rows)) {
      lines.push(
        `| ${name} | ${
          at.map((a) => (a <= s.curve.length ? fmtV(win(s.curve, a)) : "—")).join(" | ")
        } |`,
      );
    }
    tables.push(lines.join("\n"));
    const series: PlotSeries[] = Object.entries(rows).map(([name, s]) => {
      const base = name.startsWith("baseline:");
      return {
        name: base
          ? name.slice(9)
          : `${name}${s.limit && s.limit < s.curve.length ? " (positions repeated)" : ""}`,
        x: s.curve.map((_, i) => i + 1),
        y: s.curve,
        dashed: base,
        color: base ? undefined : ARCH_COLOR[name as ArchName],
      };
    });
    const ys = series.flatMap((s) => s.y).filter((v) => v > 0 && Number.isFinite(v));
    series.push({
      name: `training N=${nTrain}`,
      x: [nTrain, nTrain],
      y: [Math.min(...ys), Math.max(...ys)],
      dashed: true,
      color: "#000000",
    });
    figs[`length_${key.replace(/ .*/, "")}.svg`] = errorCurveSvg({
      title: `Length generalisation: ${key}`,
      xLabel: `in-context points (${prompts} prompts; the error at point i uses the i−1 before it)`,
      yLabel: "squared error / normalizer (log)",
      series,
      logY: true,
    });
  }
  console.log(
    `\nsquared error / normalizer up to multiples of the training length (mean over ` +
      `the points of each window):`,
  );
  for (const t of tables) console.log(t);
  const departures = [
    "one long prompt per test case scored at every position (Grazzi evaluates fixed lengths)",
  ];
  for (const d of departures) console.log(`  departure from the paper: ${d}`);
  await writeAnalysis(
    setup.outDir,
    figs,
    {
      experiment: NAME,
      trainedIn: setup.trainedIn ?? null,
      factor,
      peBeyond,
      prompts,
      results,
      notes,
      tables,
      departures,
    },
    t0,
    !!f.json,
  );
}
