/**
 * Training and evaluation of next-token models (GINC, RegBench). The common trainer
 * (`trainer.ts`) draws vector ICL batches from a task; here its `draw` hook gives it id batches
 * and the next-token loss, so token cells checkpoint and resume as every other cell.
 */
import type { Backend } from "../../core/backend.ts";
import type { Rng } from "../../core/rng.ts";
import { type Tensor, tidy } from "../../core/tensor.ts";
import { argmaxRows, LstmLm, makeModel, nextTokenLoss } from "../../nn/mod.ts";
import type { Module } from "../../nn/module.ts";
import { train, type TrainOptions, type TrainResult } from "./trainer.ts";

/** A model that maps ids [B·T] to logits [B, T, V]. */
export interface TokenModel extends Module {
  forwardIds(ids: Int32Array, batch: number, length: number): Tensor;
}

/** Architectures a token model can have: the LSTM and iclab's six. */
export const TOKEN_ARCHS = [
  "lstm",
  "transformer",
  "mamba",
  "mambaformer",
  "hybrid",
  "s4",
  "s4mamba",
] as const;
export type TokenArch = typeof TOKEN_ARCHS[number];

/** Sizes shared by every architecture of a run. */
export interface TokenModelSize {
  vocab: number;
  width: number;
  layers: number;
  /** Learned positions (Transformer, Standard Hybrid). */
  maxLen: number;
  nHead?: number;
  dState?: number;
}

/** Builds a token model of `arch` at the given size. */
export function makeTokenModel(
  arch: TokenArch,
  s: TokenModelSize,
  seed: number,
  backend: Backend,
): TokenModel {
  if (arch === "lstm") {
    return new LstmLm({
      vocabSize: s.vocab,
      embedDim: s.width,
      hiddenDim: s.width,
      nLayers: s.layers,
    }, { seed, backend });
  }
  const base = { tokenDim: s.vocab, outDim: s.vocab, dModel: s.width, nLayer: s.layers };
  const nHead = s.nHead ?? 4, dState = s.dState ?? 16;
  const cfg = arch === "transformer"
    ? { ...base, arch, nHead, maxLen: s.maxLen }
    : arch === "hybrid"
    ? { ...base, arch, nHead, dState, maxLen: s.maxLen }
    : arch === "mambaformer"
    ? { ...base, arch, nHead, dState }
    : { ...base, arch, dState };
  return makeModel(cfg, { seed, backend });
}

/** One training batch of ids; `ignore` is the padding id left out of the loss. */
export interface IdBatch {
  ids: Int32Array;
  batch: number;
  length: number;
  ignore?: number | null;
}

/** The common trainer's options, less those of vector tasks; the Adam lr is the schedule's. */
export type TokenTrainOptions = Omit<TrainOptions, "batch" | "lr" | "draw" | "loss" | "curriculum">;

/**
 * Trains with the common trainer (Adam, clipping, schedule, metrics, checkpoints and exact
 * resume) on the next-token loss of the id batches `sample` draws from the data stream.
 */
export function trainTokens(
  model: TokenModel,
  sample: (rng: Rng, step: number) => IdBatch,
  backend: Backend,
  o: TokenTrainOptions,
): Promise<TrainResult> {
  model.train(true);
  return train(model, null, backend, {
    ...o,
    batch: 0,
    lr: o.schedule(0),
    draw: (rng, step) => {
      const b = sample(rng, step);
      const l = nextTokenLoss(model.forwardIds(b.ids, b.batch, b.length), b.ids, b.ignore ?? null);
      if (!l) throw new Error(`token training: batch ${step} has no scored position`);
      return l;
    },
  });
}

/** Mean next-token loss over id batches (no gradients); perplexity is its exponential. */
export async function meanTokenLoss(model: TokenModel, batches: IdBatch[]): Promise<number> {
  model.eval();
  let total = 0, count = 0;
  for (const b of batches) {
    let n = 0;
    for (let i = 0; i < b.batch; i++) {
      for (let t = 0; t + 1 < b.length; t++) if (b.ids[i * b.length + t + 1] !== b.ignore) n++;
    }
    const l = tidy(() =>
      nextTokenLoss(model.forwardIds(b.ids, b.batch, b.length), b.ids, b.ignore ?? null)
    );
    if (!l) continue;
    total += (await l.floats())[0] * n;
    count += n;
    l.dispose();
  }
  model.train(true);
  return total / count;
}

/** Argmax next-token predictions [B·T] of the model over one id batch. */
export async function predictIds(model: TokenModel, b: IdBatch): Promise<Int32Array> {
  model.eval();
  const logits = tidy(() => model.forwardIds(b.ids, b.batch, b.length));
  const v = logits.shape[2];
  const host = await logits.floats();
  logits.dispose();
  model.train(true);
  return argmaxRows(host, v);
}
