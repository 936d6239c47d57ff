/**
 * Grazzi et al.'s decoder probing (spec §6): every layer's residual stream goes through the
 * model's own final norm and read-out; per prompt, a scale-and-shift regression fitted on the
 * decoded values at the last context points maps them to y, and is scored on test queries.
 * Each query is its own forward pass over the same context plus (x_q, y_q), as in Grazzi's
 * eval_icl_learning_curves.py, so the model never sees more points than it was trained on.
 */
import { fromArray } from "../../core/create.ts";
import { noGrad } from "../../core/autograd.ts";
import type { Backend } from "../../core/backend.ts";
import type { Tensor } from "../../core/tensor.ts";
import { tidy } from "../../core/tensor.ts";
import { GPT2Backbone, type ICLModel, MixerBackbone } from "../../nn/mod.ts";
import { interleavedBatch } from "../../tasks/layout.ts";

/** Closed-form least squares of y on a·x + b (one feature); a = 0 when x is constant. */
export function scaleShiftFit(x: ArrayLike<number>, y: ArrayLike<number>): {
  scale: number;
  shift: number;
} {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  // A decoded value that does not vary over the window carries no information: predict ȳ.
  const scale = sxx > 1e-12 * Math.max(1, mx * mx) * n ? sxy / sxx : 0;
  return { scale, shift: my - scale * mx };
}

/** The model's head as Grazzi applies it to every layer: read_out(final norm(h)). */
function headOf(model: ICLModel): (h: Tensor) => Tensor {
  const bb = (model as unknown as { _backbone: unknown })._backbone;
  const norm = bb instanceof GPT2Backbone
    ? bb.ln_f
    : bb instanceof MixerBackbone
    ? bb.norm_f
    : undefined;
  if (bb === undefined || norm === undefined) {
    throw new Error(`probing: ${model.config.arch} has no known backbone`);
  }
  return (h) => model._read_out.forward(norm ? norm.forward(h) : h);
}

/**
 * Decoded outputs of every layer (layer 0 = the read-in's output, then one per block) and the
 * model's own output, each [B, T] for tokens [B, T, tokenDim] (outDim 1).
 */
export async function decodeLayers(
  model: ICLModel,
  tokens: Float32Array,
  shape: [number, number, number],
  backend: Backend,
): Promise<{ layers: Float32Array[]; output: Float32Array }> {
  const head = headOf(model);
  const ts = noGrad(() =>
    tidy(() => {
      const hidden: Tensor[] = [];
      const out = model.forward(fromArray(tokens, shape, backend), hidden);
      return [out, ...hidden.map(head)];
    })
  );
  try {
    const vals = await Promise.all(ts.map((t) => t.floats()));
    return { output: vals[0], layers: vals.slice(1) };
  } finally {
    ts.forEach((t) => t.dispose());
  }
}

/** Prompts for probing: xs [B, C+Q, d], ys [B, C+Q]; the first C points are the context. */
export interface ProbePrompts {
  xs: Float32Array;
  ys: Float32Array;
  batch: number;
  d: number;
  context: number;
  queries: number;
}

/** Per-layer results, averaged over prompts and queries (squared errors divided by `norm`). */
export interface ProbeResult {
  /** Layer index / number of blocks: 0 = read-in, 1 = last block. */
  depth: number[];
  /** MSE of the fitted scale-and-shift decode on the queries. */
  probed: number[];
  /** MSE of the raw decode (no fit). */
  raw: number[];
  scale: number[];
  shift: number[];
  /** Largest |decode(last layer) − model output| seen (the sanity check). */
  lastLayerGap: number;
}

/**
 * Runs the probe: for each query q one forward pass over context + (x_q, y_q) (all prompts and
 * queries batched `chunk` sequences at a time), decoded values at the x tokens of the last
 * `window` context points fit the scale and shift, scored at the query's x token.
 */
export async function probeModel(
  model: ICLModel,
  p: ProbePrompts,
  backend: Backend,
  o: { window: number; norm: number; chunk?: number },
): Promise<ProbeResult> {
  const { batch: B, d, context: C, queries: Q } = p;
  if (o.window > C) throw new Error(`probing: window ${o.window} exceeds the context ${C}`);
  const n = C + Q, len = C + 1;
  // Sequence s = b·Q + q: the context of prompt b, then its query q.
  const S = B * Q, xs = new Float32Array(S * len * d), ys = new Float32Array(S * len);
  for (let b = 0; b < B; b++) {
    for (let q = 0; q < Q; q++) {
      const s = b * Q + q;
      xs.set(p.xs.subarray(b * n * d, (b * n + C) * d), s * len * d);
      ys.set(p.ys.subarray(b * n, b * n + C), s * len);
      xs.set(p.xs.subarray((b * n + C + q) * d, (b * n + C + q + 1) * d), (s * len + C) * d);
      ys[s * len + C] = p.ys[b * n + C + q];
    }
  }
  const chunk = o.chunk ?? 256;
  let layers: Float32Array[] | undefined;
  let gap = 0;
  const T = 2 * len;
  for (let s0 = 0; s0 < S; s0 += chunk) {
    const m = Math.min(chunk, S - s0);
    const bt = interleavedBatch(
      xs.subarray(s0 * len * d, (s0 + m) * len * d),
      ys.subarray(s0 * len, (s0 + m) * len),
      m,
      len,
      d,
    );
    const dec = await decodeLayers(model, bt.tokens, [m, T, d], backend);
    const last = dec.layers[dec.layers.length - 1];
    for (let i = 0; i < last.length; i++) gap = Math.max(gap, Math.abs(last[i] - dec.output[i]));
    layers ??= dec.layers.map(() => new Float32Array(S * T));
    dec.layers.forEach((l, k) => layers![k].set(l, s0 * T));
  }
  const L = layers!.length;
  const res: ProbeResult = {
    depth: [],
    probed: [],
    raw: [],
    scale: [],
    shift: [],
    lastLayerGap: gap,
  };
  const win = new Float64Array(o.window), wy = new Float64Array(o.window);
  for (let k = 0; k < L; k++) {
    let probed = 0, raw = 0, scale = 0, shift = 0;
    for (let b = 0; b < B; b++) {
      // The context is the same in every query's pass: fit on the first pass of prompt b.
      const s = b * Q;
      for (let j = 0; j < o.window; j++) {
        const i = C - o.window + j;
        win[j] = layers![k][s * T + 2 * i];
        wy[j] = p.ys[b * n + i];
      }
      const f = scaleShiftFit(win, wy);
      scale += f.scale / B;
      shift += f.shift / B;
      for (let q = 0; q < Q; q++) {
        const v = layers![k][(b * Q + q) * T + 2 * C], y = p.ys[b * n + C + q];
        probed += (f.scale * v + f.shift - y) ** 2;
        raw += (v - y) ** 2;
      }
    }
    res.depth.push(k / (L - 1));
    res.probed.push(probed / (B * Q * o.norm));
    res.raw.push(raw / (B * Q * o.norm));
    res.scale.push(scale);
    res.shift.push(shift);
  }
  return res;
}
