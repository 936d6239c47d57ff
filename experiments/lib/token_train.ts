/**
 * Training and evaluation of next-token models (GINC, RegBench). The common trainer
 * (`trainer.ts`) takes vector ICL batches; this loop takes id batches and the next-token loss,
 * with the same optimizer, clipping and schedule. Not yet here: checkpoints and resume.
 */
import { backward, zeroGrad } from "../../core/autograd.ts";
import type { Backend } from "../../core/backend.ts";
import type { Rng } from "../../core/rng.ts";
import { stack } from "../../core/ops/stack.ts";
import { type Tensor, tidy } from "../../core/tensor.ts";
import { Adam, argmaxRows, clipGradNorm, LstmLm, makeModel, nextTokenLoss } from "../../nn/mod.ts";
import type { Schedule } from "../../nn/optim.ts";

/** A model that maps ids [B·T] to logits [B, T, V]. */
export interface TokenModel {
  forwardIds(ids: Int32Array, batch: number, length: number): Tensor;
  namedParameters(): [string, Tensor][];
  parameters(): Tensor[];
  numParams(): number;
  eval(): unknown;
  train(on?: boolean): unknown;
  dispose(): void;
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

export interface TokenTrainOptions {
  steps: number;
  schedule: Schedule;
  clip: number;
  /** Read the loss from the device every this many steps (and at the end). */
  logEvery: number;
  onLog?: (step: number, loss: number) => void;
}

/** Trains with Adam on the next-token loss; returns [step, mean loss since the last log]. */
export async function trainTokens(
  model: TokenModel,
  sample: (rng: Rng, step: number) => IdBatch,
  rng: Rng,
  backend: Backend,
  o: TokenTrainOptions,
): Promise<{ losses: [number, number][]; seconds: number }> {
  model.train(true);
  const params = model.parameters();
  const opt = new Adam(model.namedParameters(), { lr: o.schedule(0) });
  const losses: [number, number][] = [];
  let pending: Tensor[] = [];
  const t0 = performance.now();
  const flush = async (step: number) => {
    if (!pending.length) return;
    const all = tidy(() => stack(pending));
    const v = await all.floats();
    all.dispose();
    pending.forEach((t) => t.dispose());
    pending = [];
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    if (!Number.isFinite(mean)) throw new Error(`token training: loss ${mean} near step ${step}`);
    losses.push([step, mean]);
    o.onLog?.(step, mean);
  };
  for (let step = 0; step < o.steps; step++) {
    const b = sample(rng, step);
    const loss = tidy(() => {
      const logits = model.forwardIds(b.ids, b.batch, b.length);
      const l = nextTokenLoss(logits, b.ids, b.ignore ?? null);
      if (!l) throw new Error(`token training: batch ${step} has no scored position`);
      // The step keeps only the loss: intermediates are freed as the backward consumes them.
      backward(l, undefined, { release: true });
      const scale = o.clip > 0 ? clipGradNorm(params, o.clip) : null;
      opt.lr = o.schedule(step);
      opt.step(scale);
      zeroGrad(params);
      return l;
    });
    pending.push(loss);
    backend.flush();
    if ((step + 1) % o.logEvery === 0 || step + 1 === o.steps) await flush(step + 1);
  }
  opt.dispose();
  return { losses, seconds: (performance.now() - t0) / 1000 };
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
