import assert from "node:assert/strict";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { argmaxRows, LstmLm } from "../nn/mod.ts";
import {
  gincEvalPrompts,
  gincIclAccuracy,
  meanInterval,
  padSequences,
  regbenchAccuracy,
} from "../tasks/formal_eval.ts";
import { buildGincFamily } from "../tasks/ginc_hmm.ts";
import { RegBench } from "../tasks/regbench.ts";

Deno.test("formal eval: padding, intervals, GINC accuracy from labels", () => {
  const p = padSequences([[1, 2, 3], [4]], 9);
  assert.deepEqual(Array.from(p.ids), [1, 2, 3, 4, 9, 9]);
  assert.equal(p.length, 3);
  assert.throws(() => padSequences([[1, 2, 3]], 0, 2));
  const iv = meanInterval(Float64Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 1 : 0)));
  assert.equal(iv.mean, 0.25);
  assert.ok(iv.lo < 0.25 && iv.hi > 0.25 && iv.hi - iv.lo < 0.1);
  const family = buildGincFamily(new Rng(1));
  const prompts = gincEvalPrompts(new Rng(2), family, 4, 50, 10);
  assert.equal(gincIclAccuracy(prompts.map((q) => q.label), prompts).mean, 1);
  assert.equal(gincIclAccuracy(prompts.map((q) => (q.label + 1) % 100), prompts).mean, 0);
});

Deno.test("formal eval: RegBench accuracy is 1 for true continuations, token and instance", () => {
  const rb = new RegBench();
  const { test } = rb.dataset(new Rng(3), 0, 6);
  const truth = test.map((x) => Array.from(x.tokens.subarray(1)));
  const acc = regbenchAccuracy(rb, test, truth);
  assert.equal(acc.token, 1);
  assert.equal(acc.perInstance.mean, 1);
  assert.equal(acc.perInstance.n, 6);
});

Deno.test("formal eval: an untrained LSTM's GINC predictions go through the whole path", async () => {
  const be = cpuBackend();
  const family = buildGincFamily(new Rng(1));
  const prompts = gincEvalPrompts(new Rng(2), family, 2, 6, 10);
  const { ids, batch, length } = padSequences(prompts.map((q) => q.tokens), 0);
  const m = new LstmLm({ vocabSize: 100, embedDim: 8, hiddenDim: 8, nLayers: 1 }, {
    seed: 1,
    backend: be,
  });
  const logits = await tidy(() => m.forwardIds(ids, batch, length)).floats();
  const all = argmaxRows(logits, 100);
  const last = Int32Array.from({ length: batch }, (_, i) => all[i * length + length - 1]);
  const acc = gincIclAccuracy(last, prompts);
  assert.ok(acc.mean >= 0 && acc.mean <= 1 && acc.n === 6);
  m.dispose();
});
