/**
 * Chain-of-thought I/O (spec 2.9; paper A.3.6, after Li et al. 2023): a 2-layer ReLU network
 * s = ReLU(W x), y = v·s with W_ij ~ N(0, 2/h), v ~ N(0, I_h), x ~ N(0, I_d); each example is
 * three tokens x_i, s_i, y_i.
 *
 * Token layout (width d + h + 4): [x (d) | s (h) | y (1) | one-hot type (x, s, y)]. The slots
 * are disjoint, so one shared linear read-in on this layout equals Li et al.'s three separate
 * read-ins Linear(d→E), Linear(h→E), Linear(1→E), and the type one-hot gives each its own bias.
 *
 * Heads: y_i is read at the s_i token (`predPos` = 1, 4, 7, ...; `targets` = y) and s_i at the
 * x_i token (`intermediate`, outDim h). Training teacher-forces the true s_i; autoregressive
 * inference writes ŝ_i into the s slot (`intermediate.tokenOffset` = d) before reading ŷ_i.
 * E[y²] = d, so the normalizer is d.
 */
import type { Rng } from "../core/rng.ts";
import { requireInt, resolveSizes, zeroBeyond } from "./layout.ts";
import type { IclBatch, SampleOptions, Task } from "./task.ts";

/** Options of the CoT-I/O task. */
export interface CotOptions {
  /** Input dimension d (default 10). */
  nDims?: number;
  /** In-context examples N (default 101). */
  nPoints?: number;
  /** Hidden width h (default 8, the paper's setting; Li et al.'s config uses 4). */
  hidden?: number;
}

/** Chain-of-thought I/O with separate x, s, y tokens. */
export class ChainOfThoughtIO implements Task {
  readonly name = "cot_io";
  readonly nDims: number;
  readonly nPoints: number;
  readonly hidden: number;
  readonly tokenDim: number;
  readonly outDim = 1;
  readonly loss = "mse" as const;
  readonly metric = "squared_error" as const;
  readonly normalizer: number;

  constructor(opts: CotOptions = {}) {
    this.nDims = requireInt(this.name, "nDims", opts.nDims ?? 10);
    this.nPoints = requireInt(this.name, "nPoints", opts.nPoints ?? 101);
    this.hidden = requireInt(this.name, "hidden", opts.hidden ?? 8);
    this.tokenDim = this.nDims + this.hidden + 4;
    this.normalizer = this.nDims;
  }

  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch {
    const { dCur, n } = resolveSizes(this.name, this, batch, opts);
    const d = this.nDims, h = this.hidden, td = this.tokenDim, seqLen = 3 * n;
    const xs = rng.fillNormal(new Float32Array(batch * n * d));
    zeroBeyond(xs, d, dCur);
    const ys = new Float32Array(batch * n);
    const ss = new Float32Array(batch * n * h);
    const tokens = new Float32Array(batch * seqLen * td);
    const wStd = Math.sqrt(2 / h);
    const w = new Float64Array(h * d), v = new Float64Array(h);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < h * d; i++) w[i] = wStd * rng.normal();
      for (let u = 0; u < h; u++) v[u] = rng.normal();
      for (let i = 0; i < n; i++) {
        const r = b * n + i;
        const base = (b * seqLen + 3 * i) * td;
        let y = 0;
        for (let u = 0; u < h; u++) {
          let pre = 0;
          for (let j = 0; j < d; j++) pre += w[u * d + j] * xs[r * d + j];
          const s = pre > 0 ? pre : 0;
          ss[r * h + u] = s;
          tokens[base + td + d + u] = s;
          y += v[u] * s;
        }
        ys[r] = y;
        tokens.set(xs.subarray(r * d, (r + 1) * d), base);
        tokens[base + 2 * td + d + h] = y;
        for (let t = 0; t < 3; t++) tokens[base + t * td + d + h + 1 + t] = 1;
      }
    }
    const xPos = new Int32Array(n), sPos = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      xPos[i] = 3 * i;
      sPos[i] = 3 * i + 1;
    }
    return {
      batch,
      seqLen,
      tokenDim: td,
      tokens,
      predPos: sPos,
      outDim: 1,
      targets: ys.slice(),
      intermediate: { predPos: xPos, outDim: h, targets: ss, tokenOffset: d },
      xs,
      ys,
      nPoints: n,
      nDims: d,
    };
  }
}
