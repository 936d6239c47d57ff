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
  return batchLosses(model, batch, task, backend, false).loss;
}

/**
 * The training loss and, with `withLast`, the same loss at the last prediction position alone
 * (Grazzi's best-checkpoint criterion; not differentiated, only read).
 */
export function batchLosses(
  model: SequenceModel,
  batch: IclBatch,
  task: Task,
  backend: Backend,
  withLast: boolean,
): { loss: Tensor; last?: Tensor } {
  const pred = predictionsAt(model, batch, backend);
  const target = fromArray(batch.targets, pred.shape, backend);
  const P = batch.predPos.length;
  const mask = batch.targetMask
    ? fromArray(batch.targetMask, [batch.batch, P, 1], backend)
    : undefined;
  const loss = lossOf(pred, target, task, mask, batch.targetMask ?? undefined, batch.outDim);
  if (!withLast) return { loss };
  const lastMask = batch.targetMask
    ? batch.targetMask.filter((_, i) => i % P === P - 1)
    : undefined;
  const last = noGrad(() =>
    lossOf(
      op.slice(pred, 1, P - 1, P),
      op.slice(target, 1, P - 1, P),
      task,
      mask ? op.slice(mask, 1, P - 1, P) : undefined,
      lastMask,
      batch.outDim,
    )
  );
  return { loss, last };
}

function lossOf(
  pred: Tensor,
  target: Tensor,
  task: Task,
  mask: Tensor | undefined,
  hostMask: Float32Array | undefined,
  outDim: number,
): Tensor {
  if (task.loss === "bce") return op.bceWithLogits(pred, target);
  if (!mask || !hostMask) return op.mseLoss(pred, target);
  const se = op.mul(op.square(op.sub(pred, target)), mask);
  const count = hostMask.reduce((s, v) => s + v, 0) * outDim;
  return op.mul(op.sum(se), 1 / Math.max(count, 1));
}

/**
 * Predictions [B, P, outDim] of each batch copied to the host in one readback: each sync costs
 * ~11 ms in Deno's WebGPU, which was a fifth of a quick evaluation's time at one sync per batch.
 */
export async function predictHost(
  model: SequenceModel,
  batches: readonly IclBatch[],
  backend: Backend,
): Promise<Float32Array[]> {
  const all = noGrad(() =>
    tidy(() => {
      // Each forward in its own scope, so only its small output outlives it.
      const flat = batches.map((b) =>
        tidy(() => {
          const p = predictionsAt(model, b, backend);
          return op.reshape(p, [p.size]);
        })
      );
      return flat.length === 1 ? flat[0] : op.concat(flat, 0);
    })
  );
  try {
    const host = await all.floats();
    let at = 0;
    return batches.map((b) => {
      const n = b.batch * b.predPos.length * b.outDim;
      return host.subarray(at, at += n);
    });
  } finally {
    all.dispose();
  }
}
