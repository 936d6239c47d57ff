/**
 * Dispatches per training step, pinned so they cannot creep back: on a real GPU a small step is
 * launch-bound (each dispatch ~5–30 µs of host encoding, serialized), on llvmpipe each costs
 * ~30 µs. Counted with `Runtime.dispatches` on the quick-preset Transformer (d64, 2 blocks,
 * batch 32 × 80 tokens). Skipped without an adapter.
 */
import assert from "node:assert/strict";
import { backward, zeroGrad } from "../core/autograd.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";
import { batchLoss } from "../experiments/lib/icl.ts";
import { makeModel } from "../nn/mod.ts";
import { Adam, clipGradNorm } from "../nn/optim.ts";
import { other, otherBrief, rt } from "./gpu_runtimes.ts";
import type { Runtime } from "../core/webgpu/runtime.ts";
import { quickSetup } from "../bench/train_step.ts";

/** Dispatches of one step (second of two: the first creates the optimizer state). */
async function countStep(nLayer: number, r: Runtime = rt!) {
  const be = new WebGpuBackend(r);
  const { cfg, task, batch } = quickSetup("transformer", nLayer);
  const model = makeModel(cfg, { seed: 0, backend: be });
  const opt = new Adam(model.namedParameters());
  const params = model.parameters();
  const rng = new Rng(0);
  let counts = { total: 0, optimizer: 0 };
  for (let i = 0; i < 2; i++) {
    const b = task.sample(rng, batch);
    const d0 = r.dispatches;
    let d1 = 0;
    const loss = tidy(() => {
      const l = batchLoss(model, b, task, be);
      backward(l);
      d1 = r.dispatches;
      opt.step(clipGradNorm(params, 10));
      zeroGrad(params);
      return l;
    });
    await loss.item();
    loss.dispose();
    counts = { total: r.dispatches - d0, optimizer: r.dispatches - d1 };
  }
  opt.dispose();
  model.dispose();
  return { ...counts, params: params.length };
}

Deno.test({
  name: "dispatches: a quick-preset Transformer step stays within its count",
  ignore: !rt || !other,
  fn: async () => {
    const two = await countStep(2);
    // 323 before multi-tensor Adam and clipping (31 and 136 of them), 161 after, 143 with the
    // heads read straight out of qkv, 127 with bias gradients inside the weight-gradient matmul
    // and LayerNorm's dx and dw/db partials in one dispatch, 116 with the gradients packed.
    assert.ok(two.total <= 116, `quick Transformer step: ${two.total} dispatches`);
    // Clipping (two passes) and Adam (one) over the packed gradients, whatever the number of
    // parameter tensors.
    assert.ok(two.optimizer <= 3, `optimizer: ${two.optimizer}`);
    const four = await countStep(4);
    assert.ok(four.params > two.params);
    assert.ok(four.optimizer <= 3, `optimizer, 4 blocks: ${four.optimizer}`);
    // What a real GPU runs (issue 13's target: at most 100): the GPU family, which reads
    // transposed operands in place and splits k without copies. Counts do not depend on the
    // API, and Mesa's OpenGL llvmpipe took 21 min to compile this step's GPU-family kernels on
    // a cold shader cache (see gpu_runtimes.ts), so that run leaves it to the Vulkan one.
    if (otherBrief) return;
    const gpu = rt!.profile.family === "gpu" ? rt! : other!;
    const g = await countStep(2, gpu);
    assert.ok(g.total <= 95, `quick Transformer step, GPU family: ${g.total} dispatches`);
  },
});
