/**
 * The FLOPs view of a sweep (Park Figs. 2, 4, 8: "for each architecture, the best performing
 * model given the same amount of FLOPs"): the runs of one architecture (sizes × seeds ×
 * checkpoints) become points (flops, value) averaged over seeds, and the frontier is the best
 * value reachable with at most a given training budget.
 */
import type { Estimate } from "./spec.ts";

/** One seed's number at a checkpoint. */
export interface SeedValue extends Estimate {
  seed: number;
}

/** A checkpoint of one (architecture, size), over seeds: one dot of the FLOPs figure. */
export interface Point extends Estimate {
  model: string;
  size: string;
  width: number;
  layers: number;
  params: number;
  step: number;
  /** step / the run's steps. */
  fraction: number;
  /** Training FLOPs up to this step. */
  flops: number;
  seeds: SeedValue[];
  /** What `ci` spans: the bootstrap over prompts (one seed) or min–max over seeds. */
  interval: "bootstrap" | "seeds";
}

/** One seed's checkpoint before aggregation. */
export interface RawPoint extends Omit<Point, "seeds" | "interval" | "value" | "ci"> {
  seed: number;
  value: number;
  ci: [number, number];
}

/**
 * Groups checkpoints by (model, size, step) and averages over seeds: the value is the mean of
 * the seeds' values, the interval the bootstrap one for a single seed and [min, max] over seeds
 * otherwise. Non-finite seeds (diverged) make the mean NaN: a diverged seed is not hidden.
 */
export function aggregatePoints(raw: RawPoint[]): Point[] {
  const groups = new Map<string, RawPoint[]>();
  for (const r of raw) {
    const k = `${r.model}\u0000${r.size}\u0000${r.step}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const vals = rs.map((r) => r.value);
    const one = rs.length === 1;
    const { seed: _s, ...first } = rs[0];
    return {
      ...first,
      flops: rs.reduce((s, r) => s + r.flops, 0) / rs.length,
      value: vals.reduce((s, v) => s + v, 0) / vals.length,
      ci: one ? rs[0].ci : [Math.min(...vals), Math.max(...vals)] as [number, number],
      seeds: rs.map((r) => ({ seed: r.seed, value: r.value, ci: r.ci })),
      interval: one ? "bootstrap" : "seeds",
    };
  });
}

/** True when a is a better value than b on this metric. */
export function better(a: number, b: number, higherIsBetter: boolean): boolean {
  return higherIsBetter ? a > b : a < b;
}

/**
 * The best-at-budget frontier of one architecture's points: sorted by FLOPs, each point that
 * beats every cheaper one (ties in FLOPs: the better first). Non-finite values never enter.
 * The best value with a budget F is then the last frontier point with flops ≤ F.
 */
export function frontier<P extends { flops: number; value: number }>(
  points: P[],
  higherIsBetter: boolean,
): P[] {
  const sorted = points.filter((p) => Number.isFinite(p.value) && Number.isFinite(p.flops))
    .sort((a, b) => a.flops - b.flops || (better(a.value, b.value, higherIsBetter) ? -1 : 1));
  const out: P[] = [];
  for (const p of sorted) {
    if (!out.length || better(p.value, out[out.length - 1].value, higherIsBetter)) out.push(p);
  }
  return out;
}

/** The best point with at most `budget` training FLOPs (undefined when none is that cheap). */
export function bestWithin<P extends { flops: number; value: number }>(
  front: P[],
  budget: number,
): P | undefined {
  let best: P | undefined;
  for (const p of front) if (p.flops <= budget * (1 + 1e-9)) best = p;
  return best;
}
