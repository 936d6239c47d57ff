/**
 * The Markdown tables of a suite, printed and written to report.md: the two comparison views
 * (matched FLOPs, equal steps) with the baselines, and the sweep table (every architecture and
 * size at every evaluated checkpoint, averaged over seeds).
 */
import type { BaselineRow } from "./baseline_rows.ts";
import type { ModelRow } from "./compare.ts";
import type { Point } from "./frontier.ts";
import { fmtTime } from "./progress.ts";
import type { RunRow } from "./run.ts";

/** Compact number: 3 decimals, or exponent form for tiny values. */
export function fmtV(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}

const ciText = (ci: [number, number]) => `[${ci.map(fmtV).join(", ")}]`;

/** One comparison view's rows (marks next to the paper's), then the reference rows. */
export function comparisonTable(
  metric: string,
  rows: ModelRow[],
  refs: BaselineRow[] = [],
): string {
  const lines = [
    `| model | size | params | train FLOPs | step | wall time | ${metric} | interval | normalized | mark (paper) |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | :---: |",
  ];
  for (const r of rows) {
    const kind = r.interval === "seeds" ? ` (${r.seeds} seeds, min–max)` : "";
    const over = r.overshoot ? ` (×${r.overshoot.toFixed(2)} over budget)` : "";
    lines.push(
      `| ${r.model} | ${r.size} | ${r.params.toLocaleString("en-US")} | ${
        r.flops.toExponential(2)
      }${over} | ${r.steps} | ${fmtTime(r.seconds)} | ${fmtV(r.value)} | ${ciText(r.ci)}${kind} | ${
        fmtV(r.normalized ?? NaN)
      } | ${r.mark ?? "?"} (${r.paperMark ?? "–"}) |`,
    );
  }
  for (const b of refs) {
    const where = b.positions === "all"
      ? ""
      : ` (${b.prompts} prompts, positions ${b.positions.join(",")})`;
    lines.push(`| *${b.name}*${where} | | | | | | ${fmtV(b.value)} | ${ciText(b.ci)} | | |`);
  }
  return lines.join("\n");
}

/**
 * Every (architecture, size): parameters, then the value at each evaluated checkpoint with its
 * training FLOPs, and the best-EMA checkpoint's value where the runs tracked one.
 */
export function sweepTable(points: Point[], runs: RunRow[]): string {
  const steps = [...new Set(points.map((p) => p.step))].sort((a, b) => a - b);
  const hasBest = runs.some((r) => r.best);
  const head = `| model | size | params | ${steps.map((s) => `step ${s}`).join(" | ")} |` +
    (hasBest ? " best-EMA (step) |" : "");
  const lines = [
    head,
    `| --- | --- | ---: | ${steps.map(() => "---:").join(" | ")} |` +
    (hasBest ? " ---: |" : ""),
  ];
  const keys = [...new Set(points.map((p) => `${p.model}\u0000${p.size}`))];
  for (const k of keys) {
    const [model, size] = k.split("\u0000");
    const own = points.filter((p) => p.model === model && p.size === size);
    const cells = steps.map((s) => {
      const p = own.find((q) => q.step === s);
      return p ? `${fmtV(p.value)} @ ${p.flops.toExponential(1)}` : "–";
    });
    let best = "";
    if (hasBest) {
      const bs = runs.filter((r) => r.model === model && r.size === size && r.best);
      best = bs.length
        ? ` ${fmtV(bs.reduce((s, r) => s + r.best!.value, 0) / bs.length)} (${
          bs.map((r) => r.best!.step).join(", ")
        }) |`
        : " – |";
    }
    lines.push(
      `| ${model} | ${size} | ${own[0].params.toLocaleString("en-US")} | ${cells.join(" | ")} |` +
        best,
    );
  }
  return lines.join("\n");
}
