/**
 * In-context sparse parity (spec 2.8, paper A.3.4): x uniform on {±1}^d, y = Π_{j∈S} x_j for a
 * hidden k-subset S. Tokens carry y = ±1 (zero-padded to d); the BCE targets are (y + 1)/2, so
 * label 1 means y = +1 and a positive logit predicts y = +1.
 */
import type { Rng } from "../core/rng.ts";
import { interleavedBatch, requireInt, resolveSizes } from "./layout.ts";
import type { IclBatch, SampleOptions, Task } from "./task.ts";

/** Options of the sparse-parity task. */
export interface SparseParityOptions {
  /** Bits per input (default 10). */
  nDims?: number;
  /** In-context examples N (default 140). */
  nPoints?: number;
  /** Size of the hidden subset (default 2). */
  k?: number;
  /**
   * Draw one subset per batch, shared by all prompts (the reference repo's behaviour, spec
   * §10.1). Default false: one subset per prompt, as the paper's function class describes.
   */
  subsetPerBatch?: boolean;
}

/** Sparse parity with BCE loss and accuracy metric. */
export class SparseParity implements Task {
  readonly name = "sparse_parity";
  readonly nDims: number;
  readonly nPoints: number;
  readonly tokenDim: number;
  readonly k: number;
  readonly outDim = 1;
  readonly loss = "bce" as const;
  readonly metric = "accuracy" as const;
  readonly normalizer = 1;
  readonly subsetPerBatch: boolean;

  constructor(opts: SparseParityOptions = {}) {
    this.nDims = requireInt(this.name, "nDims", opts.nDims ?? 10);
    this.nPoints = requireInt(this.name, "nPoints", opts.nPoints ?? 140);
    this.k = requireInt(this.name, "k", opts.k ?? 2);
    if (this.k > this.nDims) {
      throw new Error(`${this.name}: k (${this.k}) must not exceed nDims (${this.nDims})`);
    }
    this.subsetPerBatch = opts.subsetPerBatch ?? false;
    this.tokenDim = this.nDims;
  }

  /** Draws a batch; `opts.nDims` must equal the task's d (parity has no dims curriculum). */
  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch {
    return sampleSparseParity(rng, batch, {
      nDims: this.nDims,
      k: this.k,
      subsetPerBatch: this.subsetPerBatch,
      nPoints: resolveParitySizes(this, batch, opts),
    }).batch;
  }
}

function resolveParitySizes(task: SparseParity, batch: number, opts?: SampleOptions): number {
  const { dCur, n } = resolveSizes(task.name, task, batch, opts);
  if (dCur !== task.nDims) {
    throw new Error(
      `${task.name}: nDims must stay ${task.nDims} (no dims curriculum), got ${dCur}`,
    );
  }
  return n;
}

/**
 * Samples sparse-parity prompts and also returns the hidden subsets ([B][k], coordinate
 * indices) so tests and analyses can check the labels.
 */
export function sampleSparseParity(
  rng: Rng,
  batch: number,
  opts: { nDims: number; nPoints: number; k: number; subsetPerBatch?: boolean },
): { batch: IclBatch; subsets: number[][] } {
  const d = requireInt("sampleSparseParity", "nDims", opts.nDims);
  const n = requireInt("sampleSparseParity", "nPoints", opts.nPoints);
  const k = requireInt("sampleSparseParity", "k", opts.k);
  requireInt("sampleSparseParity", "batch", batch);
  if (k > d) throw new Error(`sampleSparseParity: k (${k}) must not exceed nDims (${d})`);
  const xs = new Float32Array(batch * n * d);
  for (let i = 0; i < xs.length; i++) xs[i] = rng.uniform() < 0.5 ? -1 : 1;
  const shared = opts.subsetPerBatch ? rng.choose(d, k) : undefined;
  const subsets: number[][] = [];
  const ys = new Float32Array(batch * n);
  for (let b = 0; b < batch; b++) {
    const subset = shared ?? rng.choose(d, k);
    subsets.push(subset);
    for (let i = 0; i < n; i++) {
      let y = 1;
      for (const j of subset) y *= xs[(b * n + i) * d + j];
      ys[b * n + i] = y;
    }
  }
  const out = interleavedBatch(xs, ys, batch, n, d);
  out.targets = Float32Array.from(ys, (y) => (y + 1) / 2);
  return { batch: out, subsets };
}

/** All k-subsets of 0..d-1 in lexicographic order. */
function combinations(d: number, k: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const rec = (start: number) => {
    if (cur.length === k) {
      out.push(cur.slice());
      return;
    }
    for (let j = start; j <= d - (k - cur.length); j++) {
      cur.push(j);
      rec(j + 1);
      cur.pop();
    }
  };
  rec(0);
  return out;
}

/**
 * The "no-context" level of sparse parity (parity-notes.md): the Bayes-optimal prediction of y
 * from x alone, without any in-context example, when S is a uniform k-subset. By symmetry the
 * posterior depends only on the number of +1 coordinates, so the best predictor is the majority
 * label per count. Computed exactly by enumerating all 2^d inputs and all subsets; returns the
 * accuracy and the BCE (nats) of the calibrated posterior. A model that has not learned in
 * context can reach these values, so they, not 0.5 and ln 2, are the chance levels to report.
 */
export function parityNoContextChance(nDims: number, k: number): { accuracy: number; bce: number } {
  requireInt("parityNoContextChance", "nDims", nDims);
  requireInt("parityNoContextChance", "k", k);
  if (k > nDims) {
    throw new Error(`parityNoContextChance: k (${k}) must not exceed nDims (${nDims})`);
  }
  if (nDims > 20) throw new Error(`parityNoContextChance: nDims ${nDims} too large to enumerate`);
  const subsets = combinations(nDims, k);
  const plus = new Float64Array(nDims + 1), total = new Float64Array(nDims + 1);
  for (let bits = 0; bits < 1 << nDims; bits++) {
    let count = 0;
    for (let j = 0; j < nDims; j++) count += (bits >> j) & 1; // bit set = coordinate +1
    for (const s of subsets) {
      let minus = 0;
      for (const j of s) minus += 1 - ((bits >> j) & 1);
      if (minus % 2 === 0) plus[count]++;
      total[count]++;
    }
  }
  let correct = 0, bce = 0, all = 0;
  for (let c = 0; c <= nDims; c++) {
    const q = plus[c] / total[c];
    correct += Math.max(plus[c], total[c] - plus[c]);
    if (q > 0 && q < 1) bce -= total[c] * (q * Math.log(q) + (1 - q) * Math.log(1 - q));
    all += total[c];
  }
  return { accuracy: correct / all, bce: bce / all };
}
