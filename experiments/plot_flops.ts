/**
 * The FLOPs figure of Park et al. (Figs. 2, 4 left, 8): error (or accuracy) against training
 * FLOPs on a log axis, one colour per architecture, one dot per size and evaluated checkpoint
 * (earlier checkpoints more transparent, larger models larger dots, a thin bar for the
 * interval), and each architecture's best-at-equal-FLOPs frontier as a line. Pure SVG text.
 */
// deno-lint-ignore-file no-import-prefix
// @ts-types="npm:@types/d3-scale@4.0.8"
import { scaleLinear, scaleLog } from "npm:d3-scale@4.0.2";
import { escapeXml, FONT, formatTick } from "./plot.ts";

/** One dot. */
export interface FlopsDot {
  flops: number;
  value: number;
  lo?: number;
  hi?: number;
  /** Checkpoint as a fraction of training (opacity). */
  fraction: number;
  /** 0 for the smallest size of the grid, 1 for the next, ... (dot radius). */
  sizeIndex: number;
}

/** One architecture. */
export interface FlopsSeries {
  name: string;
  color: string;
  dots: FlopsDot[];
  /** Frontier points in FLOPs order (a subset of the dots). */
  frontier: { flops: number; value: number }[];
}

export interface FlopsFigureOptions {
  title: string;
  yLabel: string;
  series: FlopsSeries[];
  /** A dashed horizontal reference (the trivial predictor). */
  reference?: { name: string; value: number };
  /** Logarithmic y axis (non-positive values are dropped). */
  logY?: boolean;
  /** Checkpoint fractions, for the legend's opacity key. */
  fractions: number[];
  sizes: string[];
  width?: number;
  height?: number;
}

/** Opacity of a dot at checkpoint fraction f: 0.28 at 20%, 0.64 at 60%, 1 at the end. */
export function dotOpacity(f: number): number {
  return Math.min(1, 0.1 + 0.9 * f);
}

const ok = (v: number, logY: boolean) => Number.isFinite(v) && (!logY || v > 0);

/** The figure as a standalone SVG document. Throws when no dot has finite coordinates. */
export function flopsFigureSvg(o: FlopsFigureOptions): string {
  const width = o.width ?? 760, height = o.height ?? 460;
  const logY = o.logY ?? false;
  const m = { top: 44, right: 206, bottom: 52, left: 64 };
  const plotW = width - m.left - m.right, plotH = height - m.top - m.bottom;
  const dots = o.series.flatMap((s) => s.dots).filter((d) => d.flops > 0 && ok(d.value, logY));
  if (!dots.length) throw new Error("flopsFigureSvg: no finite points to plot");
  const fx = dots.map((d) => d.flops);
  const ys = dots.flatMap((d) => [d.value, d.lo ?? d.value, d.hi ?? d.value])
    .filter((v) => ok(v, logY));
  if (o.reference && ok(o.reference.value, logY)) ys.push(o.reference.value);
  const x = scaleLog().domain([Math.min(...fx) / 1.6, Math.max(...fx) * 1.6]).range([0, plotW])
    .nice();
  const y0 = Math.min(...ys), y1 = Math.max(...ys);
  const y = logY
    ? scaleLog().domain([y0 / 1.5, y1 * 1.5]).range([plotH, 0]).nice()
    : scaleLinear().domain([Math.min(0, y0), y1 > 0 ? y1 * 1.05 : 1]).range([plotH, 0]).nice();
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<defs><clipPath id="plot-area"><rect width="${plotW}" height="${plotH}"/></clipPath></defs>`,
    `<text x="${m.left + plotW / 2}" y="${m.top / 2 + 5}" text-anchor="middle" font-size="15" ` +
    `font-weight="bold">${escapeXml(o.title)}</text>`,
    `<g transform="translate(${m.left},${m.top})">`,
  ];
  const decades = (s: { ticks(n?: number): number[] }) =>
    s.ticks().filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
  for (const t of logY ? decades(y) : y.ticks(6)) {
    const yy = y(t);
    out.push(
      `<line x1="0" x2="${plotW}" y1="${yy}" y2="${yy}" stroke="#e5e5e5"/>`,
      `<text x="-8" y="${yy + 4}" text-anchor="end" fill="#333">${formatTick(t)}</text>`,
    );
  }
  for (const t of decades(x)) {
    const xx = x(t);
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="0" y2="${plotH}" stroke="#eeeeee"/>`,
      `<line x1="${xx}" x2="${xx}" y1="${plotH}" y2="${plotH + 5}" stroke="#333"/>`,
      `<text x="${xx}" y="${plotH + 18}" text-anchor="middle" fill="#333">${formatTick(t)}</text>`,
    );
  }
  out.push(
    `<rect width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${plotW / 2}" y="${plotH + 40}" text-anchor="middle" font-size="13">` +
      `training FLOPs (log scale)</text>`,
    `<text transform="translate(${-48},${plotH / 2}) rotate(-90)" text-anchor="middle" ` +
      `font-size="13">${escapeXml(o.yLabel)}</text>`,
    `<g clip-path="url(#plot-area)">`,
  );
  if (o.reference && ok(o.reference.value, logY)) {
    const yy = y(o.reference.value);
    out.push(
      `<line x1="0" x2="${plotW}" y1="${yy}" y2="${yy}" stroke="#555" stroke-dasharray="6 4"/>`,
      `<text x="6" y="${yy - 5}" fill="#555">${escapeXml(o.reference.name)}</text>`,
    );
  }
  for (const s of o.series) {
    const front = s.frontier.filter((p) => p.flops > 0 && ok(p.value, logY));
    if (front.length > 1) {
      const d = front.map((p, i) =>
        `${i ? "L" : "M"}${x(p.flops).toFixed(1)},${y(p.value).toFixed(1)}`
      )
        .join("");
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    }
    for (const dot of s.dots) {
      if (!(dot.flops > 0 && ok(dot.value, logY))) continue;
      const cx = x(dot.flops).toFixed(1), op = dotOpacity(dot.fraction).toFixed(2);
      if (dot.lo !== undefined && dot.hi !== undefined && ok(dot.lo, logY) && ok(dot.hi, logY)) {
        out.push(
          `<line x1="${cx}" x2="${cx}" y1="${y(dot.lo).toFixed(1)}" y2="${y(dot.hi).toFixed(1)}" ` +
            `stroke="${s.color}" stroke-opacity="${op}"/>`,
        );
      }
      out.push(
        `<circle cx="${cx}" cy="${y(dot.value).toFixed(1)}" r="${3.5 + 1.5 * dot.sizeIndex}" ` +
          `fill="${s.color}" fill-opacity="${op}" stroke="${s.color}"/>`,
      );
    }
  }
  out.push(`</g>`);
  // Legend: architectures, then the opacity and radius keys.
  const lx = plotW + 16;
  let ly = 8;
  for (const s of o.series) {
    out.push(
      `<line x1="${lx}" x2="${
        lx + 24
      }" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
      `<circle cx="${lx + 12}" cy="${ly}" r="4" fill="${s.color}"/>`,
      `<text x="${lx + 30}" y="${ly + 4}" fill="#222">${escapeXml(s.name)}</text>`,
    );
    ly += 20;
  }
  ly += 8;
  out.push(`<text x="${lx}" y="${ly}" fill="#444">checkpoint (% of steps):</text>`);
  ly += 16;
  o.fractions.forEach((f, i) => {
    out.push(
      `<circle cx="${lx + 8 + i * 40}" cy="${ly}" r="5" fill="#333" fill-opacity="${
        dotOpacity(f).toFixed(2)
      }" stroke="#333"/>`,
      `<text x="${lx + 16 + i * 40}" y="${ly + 4}" fill="#444">${Math.round(f * 100)}</text>`,
    );
  });
  ly += 22;
  out.push(`<text x="${lx}" y="${ly}" fill="#444">model size (dot radius):</text>`);
  o.sizes.forEach((name, i) => {
    ly += 16 + i;
    out.push(
      `<circle cx="${lx + 8}" cy="${ly}" r="${3.5 + 1.5 * i}" fill="none" stroke="#333"/>`,
      `<text x="${lx + 22}" y="${ly + 4}" fill="#444">${escapeXml(name)}</text>`,
    );
  });
  ly += 22;
  out.push(`<text x="${lx}" y="${ly}" fill="#444">line: best at equal FLOPs</text>`);
  out.push(`</g>`, `</svg>`);
  return out.join("\n") + "\n";
}
