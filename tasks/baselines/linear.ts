/**
 * Linear baselines: zero predictor, minimum-norm least squares and Garg's averaging estimator.
 */
import {
  type BaselineInput,
  type BaselineOptions,
  emptyPredictions,
  evaluatedPositions,
} from "./types.ts";

/** Predicts 0 everywhere (normalized error ≈ 1 on every task: the dashed line of the plots). */
export function zeroBaseline(input: BaselineInput, opts?: BaselineOptions): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const out = emptyPredictions(input);
  for (let r = 0; r < out.length; r++) if (flags[r % input.nPoints]) out[r] = 0;
  return out;
}

/**
 * Solves (G + λI) w = b for symmetric positive semi-definite G [d×d] by Cholesky, in place in
 * `work` (d×d) and `w`. Returns false if a pivot is not positive (λ too small for rounding).
 */
function ridgeCholeskySolve(
  g: Float64Array,
  b: Float64Array,
  lambda: number,
  work: Float64Array,
  w: Float64Array,
): boolean {
  const d = b.length;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = g[i * d + j] + (i === j ? lambda : 0);
      for (let k = 0; k < j; k++) s -= work[i * d + k] * work[j * d + k];
      if (i === j) {
        if (!(s > 0)) return false;
        work[i * d + i] = Math.sqrt(s);
      } else {
        work[i * d + j] = s / work[j * d + j];
      }
    }
  }
  for (let i = 0; i < d; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= work[i * d + k] * w[k];
    w[i] = s / work[i * d + i];
  }
  for (let i = d - 1; i >= 0; i--) {
    let s = w[i];
    for (let k = i + 1; k < d; k++) s -= work[k * d + i] * w[k];
    w[i] = s / work[i * d + i];
  }
  return true;
}

/**
 * Minimum-norm least squares (Garg's lstsq on CPU): w = lim_{λ→0} (XᵀX + λI)⁻¹Xᵀy, computed with
 * a relative ridge λ = 1e-10·tr(XᵀX)/d in float64. The ridge solution converges to the
 * pseudo-inverse solution, and at this λ the shrinkage of the smallest non-zero singular
 * directions is negligible while Xᵀy has no null-space component to amplify. The Gram matrix
 * is accumulated incrementally, so a prompt costs O(N·d³) instead of N separate solves of X.
 * Noise-free LR: normalized error ≈ (d − i)/d for i < d and ≈ 0 for i ≥ d.
 */
export function leastSquaresBaseline(input: BaselineInput, opts?: BaselineOptions): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  const g = new Float64Array(d * d), rhs = new Float64Array(d);
  const work = new Float64Array(d * d), w = new Float64Array(d);
  for (let p = 0; p < batch; p++) {
    g.fill(0);
    rhs.fill(0);
    let trace = 0;
    for (let i = 0; i < n; i++) {
      const x = xs.subarray((p * n + i) * d, (p * n + i + 1) * d);
      if (flags[i]) {
        let pred = 0;
        if (trace > 0) {
          let lambda = 1e-10 * trace / d;
          while (!ridgeCholeskySolve(g, rhs, lambda, work, w)) lambda *= 10;
          for (let j = 0; j < d; j++) pred += w[j] * x[j];
        }
        out[p * n + i] = pred;
      }
      const y = ys[p * n + i];
      for (let j = 0; j < d; j++) {
        const xj = x[j];
        if (xj === 0) continue;
        rhs[j] += y * xj;
        trace += xj * xj;
        for (let k = 0; k < d; k++) g[j * d + k] += xj * x[k];
      }
    }
  }
  return out;
}

/**
 * Garg's averaging estimator: w = mean_{j<i}(y_j x_j), ŷ_i = x_i·w. On noise-free isotropic LR
 * its expected normalized error is (d + 1)/i.
 */
export function averagingBaseline(input: BaselineInput, opts?: BaselineOptions): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  const sum = new Float64Array(d);
  for (let p = 0; p < batch; p++) {
    sum.fill(0);
    for (let i = 0; i < n; i++) {
      const off = (p * n + i) * d;
      if (flags[i]) {
        let pred = 0;
        if (i > 0) {
          for (let j = 0; j < d; j++) pred += sum[j] * xs[off + j];
          pred /= i;
        }
        out[p * n + i] = pred;
      }
      const y = ys[p * n + i];
      for (let j = 0; j < d; j++) sum[j] += y * xs[off + j];
    }
  }
  return out;
}
