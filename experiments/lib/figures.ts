/**
 * A suite's three figures: error against in-context examples at the reference size (the
 * Garg-style curve, with the baselines), the learning curves of the reference-size runs, and
 * error against training FLOPs over the whole sweep (Park's Fig. 2 style, plot_flops.ts).
 */
import { emptyFigure, errorCurveSvg, type PlotSeries } from "../plot.ts";
import { flopsFigureSvg, type FlopsSeries } from "../plot_flops.ts";
import { ARCH_COLOR, type ArchName } from "./archs.ts";
import type { Comparison } from "./compare.ts";
import type { BaselineRow } from "./baseline_rows.ts";
import type { RunRow } from "./run.ts";
import { sizeLabel } from "./sizes.ts";
import { sizesOf, type SuiteSpec } from "./spec.ts";

/** File names, in the order `suiteFigures` returns them. */
export const FIGURES = ["error_vs_examples.svg", "learning_curves.svg", "flops_vs_error.svg"];

const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

/** The runs of each architecture at the reference (largest) size. */
function referenceRuns(spec: SuiteSpec, runs: RunRow[]): Map<ArchName, RunRow[]> {
  const ref = spec.sizes.length - 1;
  const out = new Map<ArchName, RunRow[]>();
  for (const m of spec.models) {
    const size = sizeLabel(sizesOf(spec, m)[ref]);
    const own = runs.filter((r) => r.model === m && r.size === size);
    if (own.length) out.set(m, own);
  }
  return out;
}

/** The per-position curve of an architecture over seeds: the mean, band min–max of seeds. */
function positionSeries(name: ArchName, rs: RunRow[]): PlotSeries {
  const n = rs[0].byPosition.mean.length;
  const at = (i: number) => rs.map((r) => r.byPosition.mean[i] ?? NaN);
  const one = rs.length === 1;
  return {
    name,
    color: ARCH_COLOR[name],
    x: Array.from({ length: n }, (_, i) => i),
    y: Array.from({ length: n }, (_, i) => mean(at(i))),
    lo: one ? rs[0].byPosition.lo : Array.from({ length: n }, (_, i) => Math.min(...at(i))),
    hi: one ? rs[0].byPosition.hi : Array.from({ length: n }, (_, i) => Math.max(...at(i))),
  };
}

/**
 * The frontier drawn to the architecture's largest budget: past its last improvement the best
 * value at a budget stays flat, so the line does too (and a one-point frontier is visible).
 */
function extendFrontier(
  front: { flops: number; value: number }[],
  own: { flops: number; value: number }[],
): { flops: number; value: number }[] {
  const top = Math.max(...own.filter((p) => Number.isFinite(p.value)).map((p) => p.flops));
  const last = front[front.length - 1];
  return last && top > last.flops ? [...front, { flops: top, value: last.value }] : front;
}

/** SVG text of the three figures. */
export function suiteFigures(
  spec: SuiteSpec,
  runs: RunRow[],
  cmp: Comparison,
  trivial: BaselineRow,
  referenceCurves: PlotSeries[],
  higherIsBetter: boolean,
): string[] {
  const yMax = higherIsBetter ? 1 : Math.max(trivial.value, 1e-9) * 1.25;
  const yLabel = spec.metric.replace(/ \(.*$/, "");
  const refs = referenceRuns(spec, runs);
  const refSize = sizeLabel(spec.sizes[spec.sizes.length - 1]);
  const seeds = spec.seeds.length > 1 ? `, band min–max over ${spec.seeds.length} seeds` : "";
  const byPosition = errorCurveSvg({
    title: `${spec.title} (${refSize}, step ${spec.steps})`,
    xLabel: `${spec.xLabel} (${spec.evalPrompts} test prompts${seeds || ", 5–95% bands"})`,
    yLabel: spec.curveMetric ?? yLabel,
    series: [...[...refs].map(([m, rs]) => positionSeries(m, rs)), ...referenceCurves],
    yMax,
  });
  const lc: PlotSeries[] = [...refs].flatMap(([m, rs]) =>
    rs.filter((r) => r.curve.length).map((r) => ({
      name: rs.length > 1 ? `${m} (seed ${r.seed})` : m,
      color: rs.length > 1 ? undefined : ARCH_COLOR[m],
      x: r.curve.map((c) => c.step),
      y: r.curve.map((c) => c.value),
    }))
  );
  lc.push({
    name: trivial.name,
    x: [0, spec.steps],
    y: [trivial.value, trivial.value],
    dashed: true,
  });
  const curves = errorCurveSvg({
    title: `${spec.title}: during training (${refSize})`,
    xLabel: `training step (late positions of ${spec.curvePrompts} prompts)`,
    yLabel,
    series: lc,
    yMax,
  });
  const sizeIndex = new Map<string, number>();
  for (const m of spec.models) {
    sizesOf(spec, m).forEach((s, i) => sizeIndex.set(`${m}/${sizeLabel(s)}`, i));
  }
  const series: FlopsSeries[] = cmp.frontier.map((f) => ({
    name: f.model,
    color: ARCH_COLOR[f.model as ArchName],
    frontier: extendFrontier(f.points, cmp.points.filter((p) => p.model === f.model)),
    dots: cmp.points.filter((p) => p.model === f.model).map((p) => ({
      flops: p.flops,
      value: p.value,
      lo: p.ci[0],
      hi: p.ci[1],
      fraction: p.fraction,
      sizeIndex: sizeIndex.get(`${p.model}/${p.size}`) ?? 0,
    })),
  }));
  const pos = cmp.points.map((p) => p.value).filter((v) => v > 0 && Number.isFinite(v));
  const logY = !higherIsBetter && pos.length > 1 && Math.max(...pos) / Math.min(...pos) > 100;
  let flops: string;
  try {
    flops = flopsFigureSvg({
      title: `${spec.title}: ${higherIsBetter ? "accuracy" : "error"} vs training FLOPs`,
      yLabel: `${yLabel}${seeds ? ` (mean of ${spec.seeds.length} seeds)` : ""}`,
      series,
      reference: { name: trivial.name, value: trivial.value },
      logY,
      fractions: spec.fractions,
      sizes: spec.sizes.map(sizeLabel),
    });
  } catch {
    // Every run diverged: an empty figure says so instead of failing the suite.
    flops = emptyFigure(`${spec.title}: vs training FLOPs`, "every run diverged");
  }
  return [byPosition, curves, flops];
}
