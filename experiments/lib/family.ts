/**
 * A script's run over its tasks: each task's suite in `<out>/<task>/`, then the combined
 * `summary.json` (one schema for every exp:* script): the flat matched-FLOPs rows, the Fig. 1a
 * marks table in both views, and each task's full summary.
 */
import { initBackend } from "../../core/device_select.ts";
import { specsOverBudget } from "./budget.ts";
import { fail } from "./cli.ts";
import { enumerateCells } from "./cells.ts";
import { CellRefusedError } from "./cell_lock.ts";
import { CheckpointError } from "../../nn/checkpoint.ts";
import { emitLauncher } from "./emit.ts";
import { timestamp, writeAtomic } from "./files.ts";
import { familyReport } from "./report_md.ts";
import { experimentRecord, prepareRunFolder } from "./run_folder.ts";
import { listCells, selectCells } from "./select.ts";
import type { CommonOptions } from "./flags.ts";
import { fig1aMarkdown } from "./marks.ts";
import { fmtTime } from "./progress.ts";
import type { ModelRow } from "./compare.ts";
import type { SuiteSpec } from "./spec.ts";
import { type PendingCell, runSuite, type SuiteSummary } from "./suite.ts";

/** One architecture of one task, flattened: a ModelRow's contract fields, marks, and where. */
export type FlatRow =
  & Pick<
    ModelRow,
    | "model"
    | "size"
    | "params"
    | "flops"
    | "steps"
    | "seconds"
    | "metric"
    | "value"
    | "ci"
    | "interval"
    | "mark"
    | "paperMark"
  >
  & {
    task: string;
    /** Sub-folder of the run (MQAR settings differ from the task key). */
    run: string;
  };

/** A script's summary.json. */
export interface FamilySummary {
  experiment: string;
  preset: string;
  backend: string;
  seeds: number[];
  wallSeconds: number;
  /** Every task's architectures at matched FLOPs (the marks). */
  models: FlatRow[];
  /** The same at equal steps on the reference size. */
  equalSteps: FlatRow[];
  tasks: SuiteSummary[];
  marksTable: string;
  equalStepsTable: string;
  verdict: string;
  [extra: string]: unknown;
}

function flat(t: SuiteSummary, rows: ModelRow[]): FlatRow[] {
  return rows.map((r) => ({
    task: t.task,
    run: t.dir,
    model: r.model,
    size: r.size,
    params: r.params,
    flops: r.flops,
    steps: r.steps,
    seconds: r.seconds,
    metric: r.metric,
    value: r.value,
    ci: r.ci,
    interval: r.interval,
    mark: r.mark,
    paperMark: r.paperMark,
  }));
}

function marksOf(tasks: SuiteSummary[], pick: (t: SuiteSummary) => ModelRow[]) {
  const models = [...new Set(tasks.flatMap((t) => pick(t).map((r) => r.model)))];
  const order = ["transformer", "mamba", "mambaformer"];
  const cols = [
    ...order.filter((m) => models.includes(m)),
    ...models.filter((m) => !order.includes(m)),
  ];
  return fig1aMarkdown(
    tasks.map((t) => ({
      task: t.task,
      marks: Object.fromEntries(pick(t).map((r) => [r.model, r.mark])),
    })),
    cols,
  );
}

/**
 * Runs this process's cells of every spec into `<out>/<dir>/`, then builds the combined summary
 * (not yet written). `--list-cells` and `--emit` print and exit 0; a process whose cells are done
 * while others' are not (a shard) lists what is left and exits 0: exp:report merges.
 */
export async function runFamily(
  experiment: string,
  specs: SuiteSpec[],
  o: CommonOptions,
): Promise<{ summary: FamilySummary; outDir: string }> {
  const name = `exp:${experiment}`;
  const cells = enumerateCells(specs);
  const sw = o.sweep;
  if (sw.listCells) {
    console.log(listCells(cells, sw.shards));
    Deno.exit(0);
  }
  const outDir = o.out ?? `runs/${experiment}-${timestamp()}`;
  if (sw.emit) {
    console.log(emitLauncher(name, experiment, cells, outDir, sw));
    Deno.exit(0);
  }
  const selected = selectCells(name, cells, sw);
  const backend = await initBackend(sw.report ? "cpu" : o.backend, sw.report);
  // Before the folder exists: an impossible size must leave nothing behind.
  const tooBig = sw.report ? null : specsOverBudget(specs, backend);
  if (tooBig) fail(name, tooBig);
  await prepareRunFolder(name, outDir, experimentRecord(experiment, cells), {
    resume: o.resume,
    force: sw.force,
    report: sw.report,
  });
  const t0 = performance.now();
  const seeds = [...new Set(specs.flatMap((s) => s.seeds))];
  console.log(
    `${experiment}: preset ${o.preset}, ${specs.length} task(s), seeds ${seeds.join(",")}`,
  );
  console.log(`  backend ${backend.name} (${backend.description}); run folder ${outDir}`);
  console.log(`  ${selected.size} of ${cells.length} cells to run in this process`);
  const tasks: SuiteSummary[] = [];
  const pending: PendingCell[] = [];
  for (const spec of specs) {
    try {
      const r = await runSuite(spec, backend, {
        dir: `${outDir}/${spec.dir ?? spec.key}`,
        cells: cells.filter((c) => c.spec === spec),
        selected,
        check: !o.noCheck,
      });
      if (r.summary) tasks.push(r.summary);
      pending.push(...r.pending);
    } catch (e) {
      // A refused cell or a checkpoint it cannot resume from is bad input, not a crash.
      if (!(e instanceof CellRefusedError || e instanceof CheckpointError)) throw e;
      console.error(`${name}: ${e.message}`);
      Deno.exit(2);
    }
  }
  if (pending.length) {
    const lines = pending.map((p) =>
      `  ${p.state === "missing" ? "missing   " : "unfinished"} ${p.id}`
    );
    console.log(
      `\n${cells.length - pending.length} of ${cells.length} cells have results in ${outDir}; ` +
        `left (unfinished: started, then failed or still running):\n${lines.join("\n")}`,
    );
    if (sw.report) {
      console.error(
        `${name}: --report: ${pending.length} cell(s) without a result; nothing written`,
      );
      Deno.exit(3);
    }
    console.log(
      `this process's cells are done; merge the folders with: deno task exp:report DIR...`,
    );
    Deno.exit(0);
  }
  const fig = marksOf(tasks, (t) => t.models);
  const eq = marksOf(tasks, (t) => t.equalSteps.models);
  const verdict = fig.compared
    ? `at matched FLOPs ${fig.agree}/${fig.compared} marks agree with the paper's Fig. 1a` +
      (fig.mismatches.length ? ` (differ: ${fig.mismatches.join("; ")})` : "") +
      `; at equal steps ${eq.agree}/${eq.compared}`
    : "no marks to compare with the paper";
  return {
    summary: {
      experiment,
      preset: o.preset,
      // The cells' own backends, so a merged summary says what the cells trained on.
      backend: [
        ...new Set(tasks.flatMap((t) => t.runs.map((r) => r.backend ?? backend.description))),
      ]
        .join("; "),
      seeds,
      wallSeconds: (performance.now() - t0) / 1000,
      models: tasks.flatMap((t) => flat(t, t.models)),
      equalSteps: tasks.flatMap((t) => flat(t, t.equalSteps.models)),
      tasks,
      marksTable: fig.table,
      equalStepsTable: eq.table,
      verdict,
    },
    outDir,
  };
}

/** Writes summary.json, prints the marks tables and verdict, and the JSON line with --json. */
export async function finishFamily(
  outDir: string,
  summary: FamilySummary,
  json: boolean,
): Promise<void> {
  await writeAtomic(`${outDir}/summary.json`, JSON.stringify(summary, null, 2));
  await writeAtomic(`${outDir}/report.md`, familyReport(summary));
  console.log(`\nmarks at matched training FLOPs (ours (paper)):\n${summary.marksTable}\n`);
  console.log(`marks at equal steps, reference size:\n${summary.equalStepsTable}\n`);
  console.log(`verdict: ${summary.verdict}`);
  console.log(
    `total wall time ${fmtTime(summary.wallSeconds)}; wrote ${outDir}/summary.json, report.md`,
  );
  if (json) console.log(JSON.stringify(summary));
}
