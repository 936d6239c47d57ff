/**
 * The fused LSTM cell (core/ops/fused.ts `lstmCell`): central differences through its
 * hand-written backward with and without a previous state, a layer built on it equal to the
 * composed one (outputs and every weight's gradient), and the WebGPU kernels against the CPU
 * reference in both kernel families on odd sizes.
 */
import assert from "node:assert/strict";
import { backward } from "../core/autograd.ts";
import { lstmCellCpu, lstmCellGradCpu } from "../core/cpu/lstm.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend } from "../core/device_select.ts";
import { lstmCell } from "../core/ops/fused.ts";
import { mul, sum } from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { lstmCellGpu, lstmCellGradGpu } from "../core/webgpu/kernels/lstm.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import { Init } from "../nn/init.ts";
import { Lstm, lstmLayerSteps, lstmLayerStepsComposed, stackSteps, timeSteps } from "../nn/lstm.ts";
import { gpuTests } from "./gpu_runtimes.ts";
import { gradCheck, randData } from "./grad_util.ts";

Deno.test("lstm cell: central differences through the fused backward, with and without prev", () => {
  const [B, H] = [3, 5];
  const gates = { shape: [B, 4 * H], data: randData(B * 4 * H, 1, 1.5) };
  const prev = { shape: [B, 2 * H], data: randData(B * 2 * H, 2) };
  gradCheck("lstmCell", (g, p) => lstmCell(g, p), [gates, prev]);
  gradCheck("lstmCell, zero state", (g) => lstmCell(g, null), [gates]);
  // Two steps chained through the state, as a layer chains them (c read from hc).
  gradCheck("lstmCell ×2", (g1, g2) => lstmCell(g2, lstmCell(g1, null)), [
    gates,
    { shape: [B, 4 * H], data: randData(B * 4 * H, 3, 1.5) },
  ]);
});

Deno.test("lstm cell: a layer on the fused cell equals the composed layer, values and gradients", async () => {
  const be = cpuBackend();
  const [B, T, N, H] = [3, 6, 5, 7];
  const m = new Lstm(new Init(new Rng(4), be), N, H, 1);
  const x = randData(B * T * N, 5), r = randData(B * T * H, 6);
  const run = async (layer: typeof lstmLayerSteps) => {
    const y = tidy(() => {
      const out = stackSteps(layer(timeSteps(fromArray(x, [B, T, N], be)), ...m.layers[0]));
      backward(sum(mul(out, fromArray(r, out.shape, be))));
      return out;
    });
    const out = await y.floats();
    y.dispose();
    const grads: Float32Array[] = [];
    for (const p of m.parameters()) {
      grads.push(await p.grad!.floats());
      p.grad!.dispose();
      p.grad = null;
    }
    return { out, grads };
  };
  const fused = await run(lstmLayerSteps), composed = await run(lstmLayerStepsComposed);
  const near = (a: Float32Array, b: Float32Array, what: string) =>
    a.forEach((v, i) =>
      assert.ok(Math.abs(v - b[i]) <= 1e-6 + 1e-5 * Math.abs(b[i]), `${what}[${i}]`)
    );
  near(fused.out, composed.out, "h");
  fused.grads.forEach((g, i) => near(g, composed.grads[i], `grad ${m.namedParameters()[i][0]}`));
  m.dispose();
});

function upload(r: Runtime, a: Float32Array): GpuBuffer {
  const b = r.alloc(Math.max(4, a.byteLength));
  r.write(b, a);
  return b;
}

async function close(r: Runtime, b: GpuBuffer, want: Float32Array, label: string) {
  const got = new Float32Array(await r.read(b, want.length * 4));
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got[i] - want[i]) <= 1e-6 + 1e-5 * Math.abs(want[i]),
      `${label}[${i}]: ${got[i]} vs ${want[i]}`,
    );
  }
}

gpuTests("lstm cell webgpu: forward and backward match the CPU reference", async (r, quick) => {
  // Odd sizes, one row, one unit, and more invocations than one workgroup.
  const cases = quick ? [[3, 7]] : [[3, 7], [1, 1], [5, 33], [2, 130]];
  for (const [B, H] of cases) {
    // Gates up to ±8: saturated sigmoids and tanh as well as the middle.
    const gates = randData(B * 4 * H, 11, 4), prev = randData(B * 2 * H, 12);
    const dhc = randData(B * 2 * H, 13);
    const [gg, pg, dg] = [gates, prev, dhc].map((a) => upload(r, a));
    for (const withPrev of [true, false]) {
      const tag = `[${B}, ${H}]${withPrev ? "" : " zero state"}`;
      const p = withPrev ? prev : null, pb = withPrev ? pg : null;
      const hc = lstmCellGpu(r, gg, pb, B, H);
      await close(r, hc, lstmCellCpu(gates, p, B, H), `hc ${tag}`);
      const g = lstmCellGradGpu(r, gg, pb, dg, B, H);
      const want = lstmCellGradCpu(gates, p, dhc, B, H);
      await close(r, g.dGates, want.dGates, `dGates ${tag}`);
      assert.equal(g.dPrev === null, !withPrev);
      if (g.dPrev) await close(r, g.dPrev, want.dPrev!, `dPrev ${tag}`);
      for (const b of [hc, g.dGates, g.dPrev]) if (b) r.release(b);
    }
    for (const b of [gg, pg, dg]) r.release(b);
  }
});
