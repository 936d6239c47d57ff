/** The bridge between task batches (host arrays) and sequence models (tensors). */
import { fromArray, fromInts } from "../../core/create.ts";
import { noGrad } from "../../core/autograd.ts";
import type { Backend } from "../../core/backend.ts";
import * as op from "../../core/ops/mod.ts";
import { type Tensor, tidy } from "../../core/tensor.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";

/** What the trainer needs from a model: tokens [B, T, tokenDim] → outputs [B, T, outDim]. */
export interface SequenceModel {
  forward(tokens: Tensor): Tensor;
  parameters(): Tensor[];
}

/** Model outputs at the prediction positions: [B, P, outDim]. */
export function predictionsAt(model: SequenceModel, batch: IclBatch, backend: Backend): Tensor {
  const x = fromArray(batch.tokens, [batch.batch, batch.seqLen, batch.tokenDim], backend);
  const out = model.forward(x);
  const expected = [batch.batch, batch.seqLen, batch.outDim];
  if (out.rank !== 3 || out.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`model output ${out.describe()} should be [${expected.join(", ")}]`);
  }
  return op.gather(out, fromInts(batch.predPos, [batch.predPos.length], backend), 1);
}

/** The training loss of a batch: MSE (masked where the task marks outliers) or BCE on logits. */
export function batchLoss(
  model: SequenceModel,
  batch: IclBatch,
  task: Task,
  backend: Backend,
): Tensor {
  const pred = predictionsAt(model, batch, backend);
  const target = fromArray(batch.targets, pred.shape, backend);
  if (task.loss === "bce") return op.bceWithLogits(pred, target);
  if (!batch.targetMask) return op.mseLoss(pred, target);
  const mask = fromArray(batch.targetMask, [batch.batch, batch.predPos.length, 1], backend);
  const se = op.mul(op.square(op.sub(pred, target)), mask);
  const count = batch.targetMask.reduce((s, v) => s + v, 0) * batch.outDim;
  return op.mul(op.sum(se), 1 / Math.max(count, 1));
}

/** Predictions [B, P, outDim] copied to the host (one readback). */
export async function predictHost(
  model: SequenceModel,
  batch: IclBatch,
  backend: Backend,
): Promise<Float32Array> {
  const pred = noGrad(() => tidy(() => predictionsAt(model, batch, backend)));
  try {
    return await pred.floats();
  } finally {
    pred.dispose();
  }
}
