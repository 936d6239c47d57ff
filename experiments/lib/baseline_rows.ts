/**
 * The reference rows of a suite: the trivial predictor (a fixed level such as parity's
 * no-context chance, or the zero predictor scored on the test prompts) and the task's classical
 * baselines on the same prompts, each with its per-position curve for the figure. The slow
 * baselines run on fewer prompts at a grid of positions (said in their row).
 */
import { baselineInput, BASELINES } from "../../tasks/baselines.ts";
import type { IclBatch } from "../../tasks/task.ts";
import type { PlotSeries } from "../plot.ts";
import { type EvalResult, evaluatePredictions, rangeMean } from "./evaluate.ts";
import { fmtTime } from "./progress.ts";
import { type Estimate, heavyPositions, type SuiteSpec } from "./spec.ts";
import { fmtV } from "./tables.ts";

/** A baseline or the trivial predictor in a suite's summary. */
export interface BaselineRow extends Estimate {
  name: string;
  prompts: number;
  positions: number[] | "all";
  seconds: number;
}

/** Baselines that get a grid of positions and `heavyPrompts` prompts instead of everything. */
const HEAVY = new Set(["nn_gd", "xgboost", "greedy_tree", "greedy_tree_depth4", "lasso"]);

const arr = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : NaN));

/** Marks NaN (not evaluated) cells as not counted, then the late mean. */
function maskedLate(r: EvalResult, late: [number, number], seed: number): Estimate {
  const mask = new Float32Array(r.errors.length);
  for (let c = 0; c < mask.length; c++) {
    mask[c] = (r.mask ? r.mask[c] : 1) && Number.isFinite(r.errors[c]) ? 1 : 0;
  }
  return rangeMean({ ...r, mask }, late[0], late[1], seed);
}

/** The trivial row and the baselines' rows on `finalSet`, with their figure curves. */
export function referenceRows(
  spec: SuiteSpec,
  finalSet: IclBatch[],
  seed: number,
): { trivial: BaselineRow; baselines: BaselineRow[]; curves: PlotSeries[] } {
  const task = spec.task;
  const positions = finalSet[0].predPos.length;
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
      `  baseline ${name}: ${fmtV(row.value)} [${row.ci.map(fmtV).join(", ")}] on ` +
        `${r.prompts} prompts${pos ? ` at positions ${pos.join(",")}` : ""} ` +
        `(${fmtTime(row.seconds)})`,
    );
  }
  return { trivial, baselines, curves };
}
