/** report.md of a run folder: the verdict, the marks tables, each task's views, diverged cells. */
import type { FamilySummary } from "./family.ts";
import { comparisonTable, fmtV, sweepTable } from "./tables.ts";

export function familyReport(s: FamilySummary): string {
  const out = [
    `# exp:${s.experiment} (preset ${s.preset}, seeds ${s.seeds.join(",")})`,
    "",
    `Backend: ${s.backend}.`,
    "",
    `Verdict: ${s.verdict}`,
    "",
    "## Marks at matched training FLOPs (ours (paper))",
    "",
    s.marksTable,
    "",
    "## Marks at equal steps, reference size",
    "",
    s.equalStepsTable,
  ];
  for (const t of s.tasks) {
    out.push("", `## ${t.title}`, "", t.description, "");
    out.push("Sweep (value @ training FLOPs at each evaluated checkpoint):", "");
    out.push(sweepTable(t.points, t.runs), "");
    out.push(`At matched training FLOPs (budget ${t.budget.toExponential(2)}):`, "");
    out.push(comparisonTable(t.metric, t.models, [...t.baselines, t.trivial]), "");
    out.push(`At equal steps (${t.equalSteps.size}):`, "");
    out.push(comparisonTable(t.metric, t.equalSteps.models), "");
    out.push(`Verdict: ${t.verdict}`);
  }
  const diverged = s.tasks.flatMap((t) =>
    t.runs.filter((r) => r.error).map((r) =>
      `- ${r.cell ?? `${t.dir}/${r.model}-${r.size}-seed${r.seed}`}: ` +
      (r.diverged
        ? `diverged at step ${r.diverged.step} (last finite loss ${
          fmtV(r.diverged.lastLoss ?? NaN)
        })`
        : r.error)
    )
  );
  const cells = s.tasks.reduce((n, t) => n + t.runs.length, 0);
  out.push("", "## Cells", "", `${cells} cells, ${diverged.length} diverged.`);
  if (diverged.length) out.push("", ...diverged);
  return out.join("\n") + "\n";
}
