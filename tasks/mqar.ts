/**
 * Vector-valued multi-query associative recall (spec 2.10, paper A.3.7): n key-value pairs with
 * keys and values uniform on the unit sphere S^{d-1}, followed by m query tokens, each a copy of
 * a distinct random key; the model must output the paired value at every query.
 *
 * Layout (not interleaved with answers): k_1, v_1, ..., k_n, v_n, q_1, ..., q_m (seqLen 2n + m,
 * tokenDim d); predictions at the query tokens 2n .. 2n+m-1, targets [B, m, d].
 * The metric is the norm-squared error ||v̂ - v||² (the paper's "norm-squared error"), so the
 * zero predictor scores 1 with unit vectors and the normalizer is 1.
 */
import type { Rng } from "../core/rng.ts";
import { requireInt, resolveSizes } from "./layout.ts";
import type { IclBatch, SampleOptions, Task } from "./task.ts";

/** Options of vector MQAR. */
export interface MqarOptions {
  /** Vector dimension d (default 20). */
  nDims?: number;
  /** Key-value pairs n (default 32); `nPoints` is an alias used by the curriculum. */
  nPairs?: number;
  /** Same as nPairs (for a uniform option set across tasks). */
  nPoints?: number;
  /** Queries m per prompt, distinct keys (default 16; the paper also runs 4). */
  nQueries?: number;
  /** Norm of every key, value and query (default 1: the paper's unit sphere; repo uses sqrt(d)). */
  vectorNorm?: number;
}

/** Vector MQAR with MSE on the query positions. */
export class VectorMqar implements Task {
  readonly name = "mqar";
  readonly nDims: number;
  readonly nPoints: number;
  readonly nQueries: number;
  readonly vectorNorm: number;
  readonly tokenDim: number;
  readonly outDim: number;
  readonly loss = "mse" as const;
  readonly metric = "squared_error" as const;
  readonly normalizer = 1;

  constructor(opts: MqarOptions = {}) {
    if (opts.nPairs !== undefined && opts.nPoints !== undefined && opts.nPairs !== opts.nPoints) {
      throw new Error(`mqar: nPairs (${opts.nPairs}) and nPoints (${opts.nPoints}) disagree`);
    }
    this.nDims = requireInt(this.name, "nDims", opts.nDims ?? 20);
    this.nPoints = requireInt(this.name, "nPairs", opts.nPairs ?? opts.nPoints ?? 32);
    this.nQueries = requireInt(this.name, "nQueries", opts.nQueries ?? 16);
    if (this.nQueries > this.nPoints) {
      throw new Error(`mqar: nQueries (${this.nQueries}) exceeds nPairs (${this.nPoints})`);
    }
    this.vectorNorm = opts.vectorNorm ?? 1;
    if (!(this.vectorNorm > 0)) throw new Error(`mqar: vectorNorm must be > 0`);
    this.tokenDim = this.nDims;
    this.outDim = this.nDims;
  }

  /** `opts.nPoints` changes the number of pairs; nDims must stay d. */
  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch {
    const { dCur, n } = resolveSizes(this.name, this, batch, opts);
    if (dCur !== this.nDims) throw new Error(`mqar: nDims must stay ${this.nDims}, got ${dCur}`);
    const m = this.nQueries, d = this.nDims;
    if (m > n) throw new Error(`mqar: nQueries (${m}) exceeds nPoints (${n})`);
    const seqLen = 2 * n + m;
    const tokens = new Float32Array(batch * seqLen * d);
    const targets = new Float32Array(batch * m * d);
    for (let b = 0; b < batch; b++) {
      const prompt = tokens.subarray(b * seqLen * d, (b + 1) * seqLen * d);
      for (let t = 0; t < 2 * n; t++) this.sphere(rng, prompt.subarray(t * d, (t + 1) * d));
      const keys = rng.choose(n, m);
      for (let q = 0; q < m; q++) {
        const key = 2 * keys[q];
        prompt.copyWithin((2 * n + q) * d, key * d, (key + 1) * d);
        targets.set(prompt.subarray((key + 1) * d, (key + 2) * d), (b * m + q) * d);
      }
    }
    const predPos = new Int32Array(m);
    for (let q = 0; q < m; q++) predPos[q] = 2 * n + q;
    return { batch, seqLen, tokenDim: d, tokens, predPos, outDim: d, targets };
  }

  /** A uniform point on the sphere of radius vectorNorm (normalised Gaussian). */
  private sphere(rng: Rng, out: Float32Array): void {
    let norm2 = 0;
    const g = new Float64Array(out.length);
    for (let j = 0; j < out.length; j++) {
      g[j] = rng.normal();
      norm2 += g[j] * g[j];
    }
    const scale = this.vectorNorm / Math.sqrt(norm2);
    for (let j = 0; j < out.length; j++) out[j] = g[j] * scale;
  }
}
