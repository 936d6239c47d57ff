/**
 * Lasso baseline (sklearn.Lasso(alpha, fit_intercept=False) per prompt and prefix).
 */
import {
  type BaselineInput,
  type BaselineOptions,
  emptyPredictions,
  evaluatedPositions,
} from "./types.ts";

/**
 * Minimises (1/2n)||y − Xw||² + α||w||₁ by cyclic coordinate descent on the Gram matrix,
 * stopping like sklearn: when the largest coordinate change is below tol·max|w| and the
 * duality gap is below tol·yᵀy (or after maxIter sweeps, where sklearn would warn). Each prefix
 * warm-starts from the previous prefix's solution, which changes nothing at convergence but
 * saves most sweeps. Defaults α = 0.01 (the plotted value), tol 1e-4, maxIter 10000.
 */
export function lassoBaseline(input: BaselineInput, opts?: BaselineOptions): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const alpha = opts?.alpha ?? 0.01, tol = opts?.tol ?? 1e-4, maxIter = opts?.maxIter ?? 10000;
  if (!(alpha > 0)) throw new Error(`lassoBaseline: alpha must be > 0, got ${alpha}`);
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  const g = new Float64Array(d * d), c = new Float64Array(d);
  const w = new Float64Array(d), q = new Float64Array(d); // q = G w
  for (let p = 0; p < batch; p++) {
    g.fill(0);
    c.fill(0);
    w.fill(0);
    q.fill(0);
    let yy = 0;
    for (let i = 0; i < n; i++) {
      const x = xs.subarray((p * n + i) * d, (p * n + i + 1) * d);
      if (flags[i]) {
        let pred = 0;
        if (i > 0) {
          coordinateDescent(g, c, yy, i * alpha, w, q, tol, maxIter);
          for (let j = 0; j < d; j++) pred += w[j] * x[j];
        }
        out[p * n + i] = pred;
      }
      const y = ys[p * n + i];
      yy += y * y;
      for (let j = 0; j < d; j++) {
        c[j] += y * x[j];
        for (let k = 0; k < d; k++) g[j * d + k] += x[j] * x[k];
      }
      // Keep q = G w consistent after G changed.
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += g[j * d + k] * w[k];
        q[j] = s;
      }
    }
  }
  return out;
}

/** CD on (1/2)||y − Xw||² + alphaN·||w||₁ given G = XᵀX, c = Xᵀy, yy = yᵀy; updates w and q. */
function coordinateDescent(
  g: Float64Array,
  c: Float64Array,
  yy: number,
  alphaN: number,
  w: Float64Array,
  q: Float64Array,
  tol: number,
  maxIter: number,
): void {
  const d = c.length;
  for (let iter = 0; iter < maxIter; iter++) {
    let maxChange = 0, maxW = 0;
    for (let j = 0; j < d; j++) {
      const gjj = g[j * d + j];
      const old = w[j];
      let next = 0;
      if (gjj > 0) {
        const rho = c[j] - q[j] + gjj * old;
        next = Math.sign(rho) * Math.max(Math.abs(rho) - alphaN, 0) / gjj;
      }
      const delta = next - old;
      if (delta !== 0) {
        w[j] = next;
        for (let k = 0; k < d; k++) q[k] += delta * g[k * d + j];
      }
      maxChange = Math.max(maxChange, Math.abs(delta));
      maxW = Math.max(maxW, Math.abs(next));
    }
    if (maxW === 0 || maxChange / maxW < tol || iter === maxIter - 1) {
      if (dualityGap(c, yy, alphaN, w, q) < tol * yy) return;
    }
  }
}

/** sklearn's Lasso duality gap, written with Gram quantities (beta = 0). */
function dualityGap(
  c: Float64Array,
  yy: number,
  alphaN: number,
  w: Float64Array,
  q: Float64Array,
): number {
  let wc = 0, wq = 0, l1 = 0, dualNorm = 0;
  for (let j = 0; j < c.length; j++) {
    wc += w[j] * c[j];
    wq += w[j] * q[j];
    l1 += Math.abs(w[j]);
    dualNorm = Math.max(dualNorm, Math.abs(c[j] - q[j])); // |Xᵀ(y − Xw)|_∞
  }
  const rNorm2 = Math.max(yy - 2 * wc + wq, 0);
  let gap: number, scale: number;
  if (dualNorm > alphaN) {
    scale = alphaN / dualNorm;
    gap = 0.5 * (rNorm2 + rNorm2 * scale * scale);
  } else {
    scale = 1;
    gap = rNorm2;
  }
  return gap + alphaN * l1 - scale * (yy - wc);
}
