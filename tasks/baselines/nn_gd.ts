/**
 * Garg's "2-layer NN, GD" baseline: a fresh Linear(d, h)–ReLU–Linear(h, 1) per prompt and
 * prefix, trained with Adam on the prefix's examples.
 */
import { Rng } from "../../core/rng.ts";
import {
  type BaselineInput,
  type BaselineOptions,
  emptyPredictions,
  evaluatedPositions,
} from "./types.ts";

/**
 * Spec 5 settings by default: hidden 100, Adam lr 5e-3 (β 0.9/0.999, ε 1e-8), 100 steps, each
 * step on a random minibatch of 100 of the i examples (all when i ≤ 100), MSE, PyTorch's
 * default Linear init U(±1/sqrt(fan_in)) for weights and biases. Costs about
 * steps·min(i, batchSize)·6dh flops per position: pass `positions` (and smaller `steps`,
 * `hidden`) for full evaluations. Randomness from `seed` (default 0).
 */
export function twoLayerNnGdBaseline(input: BaselineInput, opts?: BaselineOptions): Float32Array {
  const flags = evaluatedPositions(input, opts);
  const hidden = opts?.hidden ?? 100, steps = opts?.steps ?? 100;
  const lr = opts?.lr ?? 5e-3, batchSize = opts?.batchSize ?? 100;
  for (const [field, v] of [["hidden", hidden], ["steps", steps], ["batchSize", batchSize]]) {
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new Error(`twoLayerNnGdBaseline: ${field} must be an integer >= 1, got ${v}`);
    }
  }
  const rng = new Rng(opts?.seed ?? 0).fork("nn_gd");
  const { xs, ys, batch, nPoints: n, nDims: d } = input;
  const out = emptyPredictions(input);
  const net = new TinyNet(d, hidden);
  for (let p = 0; p < batch; p++) {
    const px = xs.subarray(p * n * d, (p + 1) * n * d);
    const py = ys.subarray(p * n, (p + 1) * n);
    for (let i = 0; i < n; i++) {
      if (!flags[i]) continue;
      if (i === 0) {
        out[p * n] = 0;
        continue;
      }
      net.reset(rng);
      for (let s = 0; s < steps; s++) {
        const rows = i <= batchSize ? null : rng.choose(i, batchSize);
        net.adamStep(px, py, rows ?? i, lr);
      }
      out[p * n + i] = net.forward(px, i);
    }
  }
  return out;
}

/** Parameters, gradients and Adam moments of one small MLP, all flat float64. */
class TinyNet {
  private readonly params: Float64Array; // [W1 (h×d) | b1 (h) | w2 (h) | b2]
  private readonly grad: Float64Array;
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private readonly pre: Float64Array;
  private t = 0;

  constructor(private readonly d: number, private readonly h: number) {
    const size = h * d + 2 * h + 1;
    this.params = new Float64Array(size);
    this.grad = new Float64Array(size);
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    this.pre = new Float64Array(h);
  }

  reset(rng: Rng): void {
    const { d, h } = this;
    const b1 = 1 / Math.sqrt(d), b2 = 1 / Math.sqrt(h);
    for (let k = 0; k < h * d + h; k++) this.params[k] = (2 * rng.uniform() - 1) * b1;
    for (let k = h * d + h; k < this.params.length; k++) {
      this.params[k] = (2 * rng.uniform() - 1) * b2;
    }
    this.m.fill(0);
    this.v.fill(0);
    this.t = 0;
  }

  /** Output for row `row` of xs; leaves the pre-activations in this.pre. */
  forward(xs: Float32Array, row: number): number {
    const { d, h, params: w, pre } = this;
    let y = w[h * d + 2 * h];
    for (let u = 0; u < h; u++) {
      let s = w[h * d + u];
      for (let j = 0; j < d; j++) s += w[u * d + j] * xs[row * d + j];
      pre[u] = s;
      if (s > 0) y += w[h * d + h + u] * s;
    }
    return y;
  }

  /** One Adam step on the MSE over `rows` (an index list, or the first `rows` examples). */
  adamStep(xs: Float32Array, ys: Float32Array, rows: number[] | number, lr: number): void {
    const { d, h, params: w, grad: g, pre } = this;
    const count = typeof rows === "number" ? rows : rows.length;
    g.fill(0);
    for (let r = 0; r < count; r++) {
      const row = typeof rows === "number" ? r : rows[r];
      const dy = 2 * (this.forward(xs, row) - ys[row]) / count;
      g[h * d + 2 * h] += dy;
      for (let u = 0; u < h; u++) {
        if (pre[u] <= 0) continue;
        g[h * d + h + u] += dy * pre[u];
        const dpre = dy * w[h * d + h + u];
        g[h * d + u] += dpre;
        for (let j = 0; j < d; j++) g[u * d + j] += dpre * xs[row * d + j];
      }
    }
    this.t++;
    const c1 = 1 - 0.9 ** this.t, c2 = 1 - 0.999 ** this.t;
    for (let k = 0; k < w.length; k++) {
      this.m[k] = 0.9 * this.m[k] + 0.1 * g[k];
      this.v[k] = 0.999 * this.v[k] + 0.001 * g[k] * g[k];
      w[k] -= lr * (this.m[k] / c1) / (Math.sqrt(this.v[k] / c2) + 1e-8);
    }
  }
}
