/**
 * Gradient-boosted regression trees: a small re-implementation of the paper's XGBoost line
 * (xgb.XGBRegressor() defaults of xgboost 1.6, exact greedy split finding).
 */
import { presortFeatures } from "./tree.ts";
import {
  type BaselineInput,
  type BaselineOptions,
  emptyPredictions,
  evaluatedPositions,
} from "./types.ts";

/** Split gains at or below this are not worth a split (xgboost's kRtEps). */
const MIN_GAIN = 1e-6;

/** Hyper-parameters of one boosting fit. */
interface BoostParams {
  nEstimators: number;
  maxDepth: number;
  learningRate: number;
  lambda: number;
  minChildWeight: number;
}

/**
 * XGBoost defaults: 100 trees, max_depth 6, eta 0.3, reg_lambda 1, gamma 0,
 * min_child_weight 1, base_score 0.5, squared error (gradient ŷ − y, hessian 1). A split
 * maximises G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ) over midpoints between distinct values
 * (x < threshold goes left), needs H ≥ min_child_weight on both sides and a gain above 1e-6;
 * a leaf adds −eta·G/(H+λ). About nEstimators·maxDepth·i·d operations per position, so pass
 * `positions` for full evaluations.
 */
export function gradientBoostingBaseline(
  input: BaselineInput,
  opts?: BaselineOptions,
): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const params: BoostParams = {
    nEstimators: opts?.nEstimators ?? 100,
    maxDepth: opts?.maxDepth ?? 6,
    learningRate: opts?.learningRate ?? 0.3,
    lambda: opts?.lambda ?? 1,
    minChildWeight: opts?.minChildWeight ?? 1,
  };
  if (!Number.isInteger(params.nEstimators) || params.nEstimators < 1) {
    throw new Error(
      `gradientBoostingBaseline: nEstimators must be >= 1, got ${params.nEstimators}`,
    );
  }
  if (!(params.maxDepth >= 0)) {
    throw new Error(`gradientBoostingBaseline: maxDepth must be >= 0, got ${params.maxDepth}`);
  }
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  for (let p = 0; p < batch; p++) {
    const px = xs.subarray(p * n * d, (p + 1) * n * d);
    const py = ys.subarray(p * n, (p + 1) * n);
    const orders = presortFeatures(px, n, d);
    for (let i = 0; i < n; i++) {
      if (!flags[i]) continue;
      out[p * n + i] = i === 0 ? 0 : boostAndPredict(px, py, orders, i, d, params);
    }
  }
  return out;
}

/** Fits the ensemble on examples 0..query-1 and returns its prediction for row `query`. */
function boostAndPredict(
  xs: Float32Array,
  ys: Float32Array,
  orders: Int32Array[],
  query: number,
  d: number,
  params: BoostParams,
): number {
  const builder = new TreeBuilder(xs, d, query, params);
  const rootLists = new Int32Array(d * query); // feature f's examples sorted, at [f·query, ...)
  orders.forEach((order, f) => {
    let t = f * query;
    for (const j of order) if (j < query) rootLists[t++] = j;
  });
  builder.pred.fill(0.5);
  let queryPred = 0.5;
  const queryX = xs.subarray(query * d, (query + 1) * d);
  for (let t = 0; t < params.nEstimators; t++) {
    for (let j = 0; j < query; j++) builder.grad[j] = builder.pred[j] - ys[j];
    builder.lists.set(rootLists);
    queryPred += builder.grow(0, query, 0, queryX);
  }
  return queryPred;
}

/**
 * Grows one tree over examples 0..n-1, adding its leaf values to `pred` and returning the
 * query's leaf value. Nodes are ranges [start, end) of per-feature sorted lists that are
 * stably partitioned in place at each split, so a tree allocates nothing.
 */
class TreeBuilder {
  readonly pred: Float64Array;
  readonly grad: Float64Array;
  readonly lists: Int32Array;
  private readonly goesLeft: Uint8Array;
  private readonly spill: Int32Array;

  constructor(
    private readonly xs: Float32Array,
    private readonly d: number,
    private readonly n: number,
    private readonly params: BoostParams,
  ) {
    this.pred = new Float64Array(n);
    this.grad = new Float64Array(n);
    this.lists = new Int32Array(d * n);
    this.goesLeft = new Uint8Array(n);
    this.spill = new Int32Array(n);
  }

  grow(start: number, end: number, depth: number, query: Float32Array | null): number {
    const { xs, grad, d, n, lists, params } = this;
    const { lambda, minChildWeight } = params;
    const h = end - start; // hessian 1 per example
    let g = 0;
    for (let t = start; t < end; t++) g += grad[lists[t]];
    let bestGain = MIN_GAIN, bestF = -1, bestThr = 0;
    if (depth < params.maxDepth && h >= 2 * minChildWeight) {
      const parentScore = g * g / (h + lambda);
      for (let f = 0; f < d; f++) {
        const base = f * n;
        let gL = 0;
        for (let t = start; t < end - 1; t++) {
          const j = lists[base + t];
          gL += grad[j];
          const hL = t - start + 1, hR = h - hL;
          const a = xs[j * d + f], b = xs[lists[base + t + 1] * d + f];
          if (b === a || hL < minChildWeight || hR < minChildWeight) continue;
          const gR = g - gL;
          const gain = gL * gL / (hL + lambda) + gR * gR / (hR + lambda) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            bestF = f;
            bestThr = (a + b) / 2;
          }
        }
      }
    }
    if (bestF < 0) {
      const value = -params.learningRate * g / (h + lambda);
      for (let t = start; t < end; t++) this.pred[lists[t]] += value;
      return query ? value : 0;
    }
    let nLeft = 0;
    for (let t = start; t < end; t++) {
      const j = lists[t];
      this.goesLeft[j] = xs[j * d + bestF] < bestThr ? 1 : 0;
      nLeft += this.goesLeft[j];
    }
    for (let f = 0; f < d; f++) {
      const base = f * n;
      let l = base + start, r = 0;
      for (let t = base + start; t < base + end; t++) {
        const j = lists[t];
        if (this.goesLeft[j]) lists[l++] = j;
        else this.spill[r++] = j;
      }
      lists.set(this.spill.subarray(0, r), l);
    }
    const mid = start + nLeft;
    const queryLeft = query !== null && query[bestF] < bestThr;
    return this.grow(start, mid, depth + 1, queryLeft ? query : null) +
      this.grow(mid, end, depth + 1, query !== null && !queryLeft ? query : null);
  }
}
