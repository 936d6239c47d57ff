/**
 * Multi-layer LSTM (Hochreiter & Schmidhuber 1997), PyTorch's nn.LSTM with batch_first: the
 * baseline both GINC (Xie et al.) and RegBench (Akyürek et al.) report. Parameter names, shapes,
 * gate order (input, forget, cell, output) and initialisation U(±1/√H) are PyTorch's, so a
 * state_dict maps one to one.
 *
 * Composed from existing differentiable ops, so its backward is autograd's, gradient-checked op
 * by op: the input projection of all T steps is one matmul per layer, the recurrence one small
 * matmul plus elementwise gates per step. A fused recurrent kernel (one dispatch per layer
 * instead of ~10 per step) is the obvious next step for speed and is not written yet.
 */
import { add, mul, sigmoid, tanh } from "../core/ops/elementwise.ts";
import { matmulT } from "../core/ops/matmul.ts";
import { concat, reshape, slice } from "../core/ops/shape_ops.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Init } from "./init.ts";
import { Module } from "./module.ts";

/**
 * One LSTM layer over x [B, T, in] from a zero initial state → hidden states [B, T, H], with
 * weightIh [4H, in], weightHh [4H, H], biasIh and biasHh [4H].
 */
export function lstmLayer(
  x: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): Tensor {
  const h = weightHh.shape[1];
  if (x.rank !== 3 || x.shape[2] !== weightIh.shape[1] || weightIh.shape[0] !== 4 * h) {
    throw new Error(
      `LSTM layer: input ${x.describe()} and weight_ih ${weightIh.describe()} should be ` +
        `[B, T, in] and [4H, in] with H = ${h}`,
    );
  }
  const [b, t, inp] = x.shape;
  const xw = reshape(matmulT(reshape(x, [b * t, inp]), weightIh, false, true, biasIh), [
    b,
    t,
    4 * h,
  ]);
  let hPrev: Tensor | null = null, cPrev: Tensor | null = null;
  const outs: Tensor[] = [];
  for (let s = 0; s < t; s++) {
    const xs = reshape(slice(xw, 1, s, s + 1), [b, 4 * h]);
    // At step 0 the state is zero, so h·W_hh contributes only its bias.
    const gates: Tensor = hPrev
      ? add(xs, matmulT(hPrev, weightHh, false, true, biasHh))
      : add(xs, biasHh);
    const i = sigmoid(slice(gates, 1, 0, h));
    const f = sigmoid(slice(gates, 1, h, 2 * h));
    const g = tanh(slice(gates, 1, 2 * h, 3 * h));
    const o = sigmoid(slice(gates, 1, 3 * h, 4 * h));
    const c: Tensor = cPrev ? add(mul(f, cPrev), mul(i, g)) : mul(i, g);
    const hNew = mul(o, tanh(c));
    outs.push(reshape(hNew, [b, 1, h]));
    hPrev = hNew;
    cPrev = c;
  }
  return outs.length === 1 ? outs[0] : concat(outs, 1);
}

/** Stacked LSTM: layer l reads layer l − 1's hidden states. */
export class Lstm extends Module {
  /** Per layer: [weight_ih, weight_hh, bias_ih, bias_hh]. */
  readonly layers: [Tensor, Tensor, Tensor, Tensor][] = [];

  constructor(init: Init, readonly inputSize: number, readonly hiddenSize: number, nLayers = 1) {
    super();
    if (!Number.isInteger(nLayers) || nLayers < 1) throw new Error(`LSTM: nLayers must be ≥ 1`);
    const k = 1 / Math.sqrt(hiddenSize), g = 4 * hiddenSize;
    for (let l = 0; l < nLayers; l++) {
      const li = init.fork(`lstm-${l}`), inp = l === 0 ? inputSize : hiddenSize;
      // PyTorch's nn.LSTM names and initialisation.
      this.layers.push([
        this.param(`weight_ih_l${l}`, li.uniform([g, inp], -k, k)),
        this.param(`weight_hh_l${l}`, li.uniform([g, hiddenSize], -k, k)),
        this.param(`bias_ih_l${l}`, li.uniform([g], -k, k)),
        this.param(`bias_hh_l${l}`, li.uniform([g], -k, k)),
      ]);
    }
  }

  /** x [B, T, in] → top layer's hidden states [B, T, H]. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const [wIh, wHh, bIh, bHh] of this.layers) y = lstmLayer(y, wIh, wHh, bIh, bHh);
    return y;
  }
}
