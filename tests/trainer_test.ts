/** The trainer: metrics and checkpoints, exact resume, and a clear stop on a non-finite loss. */
import assert from "node:assert/strict";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { makeModel } from "../nn/mod.ts";
import { constantSchedule } from "../nn/optim.ts";
import { SparseParity } from "../tasks/parity.ts";
import type { IclBatch, Task } from "../tasks/task.ts";
import { NonFiniteLossError, train, type TrainOptions } from "../experiments/lib/trainer.ts";

const be = cpuBackend();
const task = new SparseParity({ nDims: 4, nPoints: 6, k: 1 });
const cfg = { arch: "mamba" as const, dModel: 8, nLayer: 1, tokenDim: 4, outDim: 1 };
const opts = (runDir: string, steps: number, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  steps,
  batch: 4,
  lr: 1e-2,
  schedule: constantSchedule(1e-2),
  clip: 10,
  seed: 3,
  logEvery: 2,
  runDir,
  checkpointEvery: 4,
  quiet: true,
  ...extra,
});

Deno.test("trainer: a run resumed from its checkpoint ends exactly where a straight run ends", async () => {
  const a = await Deno.makeTempDir(), b = await Deno.makeTempDir();
  const straight = makeModel(cfg, { seed: 1, backend: be });
  const r1 = await train(straight, task, be, opts(a, 8));
  const half = makeModel(cfg, { seed: 1, backend: be });
  await train(half, task, be, opts(b, 4));
  half.dispose();
  const resumed = makeModel(cfg, { seed: 99, backend: be }); // weights come from the checkpoint
  const r2 = await train(resumed, task, be, opts(b, 8, { resume: true }));
  assert.equal(r2.steps, 8);
  assert.deepEqual(r2.losses.at(-1), r1.losses.at(-1));
  const w1 = await straight.parameters()[0].floats(), w2 = await resumed.parameters()[0].floats();
  assert.deepEqual(w1, w2);
  const lines = (await Deno.readTextFile(`${a}/metrics.jsonl`)).trim().split("\n");
  assert.equal(lines.length, 4); // losses at steps 2, 4, 6, 8
  straight.dispose();
  resumed.dispose();
});

Deno.test("trainer: a NaN loss stops the run with a clear error and keeps the last good checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  let calls = 0;
  const poisoned: Task = {
    ...task,
    name: task.name,
    nDims: task.nDims,
    nPoints: task.nPoints,
    tokenDim: task.tokenDim,
    outDim: task.outDim,
    loss: task.loss,
    metric: task.metric,
    normalizer: task.normalizer,
    sample(rng: Rng, batch: number, o?: object): IclBatch {
      const b = task.sample(rng, batch, o);
      if (++calls > 5) b.tokens[0] = NaN; // steps 6.. produce a NaN loss
      return b;
    },
  };
  const model = makeModel(cfg, { seed: 1, backend: be });
  await assert.rejects(train(model, poisoned, be, opts(dir, 12)), (e: Error) => {
    assert.ok(e instanceof NonFiniteLossError);
    assert.match(e.message, /loss became NaN near step 6/);
    return true;
  });
  const ckpt = await Deno.readFile(`${dir}/checkpoint.safetensors`);
  const header = JSON.parse(
    new TextDecoder().decode(
      ckpt.subarray(8, 8 + Number(new DataView(ckpt.buffer).getBigUint64(0, true))),
    ),
  );
  assert.equal(header.__metadata__.step, "4"); // the checkpoint from before the NaN
  model.dispose();
});
