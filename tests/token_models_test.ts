import assert from "node:assert/strict";
import { backward, zeroGrad } from "../core/autograd.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { type Tensor, tidy } from "../core/tensor.ts";
import {
  Adam,
  clipGradNorm,
  LstmLm,
  makeModel,
  type ModelConfig,
  nextTokenLoss,
} from "../nn/mod.ts";
import { chunkStream, pretrainingStream } from "../tasks/ginc.ts";
import { buildGincFamily } from "../tasks/ginc_hmm.ts";

const be = cpuBackend();

Deno.test("tokens: the id read-in is the one-hot model, for every architecture", async () => {
  const V = 7, B = 2, T = 5;
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 3) % V);
  const onehot = new Float32Array(B * T * V);
  ids.forEach((v, i) => (onehot[i * V + v] = 1));
  const base = { tokenDim: V, outDim: V, dModel: 8, nLayer: 1 };
  const configs: ModelConfig[] = [
    { ...base, arch: "transformer", nHead: 2, maxLen: 8 },
    { ...base, arch: "mamba", dState: 4 },
    { ...base, arch: "s4", dState: 4 },
    { ...base, arch: "s4mamba", dState: 4 },
    { ...base, arch: "mambaformer", nHead: 2, dState: 4 },
    { ...base, arch: "hybrid", nHead: 2, dState: 4, maxLen: 8 },
  ];
  for (const cfg of configs) {
    const arch = cfg.arch;
    const m = makeModel(cfg, { seed: 1, backend: be }).eval(); // dropout off: same output twice
    const a = await tidy(() => m.forward(fromArray(onehot, [B, T, V], be))).floats();
    const b = await tidy(() => m.forwardIds(ids, B, T)).floats();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-5, `${arch} [${i}]`);
    m.dispose();
  }
});

Deno.test("tokens: next-token loss skips padding targets and equals -mean log p", async () => {
  const V = 3;
  // logits zero everywhere: every scored position costs log V.
  const logits = fromArray(new Float32Array(2 * 4 * V), [2, 4, V], be);
  const ids = Int32Array.from([0, 1, 2, 2, 1, 0, 2, 2]);
  const l = await nextTokenLoss(logits, ids, 2)!.floats();
  assert.ok(Math.abs(l[0] - Math.log(3)) < 1e-6);
  assert.equal(nextTokenLoss(logits, Int32Array.from([0, 2, 2, 2, 0, 2, 2, 2]), 2), null);
});

/** Trains on fixed GINC blocks; returns the loss of the first and the last step. */
async function trainLoss(
  forward: (ids: Int32Array, b: number, t: number) => Tensor,
  params: [string, Tensor][],
  steps: number,
): Promise<[number, number]> {
  const family = buildGincFamily(new Rng(1), { nSymbols: 20, nValues: 4, nSlots: 4, nHmms: 4 });
  const blocks = chunkStream(pretrainingStream(new Rng(2), family, 4, 255), 32);
  const B = 8, T = 32;
  const ids = new Int32Array(B * T);
  for (let i = 0; i < B; i++) ids.set(blocks[i], i * T);
  const opt = new Adam(params, { lr: 1e-2 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const l = tidy(() => {
      const loss = nextTokenLoss(forward(ids, B, T), ids)!;
      backward(loss);
      opt.step(clipGradNorm(params.map(([, p]) => p), 1));
      zeroGrad(params.map(([, p]) => p));
      return loss;
    });
    losses.push((await l.floats())[0]);
    l.dispose();
  }
  opt.dispose();
  return [losses[0], losses[steps - 1]];
}

Deno.test("tokens: a tiny LSTM and a tiny Mamba learn GINC (loss falls)", async () => {
  const lstm = new LstmLm({ vocabSize: 20, embedDim: 16, hiddenDim: 16, nLayers: 2 }, {
    seed: 3,
    backend: be,
  });
  const [l0, l1] = await trainLoss(
    (i, b, t) => lstm.forwardIds(i, b, t),
    lstm.namedParameters(),
    30,
  );
  assert.ok(l1 < 0.75 * l0, `lstm loss ${l0} → ${l1}`);
  lstm.dispose();
  const mamba = makeModel({ arch: "mamba", tokenDim: 20, outDim: 20, dModel: 16, nLayer: 1 }, {
    seed: 3,
    backend: be,
  });
  const [m0, m1] = await trainLoss(
    (i, b, t) => mamba.forwardIds(i, b, t),
    mamba.namedParameters(),
    30,
  );
  assert.ok(m1 < 0.75 * m0, `mamba loss ${m0} → ${m1}`);
  mamba.dispose();
});
