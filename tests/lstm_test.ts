import assert from "node:assert/strict";
import { backward } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend } from "../core/device_select.ts";
import { mul, sum } from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";
import { Init } from "../nn/init.ts";
import { Lstm, lstmLayer } from "../nn/lstm.ts";
import { gpuRuntimes } from "./gpu_runtimes.ts";
import { gradCheck, randData } from "./grad_util.ts";

const sig = (z: number) => 1 / (1 + Math.exp(-z));

/** The LSTM equations written out in plain numbers, for one layer. */
function referenceLayer(
  x: Float32Array,
  [b, t, n]: number[],
  wIh: Float32Array,
  wHh: Float32Array,
  bIh: Float32Array,
  bHh: Float32Array,
  h: number,
): Float32Array {
  const out = new Float32Array(b * t * h);
  for (let bi = 0; bi < b; bi++) {
    const hs = new Float64Array(h), cs = new Float64Array(h);
    for (let s = 0; s < t; s++) {
      const z = new Float64Array(4 * h);
      for (let r = 0; r < 4 * h; r++) {
        let acc = bIh[r] + bHh[r];
        for (let j = 0; j < n; j++) acc += wIh[r * n + j] * x[(bi * t + s) * n + j];
        for (let j = 0; j < h; j++) acc += wHh[r * h + j] * hs[j];
        z[r] = acc;
      }
      for (let j = 0; j < h; j++) {
        const i = sig(z[j]), f = sig(z[h + j]), g = Math.tanh(z[2 * h + j]), o = sig(z[3 * h + j]);
        cs[j] = f * cs[j] + i * g;
        hs[j] = o * Math.tanh(cs[j]);
        out[(bi * t + s) * h + j] = hs[j];
      }
    }
  }
  return out;
}

Deno.test("lstm: forward equals the LSTM equations (PyTorch gate order i, f, g, o)", async () => {
  const be = cpuBackend();
  const [B, T, N, H] = [2, 5, 3, 4];
  const m = new Lstm(new Init(new Rng(1), be), N, H, 1);
  const x = randData(B * T * N, 2);
  const y = await tidy(() => m.forward(fromArray(x, [B, T, N], be))).floats();
  const [wIh, wHh, bIh, bHh] = await Promise.all(m.layers[0].map((p) => p.floats()));
  const ref = referenceLayer(x, [B, T, N], wIh, wHh, bIh, bHh, H);
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(y[i] - ref[i]) < 1e-5, `y[${i}]`);
  assert.deepEqual(m.namedParameters().map(([n, p]) => [n, p.shape]), [
    ["weight_ih_l0", [16, 3]],
    ["weight_hh_l0", [16, 4]],
    ["bias_ih_l0", [16]],
    ["bias_hh_l0", [16]],
  ]);
  m.dispose();
});

Deno.test("lstm: two-layer gradients match central differences (input and every weight)", () => {
  const [B, T, N, H] = [2, 4, 3, 3];
  const w = (shape: number[], seed: number) => ({
    shape,
    data: randData(shape.reduce((a, b) => a * b), seed, 0.5),
  });
  gradCheck(
    "lstm 2 layers",
    (x, a0, b0, c0, d0, a1, b1, c1, d1) => lstmLayer(lstmLayer(x, a0, b0, c0, d0), a1, b1, c1, d1),
    [
      w([B, T, N], 1),
      w([4 * H, N], 2),
      w([4 * H, H], 3),
      w([4 * H], 4),
      w([4 * H], 5),
      w([4 * H, H], 6),
      w([4 * H, H], 7),
      w([4 * H], 8),
      w([4 * H], 9),
    ],
  );
});

/** Output and parameter gradients of L = Σ y ⊙ R. */
async function run(be: Backend, x: Float32Array, shape: number[], r: Float32Array) {
  const m = new Lstm(new Init(new Rng(3), be), shape[2], 7, 2);
  const y = tidy(() => {
    const out = m.forward(fromArray(x, shape, be));
    backward(sum(mul(out, fromArray(r, out.shape, be))));
    return out;
  });
  const out = await y.floats();
  y.dispose();
  const grads = [];
  for (const p of m.parameters()) grads.push(await p.grad!.floats());
  m.dispose();
  return { out, grads };
}

Deno.test({
  name: "lstm/webgpu: forward and gradients match the CPU on an odd shape",
  ignore: gpuRuntimes().length === 0,
  fn: async () => {
    const shape = [3, 5, 5];
    const x = randData(3 * 5 * 5, 4), r = randData(3 * 5 * 7, 5);
    const c = await run(cpuBackend(), x, shape, r);
    const g = await run(new WebGpuBackend(gpuRuntimes()[0][1]), x, shape, r);
    const close = (a: Float32Array, b: Float32Array, what: string) => {
      const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let i = 0; i < a.length; i++) {
        assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 + 1e-3 * scale, `${what}[${i}]: ${a[i]} ${b[i]}`);
      }
    };
    close(g.out, c.out, "forward");
    c.grads.forEach((gc, i) => close(g.grads[i], gc, `grad ${i}`));
  },
});
