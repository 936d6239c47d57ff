/**
 * Garg-style regression tasks (spec 2.1-2.5): linear, sparse linear, 2-layer ReLU network,
 * depth-4 decision tree and Grazzi's skewed-covariance linear regression. The outlier variants
 * live in outliers.ts and are re-exported here.
 */
import { Rng } from "../core/rng.ts";
import { interleavedBatch, requireInt, resolveSizes, zeroBeyond } from "./layout.ts";
import type { IclBatch, SampleOptions, Task } from "./task.ts";

export { ManyOutlierRegression, OrthoOutlierRegression } from "./outliers.ts";
export type { OutlierOptions } from "./outliers.ts";

/** Sizes shared by every regression task. */
export interface RegressionOptions {
  /** Input dimension d (default 20). */
  nDims?: number;
  /** In-context examples N (default per paper Table 1). */
  nPoints?: number;
}

/**
 * Common frame: x ~ N(0, I_d), coordinates beyond the curriculum dimension zeroed *before*
 * labelling (as Garg's sampler does), one fresh function per prompt, interleaved layout.
 */
abstract class ScalarRegressionTask implements Task {
  readonly tokenDim: number;
  readonly outDim = 1;
  readonly loss = "mse" as const;
  readonly metric = "squared_error" as const;
  abstract readonly normalizer: number;

  constructor(readonly name: string, readonly nDims: number, readonly nPoints: number) {
    requireInt(name, "nDims", nDims);
    requireInt(name, "nPoints", nPoints);
    this.tokenDim = nDims;
  }

  /** Draws xs [batch, n, d]; subclasses change the input distribution. */
  protected sampleXs(rng: Rng, batch: number, n: number, dCur: number): Float32Array {
    const xs = rng.fillNormal(new Float32Array(batch * n * this.nDims));
    zeroBeyond(xs, this.nDims, dCur);
    return xs;
  }

  /** Draws one function and writes its values on the prompt's `n` inputs into `ys`. */
  protected abstract labelPrompt(
    rng: Rng,
    xs: Float32Array,
    ys: Float32Array,
    n: number,
    dCur: number,
  ): void;

  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch {
    const { dCur, n } = resolveSizes(this.name, this, batch, opts);
    const d = this.nDims;
    const xs = this.sampleXs(rng, batch, n, dCur);
    const ys = new Float32Array(batch * n);
    for (let b = 0; b < batch; b++) {
      const promptXs = xs.subarray(b * n * d, (b + 1) * n * d);
      this.labelPrompt(rng, promptXs, ys.subarray(b * n, (b + 1) * n), n, dCur);
    }
    return interleavedBatch(xs, ys, batch, n, d);
  }
}

/** Writes y_i = w·x_i for the n rows of `xs`. */
function labelLinear(xs: Float32Array, w: Float64Array, ys: Float32Array, n: number): void {
  const d = w.length;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[j] * xs[i * d + j];
    ys[i] = s;
  }
}

function normalVector(rng: Rng, d: number): Float64Array {
  const w = new Float64Array(d);
  for (let j = 0; j < d; j++) w[j] = rng.normal();
  return w;
}

/** Spec 2.1: w ~ N(0, I_d), y = w·x, no noise. E[y²] = d, so the normalizer is d. */
export class LinearRegression extends ScalarRegressionTask {
  readonly normalizer: number;
  constructor(opts: RegressionOptions = {}, name = "linear_regression") {
    super(name, opts.nDims ?? 20, opts.nPoints ?? 41);
    this.normalizer = this.nDims;
  }
  protected labelPrompt(rng: Rng, xs: Float32Array, ys: Float32Array, n: number): void {
    labelLinear(xs, normalVector(rng, this.nDims), ys, n);
  }
}

/** Options of sparse linear regression. */
export interface SparseRegressionOptions extends RegressionOptions {
  /** Non-zero coordinates of w (default 3). */
  k?: number;
}

/**
 * Spec 2.2: w ~ N(0, I_d) with all but k coordinates zeroed; the kept ones are a uniform subset
 * of the first d_cur coordinates (Garg's valid_coords; fewer than k if d_cur < k). No rescaling,
 * so E[y²] = k and the normalizer is k. N = 101 per the paper's Table 1.
 */
export class SparseLinearRegression extends ScalarRegressionTask {
  readonly normalizer: number;
  readonly k: number;
  constructor(opts: SparseRegressionOptions = {}) {
    super("sparse_linear_regression", opts.nDims ?? 20, opts.nPoints ?? 101);
    this.k = requireInt(this.name, "k", opts.k ?? 3);
    if (this.k > this.nDims) {
      throw new Error(`${this.name}: k (${this.k}) must not exceed nDims (${this.nDims})`);
    }
    this.normalizer = this.k;
  }
  protected labelPrompt(rng: Rng, xs: Float32Array, ys: Float32Array, n: number, dCur: number) {
    const full = normalVector(rng, this.nDims);
    const w = new Float64Array(this.nDims);
    for (const j of rng.choose(dCur, Math.min(this.k, dCur))) w[j] = full[j];
    labelLinear(xs, w, ys, n);
  }
}

/** Options of the 2-layer ReLU network task. */
export interface ReluNetOptions extends RegressionOptions {
  /** Hidden width h (default 100, Garg's last commit and the paper). */
  hidden?: number;
}

/**
 * Spec 2.3: W1 ~ N(0,1)^{d×h}, W2 ~ N(0,1)^h, y = sqrt(2/h)·ReLU(x W1)·W2. The sqrt(2/h)
 * factor (Garg's code) makes E[y²] = d, so the normalizer is d.
 */
export class Relu2nnRegression extends ScalarRegressionTask {
  readonly normalizer: number;
  readonly hidden: number;
  constructor(opts: ReluNetOptions = {}) {
    super("relu_2nn_regression", opts.nDims ?? 20, opts.nPoints ?? 101);
    this.hidden = requireInt(this.name, "hidden", opts.hidden ?? 100);
    this.normalizer = this.nDims;
  }
  protected labelPrompt(rng: Rng, xs: Float32Array, ys: Float32Array, n: number): void {
    const d = this.nDims, h = this.hidden;
    const w1 = normalVector(rng, d * h); // [d, h]
    const w2 = normalVector(rng, h);
    const scale = Math.sqrt(2 / h);
    const pre = new Float64Array(h);
    for (let i = 0; i < n; i++) {
      pre.fill(0);
      for (let j = 0; j < d; j++) {
        const xj = xs[i * d + j];
        if (xj === 0) continue;
        for (let u = 0; u < h; u++) pre[u] += xj * w1[j * h + u];
      }
      let y = 0;
      for (let u = 0; u < h; u++) if (pre[u] > 0) y += pre[u] * w2[u];
      ys[i] = scale * y;
    }
  }
}

/** Options of the decision-tree task. */
export interface DecisionTreeOptions extends RegressionOptions {
  /** Tree depth (default 4: 15 internal nodes, 16 leaves). */
  depth?: number;
}

/**
 * Spec 2.4: a full binary tree; each internal node tests x[c] > 0 (true = right child) with c
 * uniform over all d coordinates (even while the curriculum zeroes some); leaves ~ N(0, 1).
 * E[y²] = 1, so the normalizer is 1.
 */
export class DecisionTreeRegression extends ScalarRegressionTask {
  readonly normalizer = 1;
  readonly depth: number;
  constructor(opts: DecisionTreeOptions = {}) {
    super("decision_tree", opts.nDims ?? 20, opts.nPoints ?? 101);
    this.depth = requireInt(this.name, "depth", opts.depth ?? 4);
  }
  protected labelPrompt(rng: Rng, xs: Float32Array, ys: Float32Array, n: number): void {
    const d = this.nDims;
    const internal = 2 ** this.depth - 1;
    const coords = new Int32Array(internal);
    for (let j = 0; j < internal; j++) coords[j] = rng.int(d);
    const leaves = normalVector(rng, 2 ** this.depth);
    for (let i = 0; i < n; i++) {
      let node = 0;
      for (let level = 0; level < this.depth; level++) {
        node = 2 * node + 1 + (xs[i * d + coords[node]] > 0 ? 1 : 0);
      }
      ys[i] = leaves[node - internal];
    }
  }
}

/** Options of Grazzi's skewed-covariance linear regression. */
export interface SkewedRegressionOptions extends RegressionOptions {
  /** Scale eigenvalues are (1/(i+1))^exp (default 1). */
  exp?: number;
  /**
   * When set, one rotation drawn from this seed is used for every batch (the OOD `skewed` eval
   * of Garg); otherwise a new rotation is drawn for every batch (Grazzi's training).
   */
  fixedRotationSeed?: number;
}

/**
 * Spec 2.5: x = z·T with z ~ N(0, I), T = U diag(λ) Uᵀ, U Haar-random, λ_i = (i+1)^-exp,
 * T scaled so that trace Cov(x) = d. Labels as linear regression; the curriculum truncation is
 * applied after the transform. Normalizer d.
 */
export class SkewedLinearRegression extends LinearRegression {
  readonly exp: number;
  private readonly fixedTransform?: Float64Array;
  constructor(opts: SkewedRegressionOptions = {}) {
    super(opts, "skewed_linear_regression");
    this.exp = opts.exp ?? 1;
    if (!Number.isFinite(this.exp)) throw new Error(`${this.name}: exp must be finite`);
    if (opts.fixedRotationSeed !== undefined) {
      this.fixedTransform = skewTransform(new Rng(opts.fixedRotationSeed), this.nDims, this.exp);
    }
  }
  protected override sampleXs(rng: Rng, batch: number, n: number, dCur: number): Float32Array {
    const d = this.nDims;
    const t = this.fixedTransform ?? skewTransform(rng, d, this.exp);
    const xs = new Float32Array(batch * n * d);
    const z = new Float64Array(d);
    for (let r = 0; r < batch * n; r++) {
      for (let j = 0; j < d; j++) z[j] = rng.normal();
      for (let c = 0; c < d; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += z[j] * t[j * d + c];
        xs[r * d + c] = s;
      }
    }
    zeroBeyond(xs, d, dCur);
    return xs;
  }
}

/** Haar-random orthogonal d×d matrix (Gram-Schmidt of a Gaussian matrix), row-major. */
export function randomRotation(rng: Rng, d: number): Float64Array {
  const q = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) q[i] = rng.normal();
  // Modified Gram-Schmidt on columns; the implied R has a positive diagonal, which makes Q Haar.
  for (let c = 0; c < d; c++) {
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += q[r * d + c] * q[r * d + p];
      for (let r = 0; r < d; r++) q[r * d + c] -= dot * q[r * d + p];
    }
    let norm = 0;
    for (let r = 0; r < d; r++) norm += q[r * d + c] ** 2;
    norm = Math.sqrt(norm);
    for (let r = 0; r < d; r++) q[r * d + c] /= norm;
  }
  return q;
}

/** T = U diag(λ) Uᵀ · sqrt(d / Σλ²) with λ_i = (i+1)^-exp (Grazzi's sample_transformation). */
export function skewTransform(rng: Rng, d: number, exp: number): Float64Array {
  const u = randomRotation(rng, d);
  const lambda = Array.from({ length: d }, (_, i) => (1 / (i + 1)) ** exp);
  const scale = Math.sqrt(d / lambda.reduce((s, l) => s + l * l, 0));
  const t = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += u[r * d + i] * lambda[i] * u[c * d + i];
      t[r * d + c] = s * scale;
    }
  }
  return t;
}
