/**
 * SVG error curves in the style of the ICL papers' figures: one line per model or baseline,
 * shaded bootstrap bands, a dashed reference line, axes with ticks, legend. Pure string output
 * (no DOM), so it runs anywhere Deno does.
 */
// The team's convention is full, pinned npm: specifiers without an import map.
// deno-lint-ignore-file no-import-prefix
// @ts-types="npm:@types/d3-scale@4.0.8"
import { scaleLinear, scaleLog } from "npm:d3-scale@4.0.2";
// @ts-types="npm:@types/d3-shape@3.1.6"
import { area, line } from "npm:d3-shape@3.2.0";
// @ts-types="npm:@types/d3-array@3.2.1"
import { extent } from "npm:d3-array@3.2.4";

/** One curve; `lo`/`hi` (same length as x) draw a shaded band. NaN values leave gaps. */
export interface PlotSeries {
  name: string;
  x: number[];
  y: number[];
  lo?: number[];
  hi?: number[];
  dashed?: boolean;
  /** CSS colour; default from a 10-colour palette in series order. */
  color?: string;
}

/** Options of `errorCurveSvg`. */
export interface ErrorCurveOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  /** Top of the y axis; curves above it are clipped (the papers cut off 0-shot spikes). */
  yMax?: number;
  /** Logarithmic y axis (non-positive values are dropped). */
  logY?: boolean;
  /** Pixel size (default 720 × 440). */
  width?: number;
  height?: number;
}

/** Tableau 10, the matplotlib default cycle the papers' figures use. */
export const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

export const FONT = `font-family="Helvetica, Arial, sans-serif"`;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Compact tick label: integers plain, small/large numbers in exponent form. */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

/**
 * Renders the curves as a standalone SVG document string. Throws if a series' arrays have
 * mismatched lengths. Series without a finite point (a diverged run) are left out and named
 * under the plot; with none left the figure is a note saying so, not an error, so a run whose
 * every model diverged still writes its figures.
 */
export function errorCurveSvg(opts: ErrorCurveOptions): string {
  const width = opts.width ?? 720, height = opts.height ?? 440;
  const legendWidth = 170;
  const m = { top: 44, right: legendWidth + 16, bottom: 52, left: 64 };
  const plotW = width - m.left - m.right, plotH = height - m.top - m.bottom;
  for (const s of opts.series) {
    for (const key of ["y", "lo", "hi"] as const) {
      const arr = s[key];
      if (arr && arr.length !== s.x.length) {
        throw new Error(
          `errorCurveSvg: series "${s.name}" has ${arr.length} ${key} for ${s.x.length} x`,
        );
      }
    }
  }
  const ok = (v: number) => Number.isFinite(v) && (!opts.logY || v > 0);
  // Colours are fixed before series are left out, so the others keep theirs.
  const all = opts.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const series = all.filter((s) => s.y.some((v, j) => ok(v) && Number.isFinite(s.x[j])));
  const skipped = all.filter((s) => !series.includes(s)).map((s) => s.name);
  const note = skipped.length ? `not plotted (no finite values): ${skipped.join(", ")}` : "";
  if (!series.length) return emptyFigure(opts.title, note || "no series to plot");
  const xs = series.flatMap((s) => s.x.filter((_, i) => ok(s.y[i])));
  const ys = series.flatMap((s) => [...s.y, ...(s.lo ?? []), ...(s.hi ?? [])].filter(ok));
  const [x0, x1] = extent(xs);
  const [y0, y1] = extent(ys);
  if (x0 === undefined || x1 === undefined || y0 === undefined || y1 === undefined) {
    throw new Error("errorCurveSvg: no finite points to plot");
  }
  const xScale = scaleLinear().domain([x0, x1 === x0 ? x0 + 1 : x1]).range([0, plotW]).nice();
  const top = opts.yMax ?? y1;
  const yScale = opts.logY
    ? scaleLog().domain([Math.min(y0, top / 10), top]).range([plotH, 0]).nice()
    : scaleLinear().domain([Math.min(0, y0), top > 0 ? top : 1]).range([plotH, 0]);
  if (!opts.logY && opts.yMax === undefined) (yScale as ReturnType<typeof scaleLinear>).nice();

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<defs><clipPath id="plot-area"><rect width="${plotW}" height="${plotH}"/></clipPath></defs>`,
    `<text x="${m.left + plotW / 2}" y="${m.top / 2 + 5}" text-anchor="middle" font-size="15" ` +
      `font-weight="bold">${escapeXml(opts.title)}</text>`,
    `<g transform="translate(${m.left},${m.top})">`,
  );

  // Grid and y ticks.
  const yTicks = opts.logY
    ? yScale.ticks().filter((_, i, a) => a.length <= 12 || isDecade(a[i]))
    : yScale.ticks(6);
  for (const t of yTicks) {
    const y = yScale(t);
    out.push(
      `<line x1="0" x2="${plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<line x1="-5" x2="0" y1="${y}" y2="${y}" stroke="#333"/>`,
      `<text x="-8" y="${y + 4}" text-anchor="end" fill="#333">${formatTick(t)}</text>`,
    );
  }
  for (const t of xScale.ticks(8)) {
    const x = xScale(t);
    out.push(
      `<line x1="${x}" x2="${x}" y1="0" y2="${plotH}" stroke="#f0f0f0"/>`,
      `<line x1="${x}" x2="${x}" y1="${plotH}" y2="${plotH + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${plotH + 18}" text-anchor="middle" fill="#333">${formatTick(t)}</text>`,
    );
  }
  out.push(
    `<rect width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${plotW / 2}" y="${plotH + 40}" text-anchor="middle" font-size="13">` +
      `${escapeXml(opts.xLabel)}</text>`,
    `<text transform="translate(${-48},${plotH / 2}) rotate(-90)" text-anchor="middle" ` +
      `font-size="13">${escapeXml(opts.yLabel)}</text>`,
  );

  // Bands first, then lines on top, all clipped to the plot area.
  out.push(`<g clip-path="url(#plot-area)">`);
  const color = (s: PlotSeries, i: number) => s.color ?? PALETTE[i % PALETTE.length];
  series.forEach((s, i) => {
    if (!s.lo || !s.hi) return;
    const lo = s.lo, hi = s.hi;
    const band = area<number>()
      .defined((j) => ok(lo[j]) && ok(hi[j]) && Number.isFinite(s.x[j]))
      .x((j) => xScale(s.x[j]))
      .y0((j) => yScale(lo[j]))
      .y1((j) => yScale(hi[j]));
    const d = band(s.x.map((_, j) => j));
    if (d) out.push(`<path d="${d}" fill="${color(s, i)}" fill-opacity="0.18" stroke="none"/>`);
  });
  series.forEach((s, i) => {
    const path = line<number>()
      .defined((j) => ok(s.y[j]) && Number.isFinite(s.x[j]))
      .x((j) => xScale(s.x[j]))
      .y((j) => yScale(s.y[j]));
    const d = path(s.x.map((_, j) => j));
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    if (d) {
      out.push(`<path d="${d}" fill="none" stroke="${color(s, i)}" stroke-width="2"${dash}/>`);
    }
  });
  out.push(`</g>`);

  // Legend to the right of the plot.
  const lx = plotW + 16;
  series.forEach((s, i) => {
    const ly = 8 + i * 20;
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    out.push(
      `<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${color(s, i)}" ` +
        `stroke-width="2.5"${dash}/>`,
      `<text x="${lx + 32}" y="${ly + 4}" fill="#222">${escapeXml(s.name)}</text>`,
    );
  });
  out.push(`</g>`);
  if (note) {
    out.push(`<text x="8" y="${height - 6}" font-size="11" fill="#a00">${escapeXml(note)}</text>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** A figure with nothing to draw: its title and why. */
export function emptyFigure(title: string, why: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="80" ${FONT} font-size="13">` +
    `<rect width="720" height="80" fill="white"/>` +
    `<text x="10" y="28" font-size="15">${escapeXml(title)}</text>` +
    `<text x="10" y="56" fill="#a00">no finite points to plot; ${escapeXml(why)}</text></svg>\n`;
}

function isDecade(v: number): boolean {
  const l = Math.log10(v);
  return Math.abs(l - Math.round(l)) < 1e-9;
}
