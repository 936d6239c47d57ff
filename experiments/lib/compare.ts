/**
 * From a suite's runs to its comparisons: the checkpoints become points averaged over seeds
 * (frontier.ts), each architecture gets a frontier, and two views pick one row per
 * architecture and mark it (marks.ts): at matched training FLOPs (the paper's), and at equal
 * steps on the reference size (the largest of the grid).
 */
import type { ArchName } from "./archs.ts";
import { aggregatePoints, frontier, type Point, type RawPoint } from "./frontier.ts";
import { assignMarks, type Mark, matchedFlops, PAPER_MARKS } from "./marks.ts";
import type { RunRow } from "./run.ts";
import { type Estimate, sizesOf, type SuiteSpec } from "./spec.ts";
import { sizeLabel } from "./sizes.ts";

/** An architecture's row in a comparison, with its mark. */
export interface ModelRow extends Estimate {
  model: string;
  size: string;
  params: number;
  /** Training FLOPs up to the checkpoint the row stands for. */
  flops: number;
  /** The checkpoint's step. */
  steps: number;
  /** Mean wall time of the runs the row comes from (the whole run). */
  seconds: number;
  metric: string;
  interval: Point["interval"];
  seeds: number;
  mark?: Mark;
  paperMark?: Mark;
  normalized?: number;
  reason?: string;
  /** Cheapest point's FLOPs / the matched budget, when even that exceeds it. */
  overshoot?: number;
  extra?: Record<string, Estimate>;
  error?: string;
}

/** What `compareRuns` returns (the comparison part of a suite's summary). */
export interface Comparison {
  points: Point[];
  frontier: {
    model: string;
    points: { flops: number; value: number; size: string; step: number }[];
  }[];
  /** The matched-FLOPs view: the budget and one marked row per architecture. */
  matched: { budget: number; models: ModelRow[] };
  /** The equal-steps view at the reference size. */
  equalSteps: { size: string; models: ModelRow[] };
  verdict: string;
}

/** Every checkpoint of every run, one seed per entry. */
export function rawPoints(runs: RunRow[]): RawPoint[] {
  return runs.flatMap((r) =>
    r.points.map((p) => ({
      model: r.model,
      size: r.size,
      width: r.width,
      layers: r.layers,
      params: r.params,
      step: p.step,
      fraction: p.step / Math.max(...r.points.map((q) => q.step)),
      flops: p.flops,
      seed: r.seed,
      value: p.value,
      ci: p.ci,
    }))
  );
}

/** Seed means of the extra estimates at one checkpoint (CoT's teacher-forced error). */
function extrasAt(runs: RunRow[], step: number): Record<string, Estimate> | undefined {
  const per = runs.map((r) => r.points.find((p) => p.step === step)?.extra).filter((e) => e);
  if (!per.length) return undefined;
  const out: Record<string, Estimate> = {};
  for (const k of Object.keys(per[0]!)) {
    const vs = per.map((e) => e![k]).filter((e) => e);
    const vals = vs.map((e) => e.value);
    out[k] = {
      value: vals.reduce((s, v) => s + v, 0) / vals.length,
      ci: vs.length === 1 ? vs[0].ci : [Math.min(...vals), Math.max(...vals)],
    };
  }
  return out;
}

function rowOf(p: Point, runs: RunRow[], metric: string): ModelRow {
  const own = runs.filter((r) => r.model === p.model && r.size === p.size);
  const errors = own.map((r) => r.error).filter((e) => e);
  const row: ModelRow = {
    model: p.model,
    size: p.size,
    params: p.params,
    flops: p.flops,
    steps: p.step,
    seconds: own.reduce((s, r) => s + r.seconds, 0) / Math.max(own.length, 1),
    metric,
    value: p.value,
    ci: p.ci,
    interval: p.interval,
    seeds: p.seeds.length,
  };
  const extra = extrasAt(own, p.step);
  if (extra) row.extra = extra;
  if (errors.length) row.error = errors.join("; ");
  return row;
}

/** Applies the marks of one view to its rows (in place) and returns them. */
function mark(rows: ModelRow[], spec: SuiteSpec, trivial: number, higherIsBetter: boolean) {
  const marks = assignMarks(rows, { higherIsBetter, trivial, learn: spec.learn });
  const paper = PAPER_MARKS[spec.key] ?? {};
  rows.forEach((r, i) => {
    r.mark = marks[i].mark;
    r.normalized = marks[i].normalized;
    r.reason = marks[i].reason;
    r.paperMark = paper[r.model];
  });
  return rows;
}

/** The points, frontiers, both views with their marks, and a verdict line. */
export function compareRuns(
  spec: SuiteSpec,
  runs: RunRow[],
  trivial: number,
  higherIsBetter: boolean,
): Comparison {
  const points = aggregatePoints(rawPoints(runs));
  const models = spec.models.filter((m) => points.some((p) => p.model === m));
  const fronts = models.map((model) => ({
    model,
    points: frontier(points.filter((p) => p.model === model), higherIsBetter)
      .map((p) => ({ flops: p.flops, value: p.value, size: p.size, step: p.step })),
  }));
  const { budget, picks } = matchedFlops(points, higherIsBetter);
  const matchedRows = mark(
    picks.map((pk) => {
      const row = rowOf(pk.point, runs, spec.metric);
      if (pk.overshoot > 1) row.overshoot = pk.overshoot;
      return row;
    }),
    spec,
    trivial,
    higherIsBetter,
  );
  const ref = spec.sizes.length - 1;
  const equalRows = mark(
    models.flatMap((m: ArchName) => {
      const size = sizeLabel(sizesOf(spec, m)[ref]);
      const p = points.find((q) => q.model === m && q.size === size && q.step === spec.steps);
      return p ? [rowOf(p, runs, spec.metric)] : [];
    }),
    spec,
    trivial,
    higherIsBetter,
  );
  const compared = matchedRows.filter((r) => r.paperMark);
  const agree = compared.filter((r) => r.mark === r.paperMark).length;
  const verdict = `${spec.title} (matched FLOPs): ` +
    matchedRows.map((r) => `${r.model} ${r.mark}${r.paperMark ? ` (paper ${r.paperMark})` : ""}`)
      .join(", ") +
    (compared.length ? `; ${agree}/${compared.length} marks agree with the paper` : "");
  return {
    points,
    frontier: fronts,
    matched: { budget, models: matchedRows },
    equalSteps: { size: sizeLabel(spec.sizes[ref]), models: equalRows },
    verdict,
  };
}
