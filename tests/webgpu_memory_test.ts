/** The WebGPU pool: 100 training-like steps keep allocated device memory flat. */
import assert from "node:assert/strict";
import { backward, zeroGrad } from "../core/autograd.ts";
import { randn } from "../core/create.ts";
import { webgpuBackend } from "../core/device_select.ts";
import * as op from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { liveTensorCount, memory, tidy } from "../core/tensor.ts";
import { Adam } from "../nn/optim.ts";

const gpu = await webgpuBackend();

Deno.test({
  name: "webgpu memory: 100 training steps keep allocated bytes and live tensors flat",
  ignore: !gpu,
  fn: async () => {
    const be = gpu!;
    const rng = new Rng(3);
    const w1 = randn([17, 33], rng, 0.3, be), w2 = randn([33, 1], rng, 0.3, be);
    for (const w of [w1, w2]) w.requiresGrad = true;
    const opt = new Adam([["w1", w1], ["w2", w2]], { lr: 1e-2 });
    const step = () => {
      const loss = tidy(() => {
        const x = randn([64, 17], rng, 1, be);
        const y = op.matmul(op.gelu(op.matmul(x, w1)), w2);
        const l = op.mseLoss(y, op.sum(x, 1, true));
        backward(l);
        opt.step();
        zeroGrad([w1, w2]);
        return l;
      });
      be.flush();
      return loss;
    };
    const first: number[] = [];
    for (let i = 0; i < 10; i++) {
      const l = step();
      if (i === 0) first.push(await l.item());
      l.dispose();
    }
    await be.rt.sync();
    const base = memory(be), live = liveTensorCount();
    let last = 0;
    for (let i = 0; i < 100; i++) {
      const l = step();
      if (i === 99) last = await l.item();
      l.dispose();
    }
    await be.rt.sync();
    const after = memory(be);
    assert.equal(after.bytesAllocated, base.bytesAllocated, "pool grew over 100 steps");
    assert.equal(after.bytesInUse, base.bytesInUse, "bytes in use grew over 100 steps");
    assert.equal(liveTensorCount(), live);
    assert.ok(last < first[0], `training made progress: ${first[0]} → ${last}`);
    opt.dispose();
    w1.dispose();
    w2.dispose();
  },
});
