/**
 * Batching and scoring for the token benchmarks (GINC, RegBench): pad token sequences into one
 * [B, T] id array, and turn the model's argmax predictions into the papers' accuracies with
 * 90% bootstrap intervals (Park et al. report 90% intervals; iclab's 5–95% band).
 */
import type { Rng } from "../core/rng.ts";
import { type GincPrompt, gincPrompt } from "./ginc.ts";
import type { GincFamily } from "./ginc_hmm.ts";
import { positionStats } from "./metrics.ts";
import type { Dfa, RegBench } from "./regbench.ts";

/** Token sequences right-padded with `pad` to the longest (or to `length`). */
export function padSequences(
  seqs: ArrayLike<number>[],
  pad: number,
  length?: number,
): { ids: Int32Array; batch: number; length: number } {
  const t = length ?? seqs.reduce((m, s) => Math.max(m, s.length), 0);
  const ids = new Int32Array(seqs.length * t).fill(pad);
  seqs.forEach((s, i) => {
    if (s.length > t) throw new Error(`padSequences: sequence ${i} is longer than ${t}`);
    ids.set(s as ArrayLike<number>, i * t);
  });
  return { ids, batch: seqs.length, length: t };
}

/** A mean with its bootstrap 5–95% interval over units (prompts or instances). */
export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

/** Mean and bootstrap interval of per-unit scores. */
export function meanInterval(scores: Float64Array, seed = 0): Interval {
  const s = positionStats(scores, scores.length, 1, { seed });
  return { mean: s.mean[0], lo: s.lo[0], hi: s.hi[0], n: scores.length };
}

/** The evaluation prompts with k examples: prompt i of the set, i < n. */
export function gincEvalPrompts(
  rng: Rng,
  family: GincFamily,
  k: number,
  n: number,
  exampleLength: number,
): GincPrompt[] {
  return Array.from({ length: n }, (_, i) => gincPrompt(rng, family, k, exampleLength, i));
}

/** GINC in-context accuracy: the prediction after the last token equals the Bayes label. */
export function gincIclAccuracy(preds: ArrayLike<number>, prompts: GincPrompt[]): Interval {
  if (preds.length !== prompts.length) throw new Error(`ginc: ${preds.length} predictions`);
  const hits = Float64Array.from(prompts, (p, i) => (preds[i] === p.label ? 1 : 0));
  return meanInterval(hits);
}

/**
 * RegBench greedy accuracy over instances: `token` is the mean over every scored position of
 * every instance, `perInstance` the mean of the instances' own accuracies with its interval.
 * `preds[i][t]` is the argmax after reading instance i's tokens 0..t.
 */
export function regbenchAccuracy(
  rb: RegBench,
  items: { dfa: Dfa; tokens: Int32Array }[],
  preds: ArrayLike<number>[],
): { token: number; perInstance: Interval } {
  let hit = 0, scored = 0;
  const per = new Float64Array(items.length);
  items.forEach(({ dfa, tokens }, i) => {
    const s = rb.greedyAccuracy(dfa, tokens, preds[i]);
    per[i] = s.accuracy;
    hit += s.accuracy * s.scored;
    scored += s.scored;
  });
  return { token: scored > 0 ? hit / scored : NaN, perInstance: meanInterval(per) };
}
