/**
 * k-nearest-neighbour baseline (Garg's NN_n=3_uniform).
 */
import {
  type BaselineInput,
  type BaselineOptions,
  emptyPredictions,
  evaluatedPositions,
} from "./types.ts";

/**
 * Uniform average of the y of the min(i, k) nearest previous x_j (Euclidean; ties go to the
 * earlier example). Default k = 3.
 */
export function nearestNeighborsBaseline(
  input: BaselineInput,
  opts?: BaselineOptions,
): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const k = opts?.neighbors ?? 3;
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`nearestNeighborsBaseline: neighbors must be >= 1, got ${k}`);
  }
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  const bestDist = new Float64Array(k), bestY = new Float64Array(k);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < n; i++) {
      if (!flags[i]) continue;
      const m = Math.min(i, k);
      if (m === 0) {
        out[p * n + i] = 0;
        continue;
      }
      const xi = (p * n + i) * d;
      let filled = 0;
      for (let j = 0; j < i; j++) {
        const xj = (p * n + j) * d;
        let dist = 0;
        for (let c = 0; c < d; c++) {
          const diff = xs[xi + c] - xs[xj + c];
          dist += diff * diff;
        }
        if (filled === m && dist >= bestDist[m - 1]) continue;
        // Insertion into the sorted top-m list; strict < keeps earlier examples on ties.
        let pos = filled < m ? filled++ : m - 1;
        while (pos > 0 && bestDist[pos - 1] > dist) {
          bestDist[pos] = bestDist[pos - 1];
          bestY[pos] = bestY[pos - 1];
          pos--;
        }
        bestDist[pos] = dist;
        bestY[pos] = ys[p * n + j];
      }
      let s = 0;
      for (let t = 0; t < m; t++) s += bestY[t];
      out[p * n + i] = s / m;
    }
  }
  return out;
}
