/**
 * The LSTM language model of the GINC and RegBench baselines: token read-in (E), a stacked LSTM
 * (H per layer), and a read-out Linear(H → V) to next-token logits. Xie et al. use E = H = 768
 * and 6 layers (Park et al. Table 3).
 */
import { reshape } from "../core/ops/shape_ops.ts";
import { Rng } from "../core/rng.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Backend } from "../core/backend.ts";
import { Init } from "./init.ts";
import { Linear } from "./layers.ts";
import { Lstm, stackSteps } from "./lstm.ts";
import { Module } from "./module.ts";
import { embedTokens } from "./tokens.ts";

/** Sizes of an LSTM language model. */
export interface LstmLmConfig {
  vocabSize: number;
  embedDim: number;
  hiddenDim: number;
  nLayers: number;
}

export class LstmLm extends Module {
  readonly _read_in: Linear;
  readonly lstm: Lstm;
  readonly _read_out: Linear;

  constructor(readonly config: LstmLmConfig, opts: { seed?: number; backend?: Backend } = {}) {
    super();
    const init = new Init(new Rng(opts.seed ?? 0).fork("init"), opts.backend);
    const { vocabSize: v, embedDim: e, hiddenDim: h, nLayers } = config;
    this._read_in = this.module("_read_in", new Linear(init.fork("_read_in"), v, e));
    this.lstm = this.module("lstm", new Lstm(init.fork("lstm"), e, h, nLayers));
    this._read_out = this.module("_read_out", new Linear(init.fork("_read_out"), h, v));
    this.nameParameters();
  }

  /**
   * ids [B·T] → logits [B, T, V]. Each step's tokens are looked up on their own (a lookup's
   * backward scatters into the V × E table, not into a [B, T, E] tensor per step).
   */
  forwardIds(ids: Int32Array, batch: number, length: number): Tensor {
    if (ids.length !== batch * length) {
      throw new Error(`LstmLm: ${ids.length} ids for [${batch}, ${length}]`);
    }
    const steps = Array.from({ length }, (_, t) => {
      const col = Int32Array.from({ length: batch }, (_, b) => ids[b * length + t]);
      return reshape(embedTokens(this._read_in, col, batch, 1), [batch, this.config.embedDim]);
    });
    return this._read_out.forward(stackSteps(this.lstm.forwardSteps(steps)));
  }
}
