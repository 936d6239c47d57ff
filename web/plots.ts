/** The page's two figures, drawn by the experiments' SVG code (experiments/plot.ts). */
import { errorCurveSvg, type PlotSeries } from "../experiments/plot.ts";
import type { ErrorCurves } from "./session.ts";

const SIZE = { width: 620, height: 340 };

const BASELINE_NAMES: Record<string, string> = {
  least_squares: "least squares",
  averaging: "averaging",
};

export function lossSvg(losses: [number, number][], label: string): string {
  return errorCurveSvg({
    title: "Training loss",
    xLabel: "step",
    yLabel: "loss",
    series: [{ name: label, x: losses.map(([s]) => s), y: losses.map(([, l]) => l) }],
    ...SIZE,
  });
}

export function errorSvg(c: ErrorCurves, label: string, xLabel: string): string {
  const x = c.model.map((_, i) => i);
  const series: PlotSeries[] = [{ name: label, x, y: c.model }];
  for (const [name, y] of Object.entries(c.baselines)) {
    series.push({ name: BASELINE_NAMES[name] ?? name, x, y, dashed: true });
  }
  const acc = c.metric === "accuracy";
  return errorCurveSvg({
    title: `${acc ? "Accuracy" : "Error"} vs in-context examples, step ${c.step}`,
    xLabel,
    yLabel: acc ? "accuracy" : "normalised squared error",
    series,
    // As the papers' figures, the axis stops at twice the trivial error (averaging's 1-shot
    // spike would flatten every other curve).
    yMax: acc ? 1 : 2,
    ...SIZE,
  });
}
