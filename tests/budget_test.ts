/**
 * The memory estimate of experiments/lib/budget.ts: its parameter count against the built
 * models, its activation count against what a CPU forward keeps, and the verdicts against
 * made-up devices.
 */
import assert from "node:assert/strict";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { SparseParity } from "../tasks/parity.ts";
import { batchLosses } from "../experiments/lib/icl.ts";
import { makeModel } from "../nn/models.ts";
import { ARCH_NAMES, modelConfig } from "../experiments/lib/archs.ts";
import { estimateTraining, overBudget } from "../experiments/lib/budget.ts";

const io = { tokenDim: 5, outDim: 1 };

Deno.test("budget: the parameter estimate is within 5% of every built model", () => {
  const backend = cpuBackend();
  for (const arch of ARCH_NAMES) {
    for (const [width, layers] of [[32, 2], [64, 1]]) {
      const cfg = modelConfig(arch, { width, layers, heads: 4 }, io, 40);
      const model = makeModel(cfg, { backend });
      const real = model.numParams();
      const est = estimateTraining(cfg, 40, 8).params;
      assert.ok(
        Math.abs(est - real) <= 0.05 * real,
        `${arch} ${width}x${layers}: estimated ${est}, built ${real}`,
      );
      for (const p of model.parameters()) p.dispose();
    }
  }
});

Deno.test("budget: verdicts name the limit that is exceeded", () => {
  const cfg = (width: number) => modelConfig("transformer", { width, layers: 1, heads: 4 }, io, 80);
  const small = estimateTraining(cfg(64), 80, 32);
  const huge = estimateTraining(cfg(16384), 80, 32);
  // 12·E² weights per GPT-2 block: 16384 wide is 3.2 billion parameters.
  assert.ok(huge.params > 3.2e9 && huge.params < 3.3e9, `${huge.params}`);
  assert.equal(huge.stateBytes, 16 * huge.params);
  assert.equal(huge.largestTensorBytes, 4 * 4 * 16384 * 16384);
  const gpu = {
    maxTensorBytes: 128 * 2 ** 20,
    maxBufferBytes: 2 ** 31,
    totalBytes: null,
    what: "x",
  };
  const ram = { maxTensorBytes: null, maxBufferBytes: null, totalBytes: 8 * 2 ** 30, what: "y" };
  assert.equal(overBudget(small, gpu), null);
  assert.equal(overBudget(small, ram), null);
  assert.match(overBudget(huge, gpu)!, /largest tensor needs 4\.0 GiB, more than the 128 MiB/);
  assert.match(overBudget(huge, ram)!, /needs about 5\d\.\d GiB .* more than the 8\.0 GiB of y/);
  // Per-buffer: all parameters share one allocation (the optimizer packs them).
  const wide = estimateTraining(cfg(4096), 80, 1);
  const packed = { maxTensorBytes: 2 ** 31, maxBufferBytes: 2 ** 29, totalBytes: null, what: "z" };
  assert.match(
    overBudget(wide, packed)!,
    /201\.\dM parameters need 7\d\d MiB in one allocation, more than the 512 MiB/,
  );
});

Deno.test("budget: the activation estimate is a little under what a forward keeps on the CPU", () => {
  // The S4 variants keep more (their Toeplitz kernels), so the estimate is low there: it only
  // has to reject what cannot fit, never what can.
  const be = cpuBackend();
  const task = new SparseParity({ nDims: 4, nPoints: 20, k: 2 });
  const b = task.sample(new Rng(1), 4);
  for (const arch of ["transformer", "mamba", "mambaformer"] as const) {
    const cfg = modelConfig(
      arch,
      { width: 64, layers: 2, heads: 4 },
      { tokenDim: task.tokenDim, outDim: 1 },
      b.seqLen,
    );
    const model = makeModel(cfg, { backend: be });
    const base = be.memory().bytesInUse;
    tidy(() => {
      const { loss } = batchLosses(model, b, task, be, false);
      const kept = be.memory().bytesInUse - base;
      const ratio = estimateTraining(cfg, b.seqLen, 4).activationBytes / kept;
      assert.ok(ratio > 0.7 && ratio <= 1, `${arch}: estimate / kept = ${ratio}`);
      return loss;
    });
    model.dispose();
  }
});
