/**
 * exp:table1: the MambaFormer paper's Fig. 1a table, regenerated. Trains Transformer, Mamba and
 * MambaFormer on the nine in-context tasks of the paper's Table 1 (linear, sparse linear, 2NN
 * and decision-tree regression, orthogonal- and many-outlier regression, sparse parity,
 * Chain-of-Thought I/O, vector MQAR) with each task's own spec builder (the same specs as
 * exp:regression, exp:outliers, exp:parity, exp:cot, exp:mqar), evaluates every model, the
 * classical baselines and the trivial predictor on the same test prompts, assigns ✓ / ▲ / ✗ at
 * matched training FLOPs and at equal steps by the criteria documented in
 * experiments/lib/marks.ts, and writes `report.md` (our marks next to the paper's, the numbers
 * behind every mark, links to the figures) and `summary.json`.
 *
 *   deno task exp:table1                                   # quick preset (CPU-sized)
 *   deno task exp:table1 --tasks sparse_parity,mqar --backend cpu --steps 100
 *   deno task exp:table1 --preset paper --out runs/table1-paper [--resume]
 */
import { COT_KEYS, cotSpecs } from "./cot.ts";
import { parseCli } from "./lib/cli.ts";
import { type FamilySummary, finishFamily, runFamily } from "./lib/family.ts";
import { type CommonOptions, parseCommon, scriptFlags } from "./lib/flags.ts";
import { writeAtomic } from "./lib/files.ts";
import { FIG1A_MODELS, FIG1A_TASKS, LEARN_FRACTION, PAR_MARGIN } from "./lib/marks.ts";
import { buildSpecs } from "./lib/presets.ts";
import { fmtTime } from "./lib/progress.ts";
import type { SuiteSpec } from "./lib/spec.ts";
import type { SuiteSummary } from "./lib/suite.ts";
import { comparisonTable, fmtV, sweepTable } from "./lib/tables.ts";
import { MQAR_PAPER_RECIPE, MQAR_QUICK_RECIPE, mqarSpecs } from "./mqar.ts";
import { OUTLIER_KEYS, outlierSpecs } from "./outliers.ts";
import { paritySpec } from "./parity.ts";
import { FIG1A_REGRESSION, regressionSpecs } from "./regression.ts";

/** The MQAR row: one setting (quick: width 32, 4 queries; paper: d_model 64, 16 queries). */
function mqarRow(o: CommonOptions): SuiteSpec {
  const paper = o.preset === "paper";
  const sizes = (paper ? MQAR_PAPER_RECIPE : MQAR_QUICK_RECIPE).sizes!.slice(0, 1);
  const [spec] = mqarSpecs(o, { queries: [paper ? 16 : 4], lrs: [o.lr], sizes });
  return spec;
}

/** Every spec of the table, in the paper's row order, restricted to `keys`. */
export function table1Specs(
  options: CommonOptions,
  keys: readonly string[] = FIG1A_TASKS,
): SuiteSpec[] {
  const has = (k: string) => keys.includes(k);
  // Fig. 1a has three columns; --models can add any other architecture.
  const o = { ...options, models: options.models ?? [...FIG1A_MODELS] };
  const specs: SuiteSpec[] = [
    ...regressionSpecs(o, FIG1A_REGRESSION.filter(has)),
    ...outlierSpecs(o, OUTLIER_KEYS.filter(has)),
    ...(has("sparse_parity") ? [paritySpec(o)] : []),
    ...(COT_KEYS.some(has) ? cotSpecs(o) : []),
    ...(has("mqar") ? [mqarRow(o)] : []),
  ];
  return specs;
}

/** report.md: the table next to the paper's, the criteria, and every task's numbers. */
export function reportMarkdown(s: FamilySummary, command: string): string {
  const out: string[] = [
    "# Fig. 1a of *Can Mamba Learn How to Learn?* (Park et al. 2024), regenerated",
    "",
    `Command: \`${command}\` — preset **${s.preset}**, backend ${s.backend}, seeds ${s.seeds}, ` +
    `total wall time **${fmtTime(s.wallSeconds)}**.`,
    "",
    "Each cell: our mark (the paper's mark).",
    "",
    "At matched training FLOPs (the paper's comparison; how the row of each architecture is",
    "picked is in `experiments/lib/marks.ts`):",
    "",
    s.marksTable,
    "",
    "At equal steps, every architecture at the same (largest) size after all steps:",
    "",
    s.equalStepsTable,
    "",
    `**Verdict:** ${s.verdict}.`,
    "",
    "## How the marks are assigned",
    "",
    "Every model's number is the mean over the late prompt positions (the last quarter of the",
    "in-context examples; all queries for MQAR) of the task's error, or accuracy for parity,",
    "on the same test prompts, with a bootstrap 5–95% interval. It is normalized so that",
    "0 = perfect and 1 = the trivial predictor (zero predictor; no-context chance for parity;",
    "zero vector for MQAR). Then (full rationale in `experiments/lib/marks.ts`):",
    "",
    `- **✗** if the interval reaches the trivial level, or the model removes less than ` +
    `${LEARN_FRACTION} of the trivial error (for MQAR: less than 0.9, i.e. error above 0.1, the ` +
    "paper's own failure line);",
    `- **✓** if within ${PAR_MARGIN} (normalized) of the best of the three models, or its ` +
    "interval overlaps the best's;",
    "- **▲** otherwise (learns, with a gap).",
    "",
    "Each architecture's sweep (sizes × checkpoints, averaged over seeds) gives points",
    "(training FLOPs, value). The matched budget is the largest one every architecture reached",
    "(the minimum over architectures of their most expensive point); each architecture is",
    "marked at its best point within that budget. The equal-steps view is the comparison at one",
    "size (equal depth in the paper's layer convention) and the same number of steps.",
    "",
  ];
  for (const t of s.tasks as SuiteSummary[]) {
    out.push(`## ${t.title}`, "", `Settings: ${t.description}.`, "");
    if (t.departures.length) {
      out.push("Departures from the paper:", "", ...t.departures.map((d) => `- ${d}`), "");
    }
    out.push(
      `Sweep (value @ training FLOPs at each evaluated checkpoint):`,
      "",
      sweepTable(t.points, t.runs),
      "",
    );
    out.push(
      `At matched FLOPs (budget ${t.budget.toExponential(2)}):`,
      "",
      comparisonTable(t.metric, t.models, [...t.baselines, t.trivial]),
      "",
      `At equal steps (${t.equalSteps.size}):`,
      "",
      comparisonTable(t.metric, t.equalSteps.models),
      "",
    );
    for (const r of t.models) {
      out.push(`- ${r.model}: ${r.mark} — ${r.reason}${r.error ? ` (stopped: ${r.error})` : ""}`);
      for (const [k, e] of Object.entries(r.extra ?? {})) {
        out.push(`  - ${k}: ${fmtV(e.value)} [${e.ci.map(fmtV).join(", ")}]`);
      }
    }
    out.push(
      "",
      `Figures: [error vs in-context examples](${t.dir}/${t.figures[0]}), ` +
        `[learning curves](${t.dir}/${t.figures[1]}), [error vs training FLOPs](${t.dir}/${
          t.figures[2]
        }).`,
      "",
    );
  }
  return out.join("\n");
}

if (import.meta.main) {
  const NAME = "exp:table1";
  const flags = parseCli(
    NAME,
    "regenerate the MambaFormer paper's Fig. 1a table (9 ICL tasks × Transformer, Mamba, " +
      "MambaFormer) with ✓/▲/✗ marks, report.md and summary.json",
    scriptFlags([]),
  );
  const o = parseCommon(NAME, flags, FIG1A_TASKS);
  const specs = buildSpecs(NAME, () => table1Specs(o, o.tasks ?? FIG1A_TASKS));
  const { summary, outDir } = await runFamily("table1", specs, o);
  const command = `deno task exp:table1 ${Deno.args.join(" ")}`.trim();
  await writeAtomic(`${outDir}/report.md`, reportMarkdown(summary, command));
  console.log(`wrote ${outDir}/report.md`);
  await finishFamily(outDir, summary, o.json);
}
