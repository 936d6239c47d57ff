/**
 * Model-size grids for the FLOPs sweeps. Park's appendix gives one grid, the CoT-I/O Table 2
 * (Tiny 64 × 3, Small 128 × 6, Standard 256 × 12, heads 2/4/8: also Garg's and Grazzi's
 * `conf/models` sizes); the paper preset uses it for every regression-style task. Elsewhere
 * the grid is geometric the same way (width ×2 and layers ×2 per step), scaled down for a CPU:
 * `quick` = 16 × 1, 32 × 2, 64 × 4 with 2, 4, 4 heads (head width 8–16).
 */
import type { ModelSize } from "./archs.ts";

/** Park's Table 2 sizes (paper layers). */
export const NAMED_SIZES: Record<string, ModelSize> = {
  tiny: { width: 64, layers: 3, heads: 2 },
  small: { width: 128, layers: 6, heads: 4 },
  standard: { width: 256, layers: 12, heads: 8 },
};

/** The paper grid: Table 2, smallest first. */
export const PAPER_GRID: ModelSize[] = ["tiny", "small", "standard"].map((n) => NAMED_SIZES[n]);

/** The CPU grid: Table 2's geometry at 1/4 of the width and depth. */
export const QUICK_GRID: ModelSize[] = [
  { width: 16, layers: 1, heads: 2 },
  { width: 32, layers: 2, heads: 4 },
  { width: 64, layers: 4, heads: 4 },
];

/** A size's short name: "w32l2h4" (the run folders use it). */
export function sizeLabel(s: ModelSize): string {
  return `w${s.width}l${s.layers}h${s.heads}`;
}

/** Smallest first: by width, then depth. */
export function sortSizes(sizes: ModelSize[]): ModelSize[] {
  return [...sizes].sort((a, b) => a.width - b.width || a.layers - b.layers || a.heads - b.heads);
}

/**
 * Parses `--sizes`: "quick", "paper", or a comma-separated list of Table 2 names and
 * WIDTHxLAYERS[xHEADS] entries (heads default to `heads`, which may be 0 for "not known yet").
 * Throws a message without the flag
 * name (the caller adds it) on anything else, or when the heads do not divide the width.
 */
export function parseSizes(value: string, heads: number): ModelSize[] {
  const v = value.trim();
  if (v === "quick") return [...QUICK_GRID];
  if (v === "paper") return [...PAPER_GRID];
  const out: ModelSize[] = [];
  for (const part of v.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (NAMED_SIZES[part]) {
      out.push({ ...NAMED_SIZES[part] });
      continue;
    }
    const m = /^(\d+)x(\d+)(?:x(\d+))?$/.exec(part);
    if (!m) {
      throw new Error(
        `"${part}" is not a size: use quick, paper, ${
          Object.keys(NAMED_SIZES).join(", ")
        } or WIDTHxLAYERS[xHEADS], e.g. 32x2x4`,
      );
    }
    const s = { width: Number(m[1]), layers: Number(m[2]), heads: Number(m[3] ?? heads) };
    if (s.width < 1 || s.layers < 1 || (m[3] !== undefined && s.heads < 1)) {
      throw new Error(`"${part}": width, layers and heads must be ≥ 1`);
    }
    out.push(s);
  }
  if (!out.length) throw new Error("must name at least one size");
  const labels = out.map(sizeLabel);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup) throw new Error(`names the size ${dup} twice`);
  return sortSizes(out);
}
