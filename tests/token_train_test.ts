import assert from "node:assert/strict";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { cosineSchedule } from "../nn/optim.ts";
import {
  makeTokenModel,
  meanTokenLoss,
  predictIds,
  TOKEN_ARCHS,
  trainTokens,
} from "../experiments/lib/token_train.ts";
import { chunkStream, pretrainingStream } from "../tasks/ginc.ts";
import { buildGincFamily } from "../tasks/ginc_hmm.ts";

const be = cpuBackend();
const size = { vocab: 20, width: 16, layers: 1, maxLen: 32, nHead: 2, dState: 4 };

Deno.test("token train: every architecture builds as a token model and gives [B, T, V]", () => {
  for (const arch of TOKEN_ARCHS) {
    const m = makeTokenModel(arch, size, 1, be);
    const shape = tidy(() => m.forwardIds(new Int32Array(2 * 5).fill(3), 2, 5).shape);
    assert.deepEqual(shape, [2, 5, 20], arch);
    m.dispose();
  }
});

Deno.test("token train: the loop lowers the GINC loss of a tiny LSTM on fresh blocks", async () => {
  const family = buildGincFamily(new Rng(1), { nSymbols: 20, nValues: 4, nSlots: 4, nHmms: 4 });
  const blocks = chunkStream(pretrainingStream(new Rng(2), family, 40, 511), 32);
  const valid = chunkStream(pretrainingStream(new Rng(3), family, 4, 255), 32);
  const B = 8, T = 32;
  const batchOf = (bs: Int32Array[], start: number) => {
    const ids = new Int32Array(B * T);
    for (let i = 0; i < B; i++) ids.set(bs[(start + i) % bs.length], i * T);
    return { ids, batch: B, length: T };
  };
  const m = makeTokenModel("lstm", size, 3, be);
  const before = await meanTokenLoss(m, [batchOf(valid, 0)]);
  const r = await trainTokens(m, (_rng, step) => batchOf(blocks, step * B), be, {
    steps: 60,
    seed: 4,
    quiet: true,
    schedule: cosineSchedule({ lr: 1e-2, totalSteps: 60, warmupSteps: 5 }),
    clip: 1,
    logEvery: 20,
  });
  assert.deepEqual(r.losses.map(([s]) => s), [20, 40, 60]);
  const after = await meanTokenLoss(m, [batchOf(valid, 0)]);
  assert.ok(after < 0.8 * before, `valid loss ${before} → ${after}`);
  const preds = await predictIds(m, batchOf(valid, 0));
  assert.equal(preds.length, B * T);
  m.dispose();
});
