/**
 * Gradient-descent learning curves on one linear-regression prompt, the reference lines of
 * Grazzi et al.'s probing figure (spec §6): GD on the context loss ½·mean((Xw − y)²) from
 * w = 0 with step 2/(L + μ), L and μ the extreme eigenvalues of Σ = XᵀX/n, and GD++, the same
 * iteration with the preconditioner H = I − γXᵀX (von Oswald et al.'s GD++). H is a polynomial
 * in XᵀX, so it commutes with Σ and HΣ has the eigenvalues (1 − γn·s)·s of Σ's s: GD++ takes
 * the step 2/(L + μ) of HΣ, which keeps it stable for any γ < 1/λmax(XᵀX).
 */

/** Eigenvalues of the symmetric d×d matrix `a` (row-major), ascending (cyclic Jacobi). */
export function symmetricEigenvalues(a: ArrayLike<number>, d: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) off += m[i * d + j] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * d + q] - m[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p], akq = m[k * d + q];
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k], aqk = m[q * d + k];
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: d }, (_, i) => m[i * d + i]).sort((x, y) => x - y);
}

/** One prompt: context xs [n, d], ys [n], and test points to score on. */
export interface GdPrompt {
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  n: number;
  d: number;
  testXs: ArrayLike<number>;
  testYs: ArrayLike<number>;
}

/** Options of `gdCurve`. */
export interface GdOptions {
  /** Iterations (the curve has iterations + 1 points, w_0 = 0 first). */
  iterations: number;
  /** GD++ preconditioner strength γ of H = I − γXᵀX; 0 (default) is plain GD. */
  gamma?: number;
}

/** Gram matrix XᵀX [d×d] of the context. */
export function gram(xs: ArrayLike<number>, n: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const xj = xs[i * d + j];
      for (let k = 0; k < d; k++) g[j * d + k] += xj * xs[i * d + k];
    }
  }
  return g;
}

/** The step 2/(L + μ) of the iteration matrix HΣ (H = I − γXᵀX, Σ = XᵀX/n). */
export function gdStep(g: Float64Array, n: number, d: number, gamma = 0): number {
  const s = symmetricEigenvalues(g, d).map((v) => Math.max(v, 0) / n);
  const h = s.map((v) => (1 - gamma * n * v) * v);
  if (gamma > 0 && h.some((v, i) => v < 0 || (s[i] > 0 && v === 0))) {
    throw new Error(`gdStep: γ = ${gamma} makes H = I − γXᵀX indefinite (γ·λmax ≥ 1)`);
  }
  const L = Math.max(...h), mu = Math.min(...h);
  if (!(L > 0)) throw new Error("gdStep: XᵀX is zero (no context)");
  return 2 / (L + mu);
}

/**
 * Mean squared error on the test points after each of 0..iterations steps of GD (or GD++ with
 * `gamma`) on the prompt's context; w starts at 0, so the first entry is E[y²] of the test set.
 */
export function gdCurve(p: GdPrompt, o: GdOptions): number[] {
  const { xs, ys, n, d } = p;
  const gamma = o.gamma ?? 0;
  const g = gram(xs, n, d);
  const eta = gdStep(g, n, d, gamma);
  const w = new Float64Array(d), grad = new Float64Array(d), hg = new Float64Array(d);
  const out: number[] = [testMse(p, w)];
  for (let t = 0; t < o.iterations; t++) {
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      let r = -ys[i];
      for (let j = 0; j < d; j++) r += xs[i * d + j] * w[j];
      for (let j = 0; j < d; j++) grad[j] += (r * xs[i * d + j]) / n;
    }
    for (let j = 0; j < d; j++) {
      let s = grad[j];
      for (let k = 0; k < d; k++) s -= gamma * g[j * d + k] * grad[k];
      hg[j] = s;
    }
    for (let j = 0; j < d; j++) w[j] -= eta * hg[j];
    out.push(testMse(p, w));
  }
  return out;
}

function testMse(p: GdPrompt, w: Float64Array): number {
  const m = p.testYs.length;
  let s = 0;
  for (let i = 0; i < m; i++) {
    let pred = 0;
    for (let j = 0; j < p.d; j++) pred += p.testXs[i * p.d + j] * w[j];
    s += (pred - p.testYs[i]) ** 2;
  }
  return s / m;
}

/**
 * Grazzi's γ = 1.939e-4 was tuned for d = 20, n = 40. For other sizes γ is tuned the same way
 * here: the value from a grid of fractions of 1/max λmax(XᵀX) that minimises the mean test
 * error over the curve, on the same prompts. Returns the γ and the fraction chosen.
 */
export function tuneGamma(
  prompts: GdPrompt[],
  iterations: number,
  grid = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
): { gamma: number; fraction: number } {
  let lmax = 0;
  for (const p of prompts) {
    const e = symmetricEigenvalues(gram(p.xs, p.n, p.d), p.d);
    lmax = Math.max(lmax, e[e.length - 1]);
  }
  let best = { gamma: 0, fraction: 0, score: Infinity };
  for (const f of grid) {
    const gamma = f / lmax;
    let score = 0;
    for (const p of prompts) {
      score += gdCurve(p, { iterations, gamma }).reduce((s, v) => s + v, 0);
    }
    if (score < best.score) best = { gamma, fraction: f, score };
  }
  return { gamma: best.gamma, fraction: best.fraction };
}
