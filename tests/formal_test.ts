import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { chunkStream, gincDocument, gincPrompt, pretrainingStream } from "../tasks/ginc.ts";
import {
  buildGincFamily,
  GINC_DELIMITER,
  nextTokenDistribution,
  permutationMixture,
} from "../tasks/ginc_hmm.ts";
import { dfaKey, RegBench } from "../tasks/regbench.ts";

function assertRowStochastic(m: Float64Array, n: number, what: string) {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) {
      assert.ok(m[i * n + j] >= 0, `${what}[${i},${j}] negative`);
      s += m[i * n + j];
    }
    assert.ok(Math.abs(s - 1) < 1e-12, `${what} row ${i} sums to ${s}`);
  }
}

Deno.test("ginc: transition, start and value matrices are stochastic; emissions as built", () => {
  const f = buildGincFamily(new Rng(1));
  assert.equal(f.nStates, 100);
  assert.equal(f.hmms.length, 10);
  assert.equal(f.idHmms.length, 5);
  assert.equal(f.oodHmms.length, 5);
  assertRowStochastic(f.valueTrans, 10, "V");
  // The identity bias: every diagonal entry of V is at least the coefficient 0.9.
  for (let i = 0; i < 10; i++) assert.ok(f.valueTrans[i * 10 + i] >= 0.9);
  for (const h of f.hmms) {
    assertRowStochastic(h.trans, 100, "T");
    assertRowStochastic(h.slotTrans, 10, "S");
    assert.ok(Math.abs(h.start.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    // T = V ⊗ S, and the start distribution is close to uniform at temperature 10.
    for (const [i, j] of [[0, 0], [13, 57], [99, 42]]) {
      const expect = f.valueTrans[Math.floor(i / 10) * 10 + Math.floor(j / 10)] *
        h.slotTrans[(i % 10) * 10 + (j % 10)];
      assert.ok(Math.abs(h.trans[i * 100 + j] - expect) < 1e-15);
    }
    for (const p of h.start) assert.ok(p > 0.009 && p < 0.011);
  }
  // Emission rows are one-hot (each state emits one token); slot 0 is the delimiter.
  for (let s = 0; s < 100; s++) {
    if (s % 10 === 0) assert.equal(f.emission[s], GINC_DELIMITER);
    else assert.ok(f.emission[s] >= 1 && f.emission[s] < 100);
  }
  // Concepts differ in their slot matrices; the value matrix is shared.
  assert.notDeepEqual(f.hmms[0].slotTrans, f.hmms[1].slotTrans);
});

Deno.test("ginc: permutation mixture at temperature 0.1 is dominated by one permutation", () => {
  const m = permutationMixture(new Rng(3), 10, 0.1);
  assertRowStochastic(m, 10, "mix");
  let maxes = 0;
  for (let i = 0; i < 10; i++) maxes += Math.max(...m.subarray(i * 10, i * 10 + 10));
  assert.ok(maxes / 10 > 0.4, `mean row max ${maxes / 10}`);
});

Deno.test("ginc: documents are a uniform mixture of the ID concepts and follow their HMM", () => {
  const rng = new Rng(5);
  const f = buildGincFamily(rng.fork("family"), { nSymbols: 30 });
  const counts = new Array(5).fill(0);
  const n = 2000;
  for (let i = 0; i < n; i++) counts[gincDocument(rng, f, i, 2).hmm]++;
  // Each concept's share within 4 standard deviations of 1/5.
  const sd = Math.sqrt(n * 0.2 * 0.8);
  for (const c of counts) assert.ok(Math.abs(c - n / 5) < 4 * sd, `counts ${counts}`);
  const doc = gincDocument(rng, f, 7, 300);
  const hmm = f.idHmms[doc.hmm];
  for (let t = 0; t < 300; t++) {
    assert.equal(doc.tokens[t], f.emission[doc.hidden[t]]);
    if (t > 0) assert.ok(hmm.trans[doc.hidden[t - 1] * 100 + doc.hidden[t]] > 0);
  }
});

Deno.test("ginc: same seed, same data; the stream is documents each closed by a delimiter", () => {
  const a = buildGincFamily(new Rng(9)), b = buildGincFamily(new Rng(9));
  assert.deepEqual(a.emission, b.emission);
  assert.deepEqual(a.hmms[3].trans, b.hmms[3].trans);
  const sa = pretrainingStream(new Rng(2), a, 4, 50), sb = pretrainingStream(new Rng(2), b, 4, 50);
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, pretrainingStream(new Rng(3), a, 4, 50));
  for (let i = 0; i < 4; i++) assert.equal(sa[i * 51 + 50], GINC_DELIMITER);
  // Document i does not depend on how many documents are generated.
  assert.deepEqual(pretrainingStream(new Rng(2), a, 2, 50), sa.subarray(0, 102));
  assert.equal(chunkStream(sa, 64).length, 3);
  assert.deepEqual(gincPrompt(new Rng(4), a, 8, 10, 11), gincPrompt(new Rng(4), b, 8, 10, 11));
});

Deno.test("ginc: prompts have k examples of length 10 with delimiters and a Bayes label", () => {
  const rng = new Rng(12);
  const f = buildGincFamily(rng.fork("family"));
  for (const k of [0, 1, 4, 64]) {
    for (let i = 0; i < 5; i++) {
      const p = gincPrompt(rng, f, k, 10, i);
      assert.equal(p.tokens.length, k * 11 + 9);
      for (let j = 0; j < k; j++) assert.equal(p.tokens[j * 11 + 10], GINC_DELIMITER);
      // Every example starts in the prompt's start slot.
      for (let j = 0; j <= k; j++) {
        const first = p.tokens[j * 11];
        const ok = Array.from({ length: 10 }, (_, v) => f.emission[v * 10 + p.startSlot]);
        assert.ok(ok.includes(first));
      }
      const start = new Float64Array(100);
      for (let v = 0; v < 10; v++) start[v * 10 + p.startSlot] = 0.1;
      const probs = nextTokenDistribution(f, f.idHmms[p.hmm], p.tokens.subarray(k * 11), start)!;
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-9);
      assert.equal(probs[p.label], Math.max(...probs));
    }
  }
});

Deno.test("regbench: automata as the authors draw them; every string accepted", () => {
  const rb = new RegBench();
  assert.equal(rb.vocabSize, 20);
  const rng = new Rng(21);
  for (let i = 0; i < 200; i++) {
    const d = rb.sampleDfa(rng);
    assert.ok(d.nStates >= 2 && d.nStates <= 9);
    assert.equal(d.alphabet.length, d.nStates);
    for (let s = 0; s < d.nStates; s++) {
      const out = d.outgoing[s];
      assert.ok(out.length >= 1 && out.length <= Math.min(5, d.nStates) - 1);
      assert.equal(new Set(out).size, out.length);
      for (const a of out) assert.ok(d.alphabet.includes(a));
    }
    for (let j = 0; j < 5; j++) assert.ok(rb.accepts(d, rb.sampleString(rng, d, 1 + rng.int(49))));
  }
});

Deno.test("regbench: instances are 10–19 accepted strings joined by the separator", () => {
  const rb = new RegBench();
  const { train, test } = rb.dataset(new Rng(4), 60, 20);
  assert.equal(train.length, 60);
  assert.equal(test.length, 20);
  const keys = new Set([...train, ...test].map((x) => dfaKey(x.dfa, rb.nSymbols)));
  assert.equal(keys.size, 80, "train and test automata distinct and disjoint");
  for (const { dfa, tokens } of [...train, ...test]) {
    const strings: number[][] = [[]];
    for (const t of tokens) {
      if (t === rb.separator) strings.push([]);
      else strings[strings.length - 1].push(t);
    }
    assert.ok(strings.length >= 10 && strings.length <= 19, `${strings.length} strings`);
    for (const s of strings) {
      assert.ok(s.length < 50);
      assert.ok(rb.accepts(dfa, s));
    }
  }
  const again = rb.dataset(new Rng(4), 60, 20);
  assert.deepEqual(again.test[7].tokens, test[7].tokens);
});

Deno.test("regbench: greedy accuracy scores a valid continuation 1 and an invalid one 0", () => {
  const rb = new RegBench();
  const rng = new Rng(8);
  const { test } = rb.dataset(rng, 0, 5);
  for (const { dfa, tokens } of test) {
    // The true next tokens are always valid continuations.
    const truth = Array.from(tokens.subarray(1));
    const good = rb.greedyAccuracy(dfa, tokens, truth);
    assert.equal(good.accuracy, 1);
    const symbolTargets = truth.filter((t) => t !== rb.separator).length;
    assert.equal(good.scored, symbolTargets);
    // A symbol outside the automaton's alphabet is never valid, nor is the separator where the
    // string goes on (else always predicting it would score 1).
    const outside = [...Array(rb.nSymbols).keys()].find((a) => !dfa.alphabet.includes(a))!;
    const bad = rb.greedyAccuracy(dfa, tokens, new Array(tokens.length).fill(outside));
    assert.equal(bad.accuracy, 0);
    const sep = rb.greedyAccuracy(dfa, tokens, new Array(tokens.length).fill(rb.separator));
    assert.equal(sep.accuracy, 0);
    // Padding is not scored.
    const padded = Int32Array.from([...tokens, rb.pad, rb.pad]);
    assert.equal(rb.greedyAccuracy(dfa, padded, [...truth, 0, 0, 0]).scored, symbolTargets);
  }
  // Hand-made automaton: 0 -a-> 1, 1 -b-> 0; after "a" only "b" (or the separator) is valid.
  const d = {
    nStates: 2,
    alphabet: [0, 1],
    next: new Int32Array(2 * rb.nSymbols).fill(-1),
    outgoing: [[0], [1]],
  };
  d.next[0 * rb.nSymbols + 0] = 1;
  d.next[1 * rb.nSymbols + 1] = 0;
  // Positions 0 (next "b") and 2 (next "a", a new string) are scored; 1 (next "|") is not.
  const toks = [0, 1, rb.separator, 0];
  const at = (p: number[]) => Array.from(rb.greedyAccuracy(d, toks, p).valid.subarray(0, 3));
  assert.deepEqual(at([1, 0, 0]), [1, NaN, 1]);
  assert.deepEqual(at([0, 0, 1]), [0, NaN, 0]);
  assert.deepEqual(at([rb.separator, 0, rb.separator]), [0, NaN, 0]);
});
