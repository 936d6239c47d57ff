/** Adam/AdamW against a hand-written f64 reference, on-device clipping, and LR schedules. */
import assert from "node:assert/strict";
import { fromArray } from "../core/create.ts";
import { cpuBackend, setBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import type { Tensor } from "../core/tensor.ts";
import {
  Adam,
  AdamW,
  clipGradNorm,
  constantSchedule,
  cosineSchedule,
  globalGradNorm,
  stepSchedule,
} from "../nn/mod.ts";

setBackend(cpuBackend());

function param(data: Float32Array, shape = [data.length], name = ""): Tensor {
  const p = fromArray(data, shape).keep();
  p.requiresGrad = true;
  p.name = name;
  return p;
}

function setGrad(p: Tensor, g: Float32Array): void {
  p.grad?.dispose();
  p.grad = fromArray(g, p.shape).keep();
}

/** PyTorch's Adam (L2 weight decay) / AdamW (decoupled), one element at a time in f64. */
function refAdam(
  p: number[],
  grads: number[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean },
  scales: number[] = grads.map(() => 1),
): number[] {
  const m = p.map(() => 0), v = p.map(() => 0), x = [...p];
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < x.length; i++) {
      let gi = g[i] * scales[s];
      if (o.decoupled) x[i] *= 1 - o.lr * o.wd;
      else gi += o.wd * x[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i] + (1 - o.b2) * gi * gi;
      const mh = m[i] / (1 - o.b1 ** t), vh = v[i] / (1 - o.b2 ** t);
      x[i] -= (o.lr * mh) / (Math.sqrt(vh) + o.eps);
    }
  });
  return x;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

const rng = new Rng(3);
const P0 = rng.fillNormal(new Float32Array(7));
const GRADS = [0, 1, 2].map(() => rng.fillNormal(new Float32Array(7)));

Deno.test("optim: Adam and AdamW follow PyTorch's update rules", async () => {
  const variants: [string, (ps: Tensor[]) => Adam, Parameters<typeof refAdam>[2]][] = [
    ["Adam defaults", (ps) => new Adam(ps, { lr: 0.01 }), {
      lr: 0.01,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      wd: 0,
      decoupled: false,
    }],
    ["Adam L2", (ps) => new Adam(ps, { lr: 0.05, weightDecay: 0.1, beta1: 0.8 }), {
      lr: 0.05,
      b1: 0.8,
      b2: 0.999,
      eps: 1e-8,
      wd: 0.1,
      decoupled: false,
    }],
    ["AdamW", (ps) => new AdamW(ps, { lr: 0.05 }), {
      lr: 0.05,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      wd: 0.01,
      decoupled: true,
    }],
  ];
  for (const [label, make, o] of variants) {
    const p = param(P0.slice(), [7], "w");
    const opt = make([p]);
    for (const g of GRADS) {
      setGrad(p, g);
      opt.step();
    }
    // The kernel rounds m, v and p to f32 each step; 1e-6 covers three such roundings.
    close(await p.floats(), refAdam([...P0], GRADS.map((g) => [...g]), o), 1e-6, label);
    assert.equal(opt.stepCount, 3);
    assert.deepEqual(opt.namedState().map(([n]) => n), ["optim.m.w", "optim.v.w"]);
    opt.dispose();
    p.dispose();
  }
});

Deno.test("optim: parameters without gradients are skipped", async () => {
  const a = param(P0.slice(), [7], "a"), b = param(P0.slice(), [7], "b");
  const opt = new Adam([a, b]);
  setGrad(a, GRADS[0]);
  opt.step();
  assert.deepEqual(await b.floats(), P0);
  assert.equal(opt.stateOf(b), undefined);
  assert.equal(opt.stateOf(a)!.step, 1);
  assert.deepEqual(Object.keys(opt.toJSON().steps), ["a"]);
  opt.dispose();
  [a, b].forEach((t) => t.dispose());
});

Deno.test("optim: clipGradNorm computes PyTorch's factor on the device", async () => {
  const a = param(new Float32Array(3), [3]), b = param(new Float32Array(4), [2, 2]);
  const ga = Float32Array.from([3, -1, 2]), gb = Float32Array.from([0.5, -4, 1, 2]);
  setGrad(a, ga);
  setGrad(b, gb);
  const norm = Math.sqrt([...ga, ...gb].reduce((s, v) => s + v * v, 0)); // √35.25
  const n = globalGradNorm([a, b]);
  assert.ok(Math.abs((await n.item()) - norm) < 1e-5);
  for (const maxNorm of [1, 2.5, 100]) {
    const s = clipGradNorm([a, b], maxNorm);
    assert.deepEqual(s.shape, [1]);
    const want = Math.min(1, maxNorm / (norm + 1e-6));
    assert.ok(Math.abs((await s.item()) - want) < 1e-6, `maxNorm ${maxNorm}`);
    s.dispose();
  }
  // The gradients themselves are untouched.
  assert.deepEqual(await a.grad!.floats(), ga);
  n.dispose();
  [a, b].forEach((t) => t.dispose());
});

Deno.test("optim: Adam applies the clipping factor to the gradients", async () => {
  const p = param(P0.slice(), [7]);
  const opt = new Adam([p], { lr: 0.02 });
  const scales: number[] = [];
  for (const g of GRADS) {
    setGrad(p, g);
    const s = clipGradNorm([p], 1.5);
    scales.push(await s.item());
    opt.step(s);
    s.dispose();
  }
  assert.ok(scales.every((s) => s < 1)); // normal(0,1) grads of 7 entries: norm > 1.5
  const want = refAdam([...P0], GRADS.map((g) => [...g]), {
    lr: 0.02,
    b1: 0.9,
    b2: 0.999,
    eps: 1e-8,
    wd: 0,
    decoupled: false,
  }, scales);
  close(await p.floats(), want, 1e-6, "clipped Adam");
  opt.dispose();
  p.dispose();
});

Deno.test("optim: schedules", () => {
  assert.equal(constantSchedule(3e-4)(12345), 3e-4);
  const cos = cosineSchedule({ lr: 1, totalSteps: 100 });
  assert.equal(cos(0), 1);
  assert.ok(Math.abs(cos(50) - 0.5) < 1e-12);
  assert.ok(Math.abs(cos(25) - (1 + Math.cos(Math.PI / 4)) / 2) < 1e-12);
  assert.ok(Math.abs(cos(100)) < 1e-12);
  assert.ok(Math.abs(cos(150)) < 1e-12); // stays at minLr past the end
  const w = cosineSchedule({ lr: 2, totalSteps: 110, warmupSteps: 10, minLr: 0.2 });
  assert.ok(Math.abs(w(0) - 0.2) < 1e-12);
  assert.ok(Math.abs(w(4) - 1) < 1e-12);
  assert.equal(w(10), 2);
  assert.ok(Math.abs(w(60) - 1.1) < 1e-12);
  assert.ok(Math.abs(w(110) - 0.2) < 1e-12);
  const st = stepSchedule({ lr: 1, stepSize: 100, gamma: 0.9 });
  assert.equal(st(99), 1);
  assert.ok(Math.abs(st(250) - 0.81) < 1e-12);
  assert.throws(() => cosineSchedule({ lr: 1, totalSteps: 5, warmupSteps: 5 }), /totalSteps/);
});

Deno.test("optim: bad hyper-parameters are rejected", () => {
  assert.throws(() => new Adam([], { lr: -1 }), /lr/);
  assert.throws(() => new Adam([], { beta2: 1 }), /beta2/);
  const p = param(P0.slice());
  assert.throws(() => new Adam([["x", p], ["x", p]]), /twice/);
  p.dispose();
});
