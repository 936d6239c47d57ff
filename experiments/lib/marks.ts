/**
 * The ✓ / ▲ / ✗ marks of the MambaFormer paper's Fig. 1a, made reproducible.
 *
 * The paper labels a model ✓ "if the model performs on par with other baseline models", ✗ "if
 * the model struggles to learn the task" and ▲ "if the performance improves but with a
 * performance gap compared to other baseline models", without numbers. iclab turns that into
 * rules on one number per model and task: the task's mark metric (the mean error, or accuracy,
 * over the late prompt positions of 1,280 shared test prompts, with a bootstrap 5–95% interval).
 *
 * Every value is first put on one scale, the normalized error
 *
 *     e = (value − perfect) / (trivial − perfect)
 *
 * where `perfect` is 0 for errors and 1 for accuracy, and `trivial` is the task's trivial
 * predictor on the same prompts: the zero predictor for regression, outliers and CoT-I/O (≈ 1 in
 * the normalized squared error), the no-context Bayes chance for sparse parity (not 0.5: a model
 * can beat 0.5 from x alone, see tasks/parity.ts), the zero vector for MQAR (error 1 with unit
 * vectors). e = 0 is perfect, e = 1 is no better than trivial. Then, in this order:
 *
 * - ✗ (fails to learn): e is not finite (diverged), or the interval's upper end reaches the
 *   trivial level (e_hi ≥ 1: not significantly better than trivial), or e > 1 − `learn`, i.e.
 *   the model removes less than the fraction `learn` of the trivial predictor's error.
 *   `learn` = 0.2 by default ("clearly better than trivial"). Vector MQAR uses 0.9: the paper
 *   (section 3.2) calls Mamba's retrieval a failure because its "mean squared error for
 *   retrieving normalized vectors [is] greater than 0.1 in all cases" — retrieval is judged on
 *   being exact, and 0.1 of the trivial error is the paper's own line.
 * - ✓ (on par): e ≤ e_best + `par`, where e_best is the best of the compared models on this
 *   task, or the model's interval overlaps the best model's interval (indistinguishable on
 *   these prompts). `par` = 0.05: five percent of the trivial error, about twice the bootstrap
 *   half-width of a late-position mean over 1,280 prompts, and small next to the gaps the paper
 *   marks ▲ (e.g. decision tree, orthogonal outliers in its Figs. 2, 4, 8). An absolute margin
 *   on the normalized scale (not a ratio) is used on purpose: near-zero errors such as MQAR's
 *   1e-6 vs 1e-5 are both "solved", as the paper marks them.
 * - ▲ (learns, with a gap): everything else.
 *
 * Which number of an architecture is marked: the one at matched training FLOPs, as the paper
 * compares ("the best performing model given the same amount of FLOPs", Figs. 2, 4, 8). A sweep
 * gives each architecture points (training FLOPs, value): every size at every evaluated
 * checkpoint (20%, 60%, 100% of the steps by default, as the paper's 100k/300k/500k), averaged
 * over seeds. Then (`matchedFlops`):
 *
 * - the matched budget F* is the largest budget every architecture reached: the minimum over
 *   architectures of their most expensive finite point's FLOPs;
 * - each architecture is represented by its best point with at most F* FLOPs (its frontier at
 *   F*, frontier.ts): a smaller model or an earlier checkpoint when that is what the budget
 *   buys. If even its cheapest point costs more than F* (the grids do not overlap), its
 *   cheapest point stands in and the row says by how much it overshoots;
 * - the rules above are applied to these rows.
 *
 * The comparison iclab made before, every architecture at the same size after the same number
 * of steps, is kept as the "equal steps" view (the largest size of the grid, final checkpoint).
 * With one size the two views differ only in the checkpoint: an architecture that costs more
 * per step is marked at the checkpoint that fits the cheapest architecture's full budget.
 */

import { bestWithin, frontier } from "./frontier.ts";

/** A Fig. 1a mark. */
export type Mark = "✓" | "▲" | "✗";

/** Default fraction of the trivial error a model must remove to count as learning. */
export const LEARN_FRACTION = 0.2;
/** Default margin (normalized error) within which a model is on par with the best. */
export const PAR_MARGIN = 0.05;

/** One model's measured mark metric. */
export interface MarkInput {
  model: string;
  value: number;
  ci: [number, number];
}

/** How to read the metric of a task. */
export interface MarkScale {
  /** True for accuracy (perfect = 1), false for errors (perfect = 0). */
  higherIsBetter: boolean;
  /** The trivial predictor's value on the same prompts. */
  trivial: number;
  /** Fraction of the trivial error to remove to count as learning (default LEARN_FRACTION). */
  learn?: number;
  /** Par margin on the normalized scale (default PAR_MARGIN). */
  par?: number;
}

/** A mark with the numbers behind it. */
export interface MarkResult {
  model: string;
  mark: Mark;
  /** Normalized error e (0 perfect, 1 trivial). */
  normalized: number;
  normalizedCi: [number, number];
  /** e − e_best. */
  gapToBest: number;
  /** One line saying which rule decided. */
  reason: string;
}

/** Normalized error of a value: 0 perfect, 1 trivial. */
export function normalizeValue(value: number, scale: MarkScale): number {
  const perfect = scale.higherIsBetter ? 1 : 0;
  const span = scale.trivial - perfect;
  if (!(Math.abs(span) > 0)) {
    throw new Error(`marks: the trivial level ${scale.trivial} equals the perfect score`);
  }
  return (value - perfect) / span;
}

/** Assign ✓/▲/✗ to the models of one task by the rules at the top of this file. */
export function assignMarks(rows: MarkInput[], scale: MarkScale): MarkResult[] {
  const learn = scale.learn ?? LEARN_FRACTION, par = scale.par ?? PAR_MARGIN;
  if (!(learn > 0 && learn < 1)) throw new Error(`marks: learn must be in (0, 1), got ${learn}`);
  if (!(par >= 0)) throw new Error(`marks: par must be >= 0, got ${par}`);
  const norm = rows.map((r) => {
    const e = normalizeValue(r.value, scale);
    const a = normalizeValue(r.ci[0], scale), b = normalizeValue(r.ci[1], scale);
    return { e, lo: Math.min(a, b), hi: Math.max(a, b) };
  });
  const finite = norm.filter((n) => Number.isFinite(n.e));
  const best = finite.length ? finite.reduce((m, n) => (n.e < m.e ? n : m)) : undefined;
  return rows.map((r, i) => {
    const { e, lo, hi } = norm[i];
    const out = (mark: Mark, reason: string): MarkResult => ({
      model: r.model,
      mark,
      normalized: e,
      normalizedCi: [lo, hi],
      gapToBest: best ? e - best.e : NaN,
      reason,
    });
    if (!Number.isFinite(e) || !best) return out("✗", "no finite result (diverged or missing)");
    if (hi >= 1) {
      return out("✗", `interval reaches the trivial level (e ${fmt(e)}, upper ${fmt(hi)} ≥ 1)`);
    }
    if (e > 1 - learn) {
      return out("✗", `removes less than ${fmt(learn)} of the trivial error (e ${fmt(e)})`);
    }
    if (e <= best.e + par) {
      return out("✓", `within ${fmt(par)} of the best (e ${fmt(e)}, best ${fmt(best.e)})`);
    }
    if (lo <= best.hi) {
      return out("✓", `interval overlaps the best's (e ${fmt(e)}, best ${fmt(best.e)})`);
    }
    return out(
      "▲",
      `learns (e ${fmt(e)}) but trails the best (${fmt(best.e)}) by ${fmt(e - best.e)}`,
    );
  });
}

/** An architecture's point at the matched budget. */
export interface MatchedPick<P> {
  model: string;
  point: P;
  /** point.flops / budget when the cheapest point exceeds the budget, else 1. */
  overshoot: number;
}

/**
 * The matched-FLOPs comparison of the file doc: the budget F* and one point per architecture
 * (in the order the architectures first appear in `points`).
 */
export function matchedFlops<P extends { model: string; flops: number; value: number }>(
  points: P[],
  higherIsBetter: boolean,
): { budget: number; picks: MatchedPick<P>[] } {
  const models = [...new Set(points.map((p) => p.model))];
  const fronts = new Map(models.map((m) => {
    const own = points.filter((p) => p.model === m);
    return [m, { own, front: frontier(own, higherIsBetter) }];
  }));
  const tops = [...fronts.values()].filter((f) => f.front.length)
    .map((f) => Math.max(...f.own.filter((p) => Number.isFinite(p.value)).map((p) => p.flops)));
  const budget = tops.length ? Math.min(...tops) : NaN;
  const picks = models.map((model) => {
    const { own, front } = fronts.get(model)!;
    if (!front.length) {
      // Nothing finite (every seed diverged): show its last checkpoint, which marks as ✗.
      const last = own.reduce((a, b) => (b.flops > a.flops ? b : a));
      return { model, point: last, overshoot: 1 };
    }
    const within = bestWithin(front, budget);
    if (within) return { model, point: within, overshoot: 1 };
    return { model, point: front[0], overshoot: front[0].flops / budget };
  });
  return { budget, picks };
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}

/** The nine tasks of the paper's Fig. 1a, in its order. */
export const FIG1A_TASKS = [
  "linear_regression",
  "sparse_linear_regression",
  "relu_2nn_regression",
  "decision_tree",
  "ortho_outlier_regression",
  "many_outlier_regression",
  "sparse_parity",
  "cot_io",
  "mqar",
] as const;

/** Row titles of Fig. 1a. */
export const FIG1A_TITLES: Record<string, string> = {
  linear_regression: "Linear regression",
  sparse_linear_regression: "Sparse linear regression",
  relu_2nn_regression: "2NN regression",
  decision_tree: "Decision tree",
  ortho_outlier_regression: "Orthogonal-outlier regression",
  many_outlier_regression: "Many-outlier regression",
  sparse_parity: "Sparse parity",
  cot_io: "Chain-of-Thought I/O",
  mqar: "Vector-valued MQAR",
};

/** The models of Fig. 1a. */
export const FIG1A_MODELS = ["transformer", "mamba", "mambaformer"] as const;

/** The paper's marks (Fig. 1a; spec section 0.1), by task and model. */
export const PAPER_MARKS: Record<string, Record<string, Mark>> = {
  linear_regression: { transformer: "✓", mamba: "✓", mambaformer: "✓" },
  sparse_linear_regression: { transformer: "✓", mamba: "✓", mambaformer: "✓" },
  relu_2nn_regression: { transformer: "✓", mamba: "✓", mambaformer: "✓" },
  decision_tree: { transformer: "✓", mamba: "▲", mambaformer: "✓" },
  ortho_outlier_regression: { transformer: "✓", mamba: "▲", mambaformer: "✓" },
  many_outlier_regression: { transformer: "▲", mamba: "✓", mambaformer: "✓" },
  sparse_parity: { transformer: "✗", mamba: "✓", mambaformer: "✓" },
  cot_io: { transformer: "✓", mamba: "✓", mambaformer: "✓" },
  mqar: { transformer: "✓", mamba: "✗", mambaformer: "✓" },
};

/** Marks measured on one task, by model. */
export interface TaskMarks {
  task: string;
  marks: Record<string, Mark | undefined>;
}

/**
 * The Fig. 1a table in Markdown: one row per task, "ours (paper)" per model, and a final column
 * counting agreements. Tasks or models that were not run show "–".
 */
export function fig1aMarkdown(rows: TaskMarks[], models: readonly string[] = FIG1A_MODELS): {
  table: string;
  agree: number;
  compared: number;
  mismatches: string[];
} {
  const names: Record<string, string> = {
    transformer: "Transformer",
    mamba: "Mamba",
    mambaformer: "MambaFormer",
  };
  const lines = [
    `| Task | ${models.map((m) => `${names[m] ?? m} (paper)`).join(" | ")} | agree |`,
    `| --- | ${models.map(() => ":---:").join(" | ")} | ---: |`,
  ];
  let agree = 0, compared = 0;
  const mismatches: string[] = [];
  for (const r of rows) {
    const paper = PAPER_MARKS[r.task] ?? {};
    let rowAgree = 0, rowCompared = 0;
    const cells = models.map((m) => {
      const ours = r.marks[m], theirs = paper[m];
      if (ours && theirs) {
        rowCompared++;
        if (ours === theirs) rowAgree++;
        else {mismatches.push(
            `${FIG1A_TITLES[r.task] ?? r.task} / ${names[m] ?? m}: ${ours} vs ${theirs}`,
          );}
      }
      return `${ours ?? "–"} (${theirs ?? "–"})`;
    });
    agree += rowAgree;
    compared += rowCompared;
    lines.push(
      `| ${FIG1A_TITLES[r.task] ?? r.task} | ${cells.join(" | ")} | ${rowAgree}/${rowCompared} |`,
    );
  }
  return { table: lines.join("\n"), agree, compared, mismatches };
}
