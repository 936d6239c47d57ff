/**
 * Token models: a vocabulary read-in and a next-token cross-entropy, for GINC and RegBench.
 *
 * The read-in is the model's own `_read_in` Linear(V → E) applied to one-hot tokens, computed
 * as a lookup: token v's embedding is column v of the weight plus the bias. So a token model is
 * any iclab model with tokenDim = outDim = V (the read-out Linear(E → V) gives the logits), and
 * its weights are those of the one-hot model; no architecture needs its own token code.
 */
import { fromInts } from "../core/create.ts";
import { add } from "../core/ops/elementwise.ts";
import { crossEntropy } from "../core/ops/nn_ops.ts";
import { gather, reshape, transpose } from "../core/ops/shape_ops.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Linear } from "./layers.ts";

/** ids [B·T] (row-major [B, T]) → embeddings [B, T, E] through a Linear(V → E) read-in. */
export function embedTokens(
  readIn: Linear,
  ids: Int32Array,
  batch: number,
  length: number,
): Tensor {
  if (ids.length !== batch * length) {
    throw new Error(`embedTokens: ${ids.length} ids for [${batch}, ${length}]`);
  }
  const v = readIn.inFeatures, e = readIn.outFeatures;
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < v)) throw new RangeError(`token ${ids[i]} outside [0, ${v})`);
  }
  const cols = gather(readIn.weight, fromInts(ids, [ids.length], readIn.weight.backend), 1);
  const rows = transpose(cols); // [B·T, E]
  const h = readIn.bias ? add(rows, readIn.bias) : rows;
  return reshape(h, [batch, length, e]);
}

/**
 * Mean next-token cross-entropy: logits [B, T, V] at position t predict ids[t + 1]; positions
 * whose target is `ignore` (padding) are left out. Returns null if no position is scored.
 */
export function nextTokenLoss(
  logits: Tensor,
  ids: Int32Array,
  ignore: number | null = null,
): Tensor | null {
  const [b, t, v] = logits.shape;
  const rows: number[] = [], labels: number[] = [];
  for (let i = 0; i < b; i++) {
    for (let s = 0; s + 1 < t; s++) {
      const target = ids[i * t + s + 1];
      if (target === ignore) continue;
      rows.push(i * t + s);
      labels.push(target);
    }
  }
  if (rows.length === 0) return null;
  const flat = reshape(logits, [b * t, v]);
  const picked = gather(flat, fromInts(Int32Array.from(rows), [rows.length], logits.backend), 0);
  return crossEntropy(picked, labels);
}

/** Argmax over the last axis of host logits [N, V] → [N]. */
export function argmaxRows(logits: Float32Array, v: number): Int32Array {
  const n = logits.length / v, out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < v; j++) if (logits[i * v + j] > logits[i * v + best]) best = j;
    out[i] = best;
  }
  return out;
}
