/**
 * RegBench (Akyürek et al. 2024, "In-Context Language Learning: Architectures and
 * Algorithms"): random probabilistic finite automata with uniform transition probabilities,
 * several strings from one automaton per problem instance, as the authors' generator
 * (seq_icl, `ICLDFADataModule`, config `icl_dfa.yaml`) makes them:
 *
 * - vocabulary of 20: 18 symbols, the separator "|" and the padding token;
 * - an automaton has n ∈ [2, maxStates) states (maxStates 10), an alphabet of n distinct symbols,
 *   and from every state 1 to maxOutgoing − 1 edges (maxOutgoing min(5, n)) with distinct symbols
 *   to uniformly drawn states (self-loops and repeats allowed); state 0 starts, every state accepts;
 * - a string of length ℓ ∈ [0, maxLen) (maxLen 50) walks from state 0 taking a uniformly random
 *   outgoing edge each step;
 * - an instance is m ∈ [minStrings, maxStrings) strings (10 to 19) joined by the separator,
 *   truncated to `maxSeqLen`; train and test automata are distinct (deduplicated) and disjoint,
 *   5,000 train and 500 test instances, one instance per automaton.
 *
 * Departures: the authors draw the alphabet from all 20 ids (two of which are the special
 * tokens, which their tokenizer cannot encode); here it is drawn from the 18 symbols.
 */
import type { Rng } from "../core/rng.ts";

/** Options of the RegBench generator; the defaults are the authors' config. */
export interface RegBenchOptions {
  /** Symbols an automaton can use (default 18; the vocabulary adds separator and padding). */
  nSymbols?: number;
  /** States are drawn from [2, maxStates) (default 10). */
  maxStates?: number;
  /** Edges per state are drawn from [1, min(maxOutgoing, n)) (default 5). */
  maxOutgoing?: number;
  /** String lengths are drawn from [0, maxLen) (default 50). */
  maxLen?: number;
  /** Strings per instance are drawn from [minStrings, maxStrings) (default 10, 20). */
  minStrings?: number;
  maxStrings?: number;
  /** Instances longer than this are truncated (default 4096). */
  maxSeqLen?: number;
}

/** A deterministic automaton; with uniform edge choice it is the PFA that generates strings. */
export interface Dfa {
  nStates: number;
  /** Symbols it uses, ascending. */
  alphabet: number[];
  /** [nStates, nSymbols]: next state, or −1 where the symbol has no edge. */
  next: Int32Array;
  /** [nStates][]: the symbols with an edge, in drawing order (the uniform choice set). */
  outgoing: number[][];
}

/** Resolved RegBench configuration with the special token ids. */
export class RegBench {
  readonly nSymbols: number;
  readonly maxStates: number;
  readonly maxOutgoing: number;
  readonly maxLen: number;
  readonly minStrings: number;
  readonly maxStrings: number;
  readonly maxSeqLen: number;
  /** Separator "|" between the strings of an instance. */
  readonly separator: number;
  /** Padding after the end of an instance (never scored). */
  readonly pad: number;
  readonly vocabSize: number;

  constructor(opts: RegBenchOptions = {}) {
    this.nSymbols = opts.nSymbols ?? 18;
    this.maxStates = opts.maxStates ?? 10;
    this.maxOutgoing = opts.maxOutgoing ?? 5;
    this.maxLen = opts.maxLen ?? 50;
    this.minStrings = opts.minStrings ?? 10;
    this.maxStrings = opts.maxStrings ?? 20;
    this.maxSeqLen = opts.maxSeqLen ?? 4096;
    if (this.maxStates < 3 || this.maxStates - 1 > this.nSymbols) {
      throw new Error(`regbench: need 3 ≤ maxStates ≤ nSymbols + 1`);
    }
    if (this.maxOutgoing < 2 || this.maxLen < 1 || this.minStrings >= this.maxStrings) {
      throw new Error(`regbench: maxOutgoing ≥ 2, maxLen ≥ 1, minStrings < maxStrings`);
    }
    this.separator = this.nSymbols;
    this.pad = this.nSymbols + 1;
    this.vocabSize = this.nSymbols + 2;
  }

  /** A random automaton, as the authors' RandomDFASampler draws one. */
  sampleDfa(rng: Rng): Dfa {
    const n = 2 + rng.int(this.maxStates - 2);
    const alphabet = rng.choose(this.nSymbols, n);
    const maxOut = Math.min(this.maxOutgoing, n);
    const next = new Int32Array(n * this.nSymbols).fill(-1);
    const outgoing: number[][] = [];
    for (let s = 0; s < n; s++) {
      const m = 1 + rng.int(maxOut - 1);
      const symbols = rng.choose(n, m).map((i) => alphabet[i]);
      for (const a of symbols) next[s * this.nSymbols + a] = rng.int(n);
      outgoing.push(symbols);
    }
    return { nStates: n, alphabet: alphabet.sort((a, b) => a - b), next, outgoing };
  }

  /** A string of `length` symbols walked from state 0 with uniform edge choice. */
  sampleString(rng: Rng, dfa: Dfa, length: number): number[] {
    const out: number[] = [];
    let s = 0;
    for (let t = 0; t < length; t++) {
      const edges = dfa.outgoing[s];
      const a = edges[rng.int(edges.length)];
      out.push(a);
      s = dfa.next[s * this.nSymbols + a];
    }
    return out;
  }

  /** Whether every symbol of the string has an edge from state 0 (every state accepts). */
  accepts(dfa: Dfa, symbols: ArrayLike<number>): boolean {
    let s = 0;
    for (let t = 0; t < symbols.length; t++) {
      const a = symbols[t];
      if (a < 0 || a >= this.nSymbols) return false;
      s = dfa.next[s * this.nSymbols + a];
      if (s < 0) return false;
    }
    return true;
  }

  /** One problem instance: m strings of one automaton joined by the separator. */
  sampleInstance(rng: Rng, dfa: Dfa): Int32Array {
    const m = this.minStrings + rng.int(this.maxStrings - this.minStrings);
    const tokens: number[] = [];
    for (let i = 0; i < m; i++) {
      if (i > 0) tokens.push(this.separator);
      tokens.push(...this.sampleString(rng, dfa, rng.int(this.maxLen)));
    }
    return Int32Array.from(tokens.slice(0, this.maxSeqLen));
  }

  /**
   * Distinct automata split into train and test, one instance each. Automata are drawn until
   * nTrain + nTest distinct ones exist (at most 10 × as many draws, as the authors allow).
   */
  dataset(rng: Rng, nTrain: number, nTest: number): RegBenchSplit {
    const seen = new Set<string>();
    const dfas: Dfa[] = [];
    const dr = rng.fork("automata");
    for (let i = 0; i < 10 * (nTrain + nTest) && dfas.length < nTrain + nTest; i++) {
      const d = this.sampleDfa(dr);
      const key = dfaKey(d, this.nSymbols);
      if (!seen.has(key)) {
        seen.add(key);
        dfas.push(d);
      }
    }
    if (dfas.length < nTrain + nTest) {
      throw new Error(`regbench: only ${dfas.length} distinct automata for ${nTrain + nTest}`);
    }
    const make = (ds: Dfa[], name: string) =>
      ds.map((dfa, i) => ({ dfa, tokens: this.sampleInstance(rng.fork(`${name}-${i}`), dfa) }));
    return {
      train: make(dfas.slice(0, nTrain), "train"),
      test: make(dfas.slice(nTrain), "test"),
    };
  }

  /**
   * Greedy-decoding accuracy of one instance: `preds[t]` is the model's argmax after reading
   * tokens[0..t]; it is valid if the automaton, in the state reached by the current string so far,
   * has an edge for it. As in the authors' analysis code (which splits the instance at the
   * separators and checks each string's prefix plus the prediction), only positions whose true
   * next token is a symbol are scored, and a predicted separator or padding there is invalid
   * (otherwise always predicting the separator would score 1). Returns per-position validity
   * (1/0, NaN where unscored) and the mean over scored positions.
   */
  greedyAccuracy(dfa: Dfa, tokens: ArrayLike<number>, preds: ArrayLike<number>): GreedyScore {
    const valid = new Float64Array(tokens.length).fill(NaN);
    let s = 0, hit = 0, scored = 0;
    for (let t = 0; t + 1 < tokens.length; t++) {
      const tok = tokens[t];
      if (tok === this.pad) break;
      s = tok === this.separator ? 0 : dfa.next[s * this.nSymbols + tok];
      if (s < 0) throw new Error(`regbench: the input itself leaves the automaton at ${t}`);
      const target = tokens[t + 1];
      if (target === this.separator || target === this.pad) continue;
      const p = preds[t];
      const ok = p >= 0 && p < this.nSymbols && dfa.next[s * this.nSymbols + p] >= 0;
      valid[t] = ok ? 1 : 0;
      hit += valid[t];
      scored++;
    }
    return { valid, accuracy: scored > 0 ? hit / scored : NaN, scored };
  }
}

/** Per-position validity and mean of one instance. */
export interface GreedyScore {
  valid: Float64Array;
  accuracy: number;
  scored: number;
}

/** Train and test instances with their automata. */
export interface RegBenchSplit {
  train: { dfa: Dfa; tokens: Int32Array }[];
  test: { dfa: Dfa; tokens: Int32Array }[];
}

/** Identity of an automaton's transition table (the authors deduplicate by hashing it). */
export function dfaKey(d: Dfa, nSymbols: number): string {
  const parts: string[] = [];
  for (let s = 0; s < d.nStates; s++) {
    const row: string[] = [];
    for (let a = 0; a < nSymbols; a++) {
      const n = d.next[s * nSymbols + a];
      if (n >= 0) row.push(`${a}:${n}`);
    }
    parts.push(row.join(","));
  }
  return `${d.nStates}|${parts.join(";")}`;
}
