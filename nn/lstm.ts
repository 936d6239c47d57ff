/**
 * Multi-layer LSTM (Hochreiter & Schmidhuber 1997), PyTorch's nn.LSTM with batch_first: the
 * baseline both GINC (Xie et al.) and RegBench (Akyürek et al.) report. Parameter names, shapes,
 * gate order (input, forget, cell, output) and initialisation U(±1/√H) are PyTorch's, so a
 * state_dict maps one to one.
 *
 * Per step and layer: two small matmuls (input and recurrent projections) and one fused cell
 * kernel for the gates and the cell update, with its hand-written backward (gradient-checked,
 * and against the composed cell, `lstmLayerStepsComposed`). A kernel over all T steps of a
 * layer (the recurrent matmul inside it) is not written.
 */
import { add, mul, sigmoid, tanh } from "../core/ops/elementwise.ts";
import { lstmCell } from "../core/ops/fused.ts";
import { matmulT } from "../core/ops/matmul.ts";
import { concat, reshape, slice } from "../core/ops/shape_ops.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Init } from "./init.ts";
import { Module } from "./module.ts";

/**
 * One LSTM layer over per-step inputs xs[t] [B, in] from a zero initial state → per-step hidden
 * states [B, H], with weightIh [4H, in], weightHh [4H, H], biasIh and biasHh [4H]. Steps stay
 * separate tensors: slicing one [B, T, ·] tensor per step would make every slice's backward pad
 * a full-size gradient, O(T²) work for the whole sequence. Per step: the two projections, their
 * sum, the fused cell (core/ops/fused.ts `lstmCell`: gates and cell update in one kernel) and
 * the slice of h out of the state [h | c]: 5 dispatches, where the composed cell took 17.
 */
export function lstmLayerSteps(
  xs: readonly Tensor[],
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): Tensor[] {
  const h = checkLayer(xs, weightIh, weightHh);
  let hPrev: Tensor | null = null, state: Tensor | null = null;
  const outs: Tensor[] = [];
  for (const x of xs) {
    const xw = matmulT(x, weightIh, false, true, biasIh);
    // At step 0 the state is zero, so h·W_hh contributes only its bias.
    const gates: Tensor = hPrev
      ? add(xw, matmulT(hPrev, weightHh, false, true, biasHh))
      : add(xw, biasHh);
    state = lstmCell(gates, state);
    hPrev = slice(state, 1, 0, h);
    outs.push(hPrev);
  }
  return outs;
}

function checkLayer(xs: readonly Tensor[], weightIh: Tensor, weightHh: Tensor): number {
  const h = weightHh.shape[1];
  if (xs.length === 0) throw new Error(`LSTM layer: no time steps`);
  if (xs[0].rank !== 2 || xs[0].shape[1] !== weightIh.shape[1] || weightIh.shape[0] !== 4 * h) {
    throw new Error(
      `LSTM layer: step input ${xs[0].describe()} and weight_ih ${weightIh.describe()} should ` +
        `be [B, in] and [4H, in] with H = ${h}`,
    );
  }
  return h;
}

/**
 * The same layer with the cell composed from elementwise ops (autograd's backward): the oracle
 * the fused cell is tested against.
 */
export function lstmLayerStepsComposed(
  xs: readonly Tensor[],
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): Tensor[] {
  const h = checkLayer(xs, weightIh, weightHh);
  let hPrev: Tensor | null = null, cPrev: Tensor | null = null;
  const outs: Tensor[] = [];
  for (const x of xs) {
    const xw = matmulT(x, weightIh, false, true, biasIh);
    const gates: Tensor = hPrev
      ? add(xw, matmulT(hPrev, weightHh, false, true, biasHh))
      : add(xw, biasHh);
    const i = sigmoid(slice(gates, 1, 0, h));
    const f = sigmoid(slice(gates, 1, h, 2 * h));
    const g = tanh(slice(gates, 1, 2 * h, 3 * h));
    const o = sigmoid(slice(gates, 1, 3 * h, 4 * h));
    const c: Tensor = cPrev ? add(mul(f, cPrev), mul(i, g)) : mul(i, g);
    const hNew = mul(o, tanh(c));
    outs.push(hNew);
    hPrev = hNew;
    cPrev = c;
  }
  return outs;
}

/** x [B, T, in] → its T steps [B, in]. */
export function timeSteps(x: Tensor): Tensor[] {
  if (x.rank !== 3) throw new Error(`LSTM: input ${x.describe()} should be [B, T, in]`);
  const [b, t, n] = x.shape;
  return Array.from({ length: t }, (_, s) => reshape(slice(x, 1, s, s + 1), [b, n]));
}

/** Per-step [B, H] → [B, T, H]. */
export function stackSteps(hs: readonly Tensor[]): Tensor {
  const [b, h] = hs[0].shape;
  const rows = hs.map((x) => reshape(x, [b, 1, h]));
  return rows.length === 1 ? rows[0] : concat(rows, 1);
}

/** One LSTM layer over x [B, T, in] → hidden states [B, T, H]. */
export function lstmLayer(
  x: Tensor,
  weightIh: Tensor,
  weightHh: Tensor,
  biasIh: Tensor,
  biasHh: Tensor,
): Tensor {
  return stackSteps(lstmLayerSteps(timeSteps(x), weightIh, weightHh, biasIh, biasHh));
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
    return stackSteps(this.forwardSteps(timeSteps(x)));
  }

  /** Per-step inputs [B, in] → the top layer's per-step hidden states [B, H]. */
  forwardSteps(xs: readonly Tensor[]): Tensor[] {
    let ys = xs as Tensor[];
    for (const [wIh, wHh, bIh, bHh] of this.layers) ys = lstmLayerSteps(ys, wIh, wHh, bIh, bHh);
    return ys;
  }
}
