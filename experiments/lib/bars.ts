/**
 * A grouped bar chart as a standalone SVG string (log y): one group per condition (e.g. an
 * OOD prompt shift), one bar per model or baseline, in the style of plot.ts.
 */
// deno-lint-ignore-file no-import-prefix
// @ts-types="npm:@types/d3-scale@4.0.8"
import { scaleLog } from "npm:d3-scale@4.0.2";
import { escapeXml, FONT, formatTick, PALETTE } from "../plot.ts";

export interface BarSeries {
  name: string;
  /** One value per group; NaN leaves the bar out. */
  values: number[];
  color?: string;
  /** Hatched-looking (lighter) bars for baselines. */
  light?: boolean;
}

export function groupedBarsSvg(o: {
  title: string;
  yLabel: string;
  groups: string[];
  series: BarSeries[];
}): string {
  const width = Math.max(720, 90 * o.groups.length + 250), height = 460;
  const m = { top: 44, right: 186, bottom: 90, left: 64 };
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  const vals = o.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  if (!vals.length) throw new Error("groupedBarsSvg: no positive values to plot");
  const y = scaleLog().domain([Math.min(...vals) / 2, Math.max(...vals) * 1.5]).range([ph, 0])
    .nice();
  const gw = pw / o.groups.length, bw = (gw * 0.8) / o.series.length;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ${FONT} ` +
    `font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${m.left + pw / 2}" y="27" text-anchor="middle" font-size="15" ` +
    `font-weight="bold">${escapeXml(o.title)}</text>`,
    `<g transform="translate(${m.left},${m.top})">`,
  ];
  for (
    const t of y.ticks().filter((v) => Math.abs(Math.log10(v) % 1) < 1e-9 || y.ticks().length < 12)
  ) {
    out.push(
      `<line x1="0" x2="${pw}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
      `<text x="-8" y="${y(t) + 4}" text-anchor="end" fill="#333">${formatTick(t)}</text>`,
    );
  }
  o.groups.forEach((g, gi) => {
    const x0 = gi * gw + gw * 0.1;
    o.series.forEach((s, si) => {
      const v = s.values[gi];
      if (!(Number.isFinite(v) && v > 0)) return;
      const c = s.color ?? PALETTE[si % PALETTE.length];
      out.push(
        `<rect x="${x0 + si * bw}" y="${y(v)}" width="${bw * 0.9}" height="${ph - y(v)}" ` +
          `fill="${c}" fill-opacity="${s.light ? 0.35 : 0.9}" stroke="${c}"/>`,
      );
    });
    out.push(
      `<text transform="translate(${gi * gw + gw / 2},${ph + 14}) rotate(20)" fill="#333">` +
        `${escapeXml(g)}</text>`,
    );
  });
  out.push(
    `<rect width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text transform="translate(-48,${ph / 2}) rotate(-90)" text-anchor="middle" ` +
      `font-size="13">${escapeXml(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length];
    out.push(
      `<rect x="${pw + 16}" y="${i * 20}" width="14" height="12" fill="${c}" ` +
        `fill-opacity="${s.light ? 0.35 : 0.9}" stroke="${c}"/>`,
      `<text x="${pw + 36}" y="${i * 20 + 10}" fill="#222">${escapeXml(s.name)}</text>`,
    );
  });
  out.push(`</g>`, `</svg>`);
  return out.join("\n") + "\n";
}
