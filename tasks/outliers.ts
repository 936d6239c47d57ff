/**
 * Outlier ("filtering") linear regression of the MambaFormer paper (spec 2.6, 2.7; paper A.3.2).
 * Each (x_i, y_i) pair is replaced by a dummy pair with probability p; the dummies are neither
 * trained on nor scored (`targetMask` = 0 there).
 */
import type { Rng } from "../core/rng.ts";
import {
  requireInt,
  requireProbability,
  resolveSizes,
  xTokenPositions,
  zeroBeyond,
} from "./layout.ts";
import type { IclBatch, SampleOptions, Task } from "./task.ts";

/** Options of both outlier tasks. */
export interface OutlierOptions {
  /** Input dimension d (default 20). */
  nDims?: number;
  /** In-context examples N (default 101 orthogonal, 512 many-outlier). */
  nPoints?: number;
  /** Replacement probability p (default 0.5 orthogonal, 0.9 many-outlier); 0 = clean LR. */
  p?: number;
  /**
   * Orthogonal only: draw fresh coefficients (a, b) for every outlier position instead of one
   * dummy pair per prompt (the reference repo broadcasts one per prompt; the paper is ambiguous).
   */
  freshDummyPerPosition?: boolean;
}

/** Writes one dummy token pair (x part, y part), each d wide, for an outlier position. */
type DummyWriter = (xTok: Float32Array, yTok: Float32Array) => void;

/** Shared sampler: clean LR prompts, then outlier positions overwritten by `makeDummies`. */
abstract class OutlierRegression implements Task {
  readonly tokenDim: number;
  readonly outDim = 1;
  readonly loss = "mse" as const;
  readonly metric = "squared_error" as const;
  readonly normalizer: number;
  readonly nDims: number;
  readonly nPoints: number;
  readonly p: number;

  constructor(readonly name: string, opts: OutlierOptions, nPoints: number, p: number) {
    this.nDims = requireInt(name, "nDims", opts.nDims ?? 20);
    this.nPoints = requireInt(name, "nPoints", opts.nPoints ?? nPoints);
    this.p = requireProbability(name, "p", opts.p ?? p);
    this.tokenDim = this.nDims;
    this.normalizer = this.nDims;
  }

  /** Returns the writer of this prompt's dummy tokens, given its weight vector w. */
  protected abstract makeDummies(rng: Rng, w: Float64Array): DummyWriter;

  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch {
    const { dCur, n } = resolveSizes(this.name, this, batch, opts);
    const d = this.nDims, seqLen = 2 * n;
    const xs = rng.fillNormal(new Float32Array(batch * n * d));
    zeroBeyond(xs, d, dCur);
    const ys = new Float32Array(batch * n);
    const targets = new Float32Array(batch * n);
    const mask = new Float32Array(batch * n);
    const tokens = new Float32Array(batch * seqLen * d);
    for (let b = 0; b < batch; b++) {
      const w = new Float64Array(d);
      for (let j = 0; j < d; j++) w[j] = rng.normal();
      const writeDummy = this.makeDummies(rng, w);
      for (let i = 0; i < n; i++) {
        const r = b * n + i;
        let y = 0;
        for (let j = 0; j < d; j++) y += w[j] * xs[r * d + j];
        targets[r] = y; // the clean label: kept for inspection, never scored at outliers
        const xTok = tokens.subarray((b * seqLen + 2 * i) * d, (b * seqLen + 2 * i + 1) * d);
        const yTok = tokens.subarray((b * seqLen + 2 * i + 1) * d, (b * seqLen + 2 * i + 2) * d);
        if (rng.uniform() < this.p) {
          writeDummy(xTok, yTok);
          xs.set(xTok, r * d);
          ys[r] = yTok[0];
        } else {
          xTok.set(xs.subarray(r * d, (r + 1) * d));
          yTok[0] = y;
          ys[r] = y;
          mask[r] = 1;
        }
      }
    }
    return {
      batch,
      seqLen,
      tokenDim: d,
      tokens,
      predPos: xTokenPositions(n),
      outDim: 1,
      targets,
      targetMask: mask,
      xs,
      ys,
      nPoints: n,
      nDims: d,
    };
  }
}

/** w_1 - proj_w(w_1) for a fresh Gaussian w_1: a random vector in w's orthogonal complement. */
function orthogonalTo(rng: Rng, w: Float64Array): Float64Array {
  const d = w.length;
  const u = new Float64Array(d);
  let uw = 0, ww = 0;
  for (let j = 0; j < d; j++) {
    u[j] = rng.normal();
    uw += u[j] * w[j];
    ww += w[j] * w[j];
  }
  for (let j = 0; j < d; j++) u[j] -= (uw / ww) * w[j];
  return u;
}

/**
 * Orthogonal-outlier regression (p = 0.5, N = 101). Following the paper's A.3.2 formula, the
 * dummy x token is (a_x u + b_x v)/(a_x² + b_x²) and the dummy y token (a_y u + b_y v)/(a_y² + b_y²)
 * (a full d-vector, not zero-padded), with u, v = w_1, w_2 projected off the prompt's own w and
 * a, b ~ N(0, 1). The reference repo instead uses a fresh w, Gram-Schmidt u ⟂ v and a buggy
 * coefficient normalisation (spec §10.2); the paper's text is followed here.
 */
export class OrthoOutlierRegression extends OutlierRegression {
  readonly freshDummyPerPosition: boolean;
  constructor(opts: OutlierOptions = {}) {
    super("ortho_outlier_regression", opts, 101, 0.5);
    this.freshDummyPerPosition = opts.freshDummyPerPosition ?? false;
  }
  protected makeDummies(rng: Rng, w: Float64Array): DummyWriter {
    const u = orthogonalTo(rng, w), v = orthogonalTo(rng, w);
    const combo = (): Float32Array => {
      const a = rng.normal(), b = rng.normal();
      const r2 = a * a + b * b;
      return Float32Array.from(u, (uj, j) => (a * uj + b * v[j]) / r2);
    };
    if (this.freshDummyPerPosition) {
      return (xTok, yTok) => {
        xTok.set(combo());
        yTok.set(combo());
      };
    }
    const xDummy = combo(), yDummy = combo();
    return (xTok, yTok) => {
      xTok.set(xDummy);
      yTok.set(yDummy);
    };
  }
}

/**
 * Many-outlier regression (p = 0.9, N = 512): outlier x = the all-ones vector over all d
 * coordinates (even while the curriculum zeroes some) and y = 1 (token [1, 0, ..., 0]).
 */
export class ManyOutlierRegression extends OutlierRegression {
  constructor(opts: OutlierOptions = {}) {
    if (opts.freshDummyPerPosition !== undefined) {
      throw new Error("many_outlier_regression: freshDummyPerPosition does not apply");
    }
    super("many_outlier_regression", opts, 512, 0.9);
  }
  protected makeDummies(): DummyWriter {
    return (xTok, yTok) => {
      xTok.fill(1);
      yTok[0] = 1;
    };
  }
}
