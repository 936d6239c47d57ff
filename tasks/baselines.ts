/**
 * Classical in-context baselines (spec 5), one file each under baselines/. Every baseline maps
 * raw prompts xs [B, N, d], ys [B, N] to predictions [B, N]: at position i it uses only the
 * pairs 0..i-1 and x_i, and predicts 0 at i = 0.
 */
import { gradientBoostingBaseline } from "./baselines/boosting.ts";
import { nearestNeighborsBaseline } from "./baselines/knn.ts";
import { lassoBaseline } from "./baselines/lasso.ts";
import { averagingBaseline, leastSquaresBaseline, zeroBaseline } from "./baselines/linear.ts";
import { twoLayerNnGdBaseline } from "./baselines/nn_gd.ts";
import { greedyTreeBaseline } from "./baselines/tree.ts";
import type { Baseline, BaselineOptions } from "./baselines/types.ts";

export {
  averagingBaseline,
  gradientBoostingBaseline,
  greedyTreeBaseline,
  lassoBaseline,
  leastSquaresBaseline,
  nearestNeighborsBaseline,
  twoLayerNnGdBaseline,
  zeroBaseline,
};
export { baselineInput } from "./baselines/types.ts";
export type { Baseline, BaselineInput, BaselineOptions } from "./baselines/types.ts";

/** A baseline with some options fixed (caller options still override them). */
function withDefaults(fn: Baseline, fixed: BaselineOptions): Baseline {
  return (input, opts) => fn(input, { ...fixed, ...opts });
}

/**
 * Baselines by name, with the settings of Garg's plots. Heavy ones ("nn_gd", "xgboost",
 * "lasso", the trees) accept `positions` to evaluate a subset of prefix lengths.
 */
export const BASELINES: Readonly<Record<string, Baseline>> = {
  zero: zeroBaseline,
  least_squares: leastSquaresBaseline,
  nn_3: withDefaults(nearestNeighborsBaseline, { neighbors: 3 }),
  averaging: averagingBaseline,
  lasso: withDefaults(lassoBaseline, { alpha: 0.01 }),
  nn_gd: twoLayerNnGdBaseline,
  greedy_tree_depth4: withDefaults(greedyTreeBaseline, { maxDepth: 4 }),
  greedy_tree: greedyTreeBaseline,
  xgboost: gradientBoostingBaseline,
};

/** Which baselines Garg's plots draw for each task (spec 5, "plot selections"). */
export const BASELINES_FOR_TASK: Readonly<Record<string, readonly string[]>> = {
  linear_regression: ["least_squares", "nn_3", "averaging"],
  skewed_linear_regression: ["least_squares", "nn_3", "averaging"],
  sparse_linear_regression: ["least_squares", "nn_3", "averaging", "lasso"],
  relu_2nn_regression: ["least_squares", "nn_3", "nn_gd"],
  decision_tree: ["nn_3", "nn_gd", "greedy_tree_depth4", "greedy_tree", "xgboost"],
  ortho_outlier_regression: ["least_squares"],
  many_outlier_regression: ["least_squares"],
  cot_io: ["least_squares", "nn_3", "nn_gd"],
};
