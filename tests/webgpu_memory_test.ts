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

Deno.test("memory: backward frees intermediate gradients; release frees the graph too", () => {
  const rng = new Rng(5);
  const w = randn([8, 8], rng, 0.3);
  w.requiresGrad = true;
  const run = (release: boolean) =>
    tidy(() => {
      let h = randn([4, 8], rng);
      for (let i = 0; i < 6; i++) h = op.tanh(op.matmul(h, w)); // 12 intermediates
      const l = op.sum(h);
      const before = liveTensorCount();
      backward(l, undefined, { release });
      const after = liveTensorCount();
      zeroGrad([w]);
      return before - after;
    });
  // Without release, the backward leaves behind only w.grad (+1): every intermediate gradient
  // (13 of them, their summed operands, the rules' own temporaries) is gone. With release, the
  // 12 intermediates too.
  const kept = run(false), released = run(true);
  assert.equal(kept, -1, `live tensors grew by ${-kept} in backward`);
  assert.equal(released - kept, 12, `release freed ${released - kept} intermediates`);
});

Deno.test({
  name: "webgpu memory: buffers are reused within a step (allocated stays near peak in use)",
  ignore: !gpu,
  fn: async () => {
    const be = gpu!;
    const rng = new Rng(6);
    const ws = Array.from({ length: 4 }, () => randn([256, 256], rng, 0.05, be));
    for (const w of ws) w.requiresGrad = true;
    await be.rt.sync();
    be.rt.trim();
    be.rt.resetPeaks();
    const base = be.rt.bytesAllocated;
    const l = tidy(() => {
      let h = randn([512, 256], rng, 1, be);
      for (let i = 0; i < 8; i++) h = op.gelu(op.matmul(h, ws[i % 4]));
      const l = op.sum(h);
      backward(l, undefined, { release: true });
      return l;
    });
    await l.item();
    l.dispose();
    zeroGrad(ws);
    const inUse = be.rt.peakInUse, allocated = be.rt.peakAllocated - base;
    // Every buffer released during the step served a later kernel of the same step: without
    // that, allocation was the sum of all of them (about 3× the peak in use here).
    assert.ok(allocated <= 1.3 * inUse, `allocated ${allocated} B for ${inUse} B in use`);
  },
});
