/**
 * Greedy regression tree baseline (sklearn.DecisionTreeRegressor, squared error, used with
 * max_depth = 4 and None in Garg's decision-tree plots).
 */
import {
  type BaselineInput,
  type BaselineOptions,
  emptyPredictions,
  evaluatedPositions,
} from "./types.ts";

/** Values closer than this are one value when placing thresholds (sklearn's FEATURE_THRESHOLD). */
export const FEATURE_THRESHOLD = 1e-7;

/**
 * For one prompt (rows 0..n-1 of `xs`), the row indices sorted by each feature: [d][n].
 * Sorting once per prompt lets every prefix and node filter instead of re-sorting.
 */
export function presortFeatures(xs: Float32Array, n: number, d: number): Int32Array[] {
  const orders: Int32Array[] = [];
  for (let f = 0; f < d; f++) {
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => xs[a * d + f] - xs[b * d + f] || a - b);
    orders.push(idx);
  }
  return orders;
}

/**
 * CART with the squared-error criterion: at each node pick the (feature, midpoint threshold)
 * that maximises Σ_L² / n_L + Σ_R² / n_R (i.e. minimises the children's squared error), go left
 * when x ≤ threshold, stop at maxDepth, at one sample, or when the node's y are all equal; the
 * leaf predicts the mean. Only the path of the query point is grown, since the splits of a
 * node do not depend on the query: that makes unlimited depth cheap. Ties between equally good
 * splits go to the lower feature index (sklearn breaks them by a random feature order).
 * Default maxDepth: unlimited.
 */
export function greedyTreeBaseline(input: BaselineInput, opts?: BaselineOptions): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const maxDepth = opts?.maxDepth ?? Infinity;
  if (!(maxDepth >= 0)) {
    throw new Error(`greedyTreeBaseline: maxDepth must be >= 0, got ${maxDepth}`);
  }
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  const inNode = new Uint8Array(n);
  for (let p = 0; p < batch; p++) {
    const px = xs.subarray(p * n * d, (p + 1) * n * d);
    const py = ys.subarray(p * n, (p + 1) * n);
    const orders = presortFeatures(px, n, d);
    for (let i = 0; i < n; i++) {
      if (!flags[i]) continue;
      out[p * n + i] = i === 0 ? 0 : predictOnPath(px, py, orders, i, d, maxDepth, inNode);
    }
  }
  return out;
}

/** Grows the query's (row `query`) path on examples 0..query-1; returns the leaf mean. */
function predictOnPath(
  xs: Float32Array,
  ys: Float32Array,
  orders: Int32Array[],
  query: number,
  d: number,
  maxDepth: number,
  inNode: Uint8Array,
): number {
  inNode.fill(0);
  inNode.fill(1, 0, query);
  let count = query, sum = 0, lo = Infinity, hi = -Infinity;
  for (let j = 0; j < query; j++) sum += ys[j];
  for (let depth = 0; depth < maxDepth && count >= 2; depth++) {
    lo = Infinity;
    hi = -Infinity;
    for (let j = 0; j < query; j++) {
      if (!inNode[j]) continue;
      lo = Math.min(lo, ys[j]);
      hi = Math.max(hi, ys[j]);
    }
    if (hi === lo) break; // pure node
    let best = -Infinity, bestF = -1, bestThr = 0;
    for (let f = 0; f < d; f++) {
      const order = orders[f];
      let nL = 0, sumL = 0, prev = -1;
      for (let t = 0; t < order.length; t++) {
        const j = order[t];
        if (!inNode[j]) continue;
        if (prev >= 0 && xs[j * d + f] - xs[prev * d + f] > FEATURE_THRESHOLD) {
          const sumR = sum - sumL, nR = count - nL;
          const proxy = sumL * sumL / nL + sumR * sumR / nR;
          if (proxy > best) {
            best = proxy;
            bestF = f;
            bestThr = xs[prev * d + f] / 2 + xs[j * d + f] / 2;
          }
        }
        nL++;
        sumL += ys[j];
        prev = j;
      }
    }
    if (bestF < 0) break; // every feature constant on this node
    const goLeft = xs[query * d + bestF] <= bestThr;
    count = 0;
    sum = 0;
    for (let j = 0; j < query; j++) {
      if (!inNode[j]) continue;
      if ((xs[j * d + bestF] <= bestThr) !== goLeft) {
        inNode[j] = 0;
      } else {
        count++;
        sum += ys[j];
      }
    }
  }
  return sum / count;
}
