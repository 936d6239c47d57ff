/**
 * The GINC family of hidden Markov models (Xie et al. 2021, "An Explanation of In-context
 * Learning as Implicit Bayesian Inference"), built the way the authors' generator builds it.
 *
 * A hidden state is an (entity, property) pair, called (value, slot) in their code, indexed
 * value · nSlots + slot. It emits one fixed token, `memory[value][slot]`, the same table for every
 * HMM; slot 0 emits the delimiter token 0 for every value. The concepts differ only in their
 * slot transition matrix and start distribution: the value transition matrix is one matrix shared
 * by the whole family (the authors draw it under a fixed seed), biased towards the identity so the
 * entity changes rarely. Transitions factor: P(v', s' | v, s) = V[v, v'] · S[s, s'].
 *
 * A block transition matrix (S or V) is a softmax-weighted mixture of n random permutation
 * matrices, n the matrix size; a small temperature (0.1) makes one permutation dominate, so the
 * slot sequence is nearly deterministic within a concept.
 */
import type { Rng } from "../core/rng.ts";

/** Parameters of the GINC family; the defaults are Park et al.'s (vocabulary 100). */
export interface GincFamilyOptions {
  /** Vocabulary size, delimiter included (default 100). */
  nSymbols?: number;
  /** Entities, the "values" of the authors' code (default 10). */
  nValues?: number;
  /** Properties, the "slots" (default 10); slot 0 is the delimiter. */
  nSlots?: number;
  /** Concepts in the family (default 10); the first half make up the pre-training mixture. */
  nHmms?: number;
  /** Temperature of the permutation mixture weights (default 0.1). */
  transitionTemp?: number;
  /** Temperature of the start distribution (default 10: nearly uniform). */
  startTemp?: number;
  /** Weight of the identity in the value transition matrix (default 0.9). */
  valueIdentityCoeff?: number;
}

/** The delimiter token: emitted by slot 0 of every entity. */
export const GINC_DELIMITER = 0;

/** One concept: a discrete HMM with deterministic emissions. */
export interface GincHmm {
  nStates: number;
  /** [nStates] initial distribution. */
  start: Float64Array;
  /** [nStates, nStates] row-stochastic, row = current state. */
  trans: Float64Array;
  /** [nSlots, nSlots] the concept's slot transition matrix. */
  slotTrans: Float64Array;
}

/** The whole family: shared emission table and value matrix, one HMM per concept. */
export interface GincFamily {
  nSymbols: number;
  nValues: number;
  nSlots: number;
  nStates: number;
  /** [nStates] the token each hidden state emits. */
  emission: Int32Array;
  /** [nValues, nValues] shared by every concept. */
  valueTrans: Float64Array;
  hmms: GincHmm[];
  /** Concepts of the pre-training mixture (the authors' "ID" HMMs): the first ⌊nHmms/2⌋. */
  idHmms: GincHmm[];
  /** The rest ("OOD" HMMs), kept for completeness. */
  oodHmms: GincHmm[];
}

/** softmax(x / temp), in place. */
function softmaxInPlace(x: Float64Array, temp: number): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i] / temp);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] = Math.exp(x[i] / temp - m);
  for (let i = 0; i < x.length; i++) x[i] /= s;
  return x;
}

/** softmax((u − 0.5) / temp) with u uniform on [0, 1)^n: the authors' random simplex point. */
function randomSoftmax(rng: Rng, n: number, temp: number): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.uniform() - 0.5;
  return softmaxInPlace(x, temp);
}

/** A mixture of n random n×n permutation matrices with softmax weights (row-stochastic). */
export function permutationMixture(rng: Rng, n: number, temp: number): Float64Array {
  const weights = randomSoftmax(rng, n, temp);
  const m = new Float64Array(n * n);
  for (let p = 0; p < n; p++) {
    const perm = rng.choose(n, n);
    for (let i = 0; i < n; i++) m[i * n + perm[i]] += weights[p];
  }
  return m;
}

/** Kronecker product V ⊗ S: state v·nS + s goes to v'·nS + s' with V[v,v']·S[s,s']. */
function kron(v: Float64Array, nV: number, s: Float64Array, nS: number): Float64Array {
  const n = nV * nS;
  const t = new Float64Array(n * n);
  for (let a = 0; a < nV; a++) {
    for (let b = 0; b < nV; b++) {
      const w = v[a * nV + b];
      for (let i = 0; i < nS; i++) {
        for (let j = 0; j < nS; j++) t[(a * nS + i) * n + b * nS + j] = w * s[i * nS + j];
      }
    }
  }
  return t;
}

/** Builds the GINC family from a seed stream. */
export function buildGincFamily(rng: Rng, opts: GincFamilyOptions = {}): GincFamily {
  const nSymbols = opts.nSymbols ?? 100;
  const nValues = opts.nValues ?? 10;
  const nSlots = opts.nSlots ?? 10;
  const nHmms = opts.nHmms ?? 10;
  const transitionTemp = opts.transitionTemp ?? 0.1;
  const startTemp = opts.startTemp ?? 10;
  const vic = opts.valueIdentityCoeff ?? 0.9;
  for (const [k, v] of Object.entries({ nSymbols, nValues, nSlots, nHmms })) {
    if (!Number.isInteger(v) || v < 2) throw new Error(`ginc: ${k} must be an integer ≥ 2`);
  }
  if (!(vic >= 0 && vic <= 1)) throw new Error(`ginc: valueIdentityCoeff must be in [0, 1]`);
  const nStates = nValues * nSlots;

  // Every non-delimiter slot of every entity gets a token in 1..nSymbols-1 (repeats allowed, as
  // the authors draw them); slot 0 is the delimiter for all entities.
  const memoryRng = rng.fork("memory");
  const emission = new Int32Array(nStates);
  for (let v = 0; v < nValues; v++) {
    for (let s = 1; s < nSlots; s++) emission[v * nSlots + s] = 1 + memoryRng.int(nSymbols - 1);
  }

  const valueTrans = permutationMixture(rng.fork("value-transmat"), nValues, transitionTemp);
  for (let i = 0; i < nValues * nValues; i++) valueTrans[i] *= 1 - vic;
  for (let i = 0; i < nValues; i++) valueTrans[i * nValues + i] += vic;

  const hmms: GincHmm[] = [];
  for (let h = 0; h < nHmms; h++) {
    const hr = rng.fork(`hmm-${h}`);
    const start = randomSoftmax(hr, nStates, startTemp);
    const slotTrans = permutationMixture(hr, nSlots, transitionTemp);
    hmms.push({ nStates, start, slotTrans, trans: kron(valueTrans, nValues, slotTrans, nSlots) });
  }
  const nId = Math.floor(nHmms / 2);
  return {
    nSymbols,
    nValues,
    nSlots,
    nStates,
    emission,
    valueTrans,
    hmms,
    idHmms: hmms.slice(0, nId),
    oodHmms: hmms.slice(nId),
  };
}

/** Index drawn from the probability row p[off .. off+n). */
export function sampleRow(rng: Rng, p: Float64Array, off: number, n: number): number {
  const u = rng.uniform();
  let c = 0;
  for (let i = 0; i < n - 1; i++) {
    c += p[off + i];
    if (u < c) return i;
  }
  return n - 1;
}

/**
 * Next-token distribution of an HMM after observing `tokens`, starting from `start` (the
 * forward filter; the smoothed posterior of the last state equals the filtered one, so this is
 * what the authors' predict_proba-based scorer computes). Returns null if the tokens are
 * impossible under the HMM.
 */
export function nextTokenDistribution(
  family: GincFamily,
  hmm: GincHmm,
  tokens: ArrayLike<number>,
  start: Float64Array = hmm.start,
): Float64Array | null {
  const n = family.nStates, e = family.emission, t = hmm.trans;
  let alpha = new Float64Array(n);
  for (let i = 0; i < n; i++) alpha[i] = e[i] === tokens[0] ? start[i] : 0;
  for (let k = 1; k <= tokens.length; k++) {
    let z = 0;
    for (let i = 0; i < n; i++) z += alpha[i];
    if (!(z > 0)) return null;
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const a = alpha[i] / z;
      if (a === 0) continue;
      for (let j = 0; j < n; j++) next[j] += a * t[i * n + j];
    }
    if (k < tokens.length) { for (let j = 0; j < n; j++) if (e[j] !== tokens[k]) next[j] = 0; }
    alpha = next;
  }
  const out = new Float64Array(family.nSymbols);
  for (let j = 0; j < n; j++) out[e[j]] += alpha[j];
  return out;
}

/** First index of the maximum (numpy's argmax tie rule). */
export function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  return best;
}
