/**
 * The one runner of every experiment: for one task's spec, the trivial predictor and the
 * baselines on the shared test prompts (baseline_rows.ts), every architecture × size × seed
 * run (run.ts), the comparisons at matched FLOPs and at equal steps with their marks
 * (compare.ts), three figures (figures.ts), and `summary.json` in the task's folder.
 */
import type { Backend } from "../../core/backend.ts";
import type { ICLModel } from "../../nn/mod.ts";
import type { IclBatch } from "../../tasks/task.ts";
import { type BaselineRow, referenceRows } from "./baseline_rows.ts";
import { compareRuns, type Comparison, type ModelRow } from "./compare.ts";
import { evalBatches, evaluateModel, rangeMean } from "./evaluate.ts";
import { FIGURES, suiteFigures } from "./figures.ts";
import { writeAtomic } from "./files.ts";
import { readResult, type RunRow, trainRun } from "./run.ts";
import type { Cell } from "./cells.ts";
import { sizeLabel } from "./sizes.ts";
import type { ModelEval, SuiteSpec } from "./spec.ts";
import { comparisonTable, fmtV, sweepTable } from "./tables.ts";

/** What `runSuite` returns and writes to `<dir>/summary.json`. */
export interface SuiteSummary {
  task: string;
  /** Sub-folder of the run (differs from task for MQAR's settings). */
  dir: string;
  title: string;
  description: string;
  protocol: string;
  departures: string[];
  settings: Record<string, unknown>;
  metric: string;
  higherIsBetter: boolean;
  trivial: BaselineRow;
  baselines: BaselineRow[];
  /** The matched-FLOPs view: one marked row per architecture. */
  models: ModelRow[];
  /** The matched training budget (FLOPs) of `models`. */
  budget: number;
  equalSteps: Comparison["equalSteps"];
  /** Every checkpoint of every (architecture, size), averaged over seeds. */
  points: Comparison["points"];
  frontier: Comparison["frontier"];
  runs: RunRow[];
  verdict: string;
  figures: string[];
}

/** A cell without a result: never started here, or started and not finished (failed, running). */
export interface PendingCell {
  id: string;
  state: "missing" | "unfinished";
}

/** What a suite's cells and this process's selection give: the summary once all are done. */
export interface SuiteOutcome {
  summary?: SuiteSummary;
  pending: PendingCell[];
}

/**
 * Trains the selected cells of `spec` (the others are read from their folders), then, when
 * every cell has a result, compares, marks and writes the suite's figures and summary.json.
 */
export async function runSuite(
  spec: SuiteSpec,
  backend: Backend,
  opts: { dir: string; cells: Cell[]; selected: Set<string>; check?: boolean },
): Promise<SuiteOutcome> {
  const { dir } = opts;
  const task = spec.task;
  await Deno.mkdir(dir, { recursive: true });
  console.log(`\n== ${spec.title}: ${spec.description}`);
  for (const d of spec.departures) console.log(`  departure from the paper: ${d}`);
  const higherIsBetter = task.metric === "accuracy";
  // Each seed is a full replicate: weights, training data and test prompts all follow it (as
  // exp:parity always did). Baselines and the trivial level use the first seed's prompts.
  const promptsOf = (seed: number) => ({
    finalSet: evalBatches(task, { prompts: spec.evalPrompts, seed: 20_000 + seed }),
    curveSet: evalBatches(task, { prompts: spec.curvePrompts, seed: 10_000 + seed }),
  });
  const defaultEval = async (m: ICLModel, b: IclBatch[], seed: number): Promise<ModelEval> => {
    const curve = await evaluateModel(m, task, b, backend, seed);
    return { curve, ...rangeMean(curve, spec.late[0], spec.late[1], seed) };
  };
  const evaluate = (m: ICLModel, b: IclBatch[], seed: number): Promise<ModelEval> =>
    spec.head ? spec.head.evaluate(m, b, backend, spec.late, seed) : defaultEval(m, b, seed);
  const runs: RunRow[] = [];
  const pending: PendingCell[] = [];
  for (const seed of spec.seeds) {
    const mine = opts.cells.filter((c) => c.seed === seed);
    const train = mine.some((c) => opts.selected.has(c.id));
    const ctx = {
      spec,
      backend,
      dir,
      check: opts.check ?? false,
      // Test prompts are only drawn where a cell of this seed trains here.
      ...(train ? promptsOf(seed) : { finalSet: [], curveSet: [] }),
      evaluate,
    };
    for (const cell of mine) {
      const row = opts.selected.has(cell.id)
        ? await trainRun(ctx, cell)
        : await readResult(dir, cell);
      if (row) runs.push(row);
      else {
        const started = await Deno.stat(`${dir}/${cell.folder}/config.json`).then(() => true)
          .catch(() => false);
        pending.push({ id: cell.id, state: started ? "unfinished" : "missing" });
      }
    }
  }
  if (pending.length) return { pending };
  // Baselines and the trivial level come last: a shard that does not finish the suite skips them.
  const first = promptsOf(spec.seeds[0]);
  const { trivial, baselines, curves } = referenceRows(spec, first.finalSet, spec.seeds[0]);

  const cmp = compareRuns(spec, runs, trivial.value, higherIsBetter);
  const svgs = suiteFigures(spec, runs, cmp, trivial, curves, higherIsBetter);
  for (let i = 0; i < FIGURES.length; i++) await writeAtomic(`${dir}/${FIGURES[i]}`, svgs[i]);
  const summary: SuiteSummary = {
    task: spec.key,
    dir: spec.dir ?? spec.key,
    title: spec.title,
    description: spec.description,
    protocol: spec.protocol,
    departures: spec.departures,
    settings: settingsOf(spec),
    metric: spec.metric,
    higherIsBetter,
    trivial,
    baselines,
    models: cmp.matched.models,
    budget: cmp.matched.budget,
    equalSteps: cmp.equalSteps,
    points: cmp.points,
    frontier: cmp.frontier,
    runs,
    verdict: cmp.verdict,
    figures: [...FIGURES],
  };
  await writeAtomic(`${dir}/summary.json`, JSON.stringify(summary, null, 2));
  printSuite(summary);
  return { summary, pending };
}

/** The recipe as stored in summary.json. */
function settingsOf(spec: SuiteSpec): Record<string, unknown> {
  return {
    nDims: spec.task.nDims,
    nPoints: spec.task.nPoints,
    curriculum: spec.curriculum ?? null,
    sizes: spec.sizes.map((s) => ({ ...s, label: sizeLabel(s) })),
    archSizes: spec.archSizes ?? null,
    models: spec.models,
    norm: spec.norm,
    steps: spec.steps,
    batch: spec.batch,
    lr: spec.lr,
    lrFor: spec.lrFor ?? null,
    schedule: spec.schedule,
    warmup: spec.warmup,
    optimizer: spec.optimizer,
    weightDecay: spec.weightDecay ?? null,
    clip: spec.clip,
    seeds: spec.seeds,
    fractions: spec.fractions,
    emaSpan: spec.emaSpan,
    evalPrompts: spec.evalPrompts,
    heavyPrompts: spec.heavyPrompts,
    late: spec.late,
    learn: spec.learn ?? null,
  };
}

/** Prints the sweep and both views, the extra estimates and the verdict. */
export function printSuite(s: SuiteSummary): void {
  console.log(`\nsweep (value @ training FLOPs at each evaluated checkpoint):`);
  console.log(sweepTable(s.points, s.runs));
  for (const r of s.runs.filter((r) => r.diverged)) {
    console.log(
      `  diverged: ${r.cell ?? `${r.model} ${r.size} seed ${r.seed}`} at step ` +
        `${r.diverged!.step} (its later checkpoints count as NaN)`,
    );
  }
  console.log(`\nat matched training FLOPs (budget ${s.budget.toExponential(2)}):`);
  console.log(comparisonTable(s.metric, s.models, [...s.baselines, s.trivial]));
  console.log(`\nat equal steps (${s.equalSteps.size}, all steps):`);
  console.log(comparisonTable(s.metric, s.equalSteps.models));
  for (const r of s.models) {
    for (const [k, e] of Object.entries(r.extra ?? {})) {
      console.log(`  ${r.model} ${k}: ${fmtV(e.value)} [${e.ci.map(fmtV).join(", ")}]`);
    }
  }
  console.log(`verdict: ${s.verdict}`);
}
