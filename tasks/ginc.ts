/**
 * GINC data (Xie et al. 2021): pre-training documents from a uniform mixture of the family's
 * "ID" concepts, and in-context prompts of k examples, as the authors' generator makes them.
 *
 * Pre-training: each document picks a concept uniformly and runs its HMM for `docLength` tokens
 * (10,240 in the paper: 1,000 documents ≈ 10M tokens; validation 100 × 1,024). The authors write
 * the documents to one text file, each followed by the delimiter, and the LM reads that stream in
 * fixed blocks: `pretrainingStream` and `chunkStream` do the same.
 *
 * Prompt ("ID_sample" in their code), with example length L (10 in Park et al.):
 * one concept and one start slot s₀ ∈ [1, nSlots) for the whole prompt; each of the k + 1
 * examples starts in (random entity, s₀) and runs L − 1 transitions, and is followed by the
 * delimiter. The last delimiter and the last token are removed: the prompt is k examples of
 * L tokens + delimiter, then the L − 1 tokens of the test input x, and the label y is the most
 * likely next token under the prompt's concept given x alone, started uniformly over the states
 * of slot s₀ (the Bayes-optimal answer, not the sampled token).
 *
 * Every document and prompt has its own stream, forked by index, so a set is the same however
 * it is split, cached or regenerated.
 */
import type { Rng } from "../core/rng.ts";
import {
  argmax,
  GINC_DELIMITER,
  type GincFamily,
  type GincHmm,
  nextTokenDistribution,
  sampleRow,
} from "./ginc_hmm.ts";

/** One pre-training document. */
export interface GincDocument {
  /** Index of its concept in `family.idHmms`. */
  hmm: number;
  tokens: Int32Array;
  /** Hidden states, value · nSlots + slot. */
  hidden: Int32Array;
}

/** Runs an HMM from a state (or from its start distribution) for `length` states. */
export function runHmm(
  rng: Rng,
  family: GincFamily,
  hmm: GincHmm,
  length: number,
  firstState?: number,
): { tokens: Int32Array; hidden: Int32Array } {
  const n = family.nStates;
  const hidden = new Int32Array(length), tokens = new Int32Array(length);
  let h = firstState ?? sampleRow(rng, hmm.start, 0, n);
  for (let t = 0; t < length; t++) {
    if (t > 0) h = sampleRow(rng, hmm.trans, h * n, n);
    hidden[t] = h;
    tokens[t] = family.emission[h];
  }
  return { tokens, hidden };
}

/** Document `index` of a set: the same for the same (rng seed, stream, index). */
export function gincDocument(
  rng: Rng,
  family: GincFamily,
  index: number,
  docLength: number,
): GincDocument {
  const r = rng.fork(`doc-${index}`);
  const hmm = r.int(family.idHmms.length);
  return { hmm, ...runHmm(r, family, family.idHmms[hmm], docLength) };
}

/** Documents 0..nDocs-1 written as one stream, each followed by the delimiter. */
export function pretrainingStream(
  rng: Rng,
  family: GincFamily,
  nDocs: number,
  docLength: number,
): Int32Array {
  const out = new Int32Array(nDocs * (docLength + 1));
  for (let i = 0; i < nDocs; i++) {
    out.set(gincDocument(rng, family, i, docLength).tokens, i * (docLength + 1));
    out[i * (docLength + 1) + docLength] = GINC_DELIMITER;
  }
  return out;
}

/** Consecutive blocks of `blockSize` tokens (the tail that does not fill a block is dropped). */
export function chunkStream(stream: Int32Array, blockSize: number): Int32Array[] {
  const blocks: Int32Array[] = [];
  for (let o = 0; o + blockSize <= stream.length; o += blockSize) {
    blocks.push(stream.subarray(o, o + blockSize));
  }
  return blocks;
}

/** One in-context prompt. */
export interface GincPrompt {
  /** k·(L + 1) + L − 1 tokens. */
  tokens: Int32Array;
  /** The Bayes-optimal next token. */
  label: number;
  /** In-context examples. */
  k: number;
  /** Concept index in `family.idHmms`. */
  hmm: number;
  startSlot: number;
}

/** Prompt `index` of the set with k examples of length L. */
export function gincPrompt(
  rng: Rng,
  family: GincFamily,
  k: number,
  exampleLength: number,
  index: number,
): GincPrompt {
  const L = exampleLength, nSlots = family.nSlots;
  if (!Number.isInteger(L) || L < 2) throw new Error(`ginc: example length must be ≥ 2`);
  const r = rng.fork(`prompt-k${k}-L${L}-${index}`);
  const hmmIndex = r.int(family.idHmms.length);
  const hmm = family.idHmms[hmmIndex];
  const startSlot = 1 + r.int(nSlots - 1);
  const tokens = new Int32Array(k * (L + 1) + L - 1);
  for (let j = 0; j <= k; j++) {
    const value = r.int(family.nValues);
    const ex = runHmm(r, family, hmm, L, value * nSlots + startSlot).tokens;
    // The test example keeps only its first L − 1 tokens; its L-th is replaced by the label.
    tokens.set(j < k ? ex : ex.subarray(0, L - 1), j * (L + 1));
    if (j < k) tokens[j * (L + 1) + L] = GINC_DELIMITER;
  }
  const start = new Float64Array(family.nStates);
  for (let v = 0; v < family.nValues; v++) start[v * nSlots + startSlot] = 1 / family.nValues;
  const x = tokens.subarray(k * (L + 1));
  const probs = nextTokenDistribution(family, hmm, x, start);
  if (probs === null) throw new Error(`ginc: sampled test input impossible under its HMM`);
  return { tokens, label: argmax(probs), k, hmm: hmmIndex, startSlot };
}

/** Park et al.'s evaluation: 2,500 prompts for each k of 0–64 examples, length 10. */
export const GINC_PAPER_EVAL = {
  ks: [0, 1, 2, 4, 8, 16, 32, 64],
  promptsPerK: 2500,
  exampleLength: 10,
  trainDocs: 1000,
  trainDocLength: 10240,
  validDocs: 100,
  validDocLength: 1024,
} as const;
