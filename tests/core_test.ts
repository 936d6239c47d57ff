/** Values against hand-computed results, RNG reproducibility, memory ownership, bad input. */
import assert from "node:assert/strict";
import { philox4x32, Rng } from "../core/rng.ts";
import { backward, noGrad, zeroGrad } from "../core/autograd.ts";
import { fromArray, fromInts, randn, zeros } from "../core/create.ts";
import { cpuBackend, setBackend } from "../core/device_select.ts";
import * as op from "../core/ops/mod.ts";
import { liveTensorCount, memory, tidy } from "../core/tensor.ts";

setBackend(cpuBackend());

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
  }
};

Deno.test("rng: same seed, same stream; forks and streams differ", () => {
  const a = new Rng(42), b = new Rng(42);
  const xa = Array.from({ length: 10 }, () => a.nextU32());
  const xb = Array.from({ length: 10 }, () => b.nextU32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, Array.from({ length: 10 }, () => new Rng(43).nextU32()));
  assert.notEqual(new Rng(42).fork("init").nextU32(), new Rng(42).fork("data").nextU32());
});

Deno.test("rng: Philox4x32-10 matches the Random123 known-answer vectors", () => {
  const out = new Uint32Array(4);
  const kat: [number[], number, number, number[]][] = [
    [[0, 0, 0, 0], 0, 0, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 0xffffffff, 0xffffffff, [
      0x408f276d,
      0x41c83b0e,
      0xa20bc7c6,
      0x6d5451fd,
    ]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], 0xa4093822, 0x299f31d0, [
      0xd16cfe09,
      0x94fdcceb,
      0x5001e420,
      0x24126ea1,
    ]],
  ];
  for (const [ctr, k0, k1, want] of kat) {
    philox4x32(new Uint32Array(ctr), k0, k1, out);
    assert.deepEqual([...out], want);
  }
});

Deno.test("rng: state round-trips mid-block and mid-normal-pair", () => {
  const r = new Rng(5);
  for (let i = 0; i < 5; i++) r.normal();
  r.nextU32();
  const s = r.state();
  const expected = Array.from({ length: 7 }, () => r.normal());
  const r2 = Rng.fromState(JSON.parse(JSON.stringify(s)));
  close(Array.from({ length: 7 }, () => r2.normal()), expected, 0);
});

Deno.test("rng: uniform and normal moments", () => {
  const r = new Rng(1);
  const n = 20000;
  let s = 0, s2 = 0, u = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
    u += r.uniform();
  }
  // Standard errors: 1/√n ≈ 0.007 for the mean, √(2/n) ≈ 0.01 for the variance.
  assert.ok(Math.abs(s / n) < 0.03);
  assert.ok(Math.abs(s2 / n - 1) < 0.05);
  assert.ok(Math.abs(u / n - 0.5) < 0.01);
});

Deno.test("values: elementwise, broadcasting, reductions, matmul, softmax", async () => {
  const a = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = fromArray([10, 20, 30], [3]);
  close(await op.add(a, b).data(), [11, 22, 33, 14, 25, 36]);
  close(await op.mul(a, fromArray([2, 3], [2, 1])).data(), [2, 4, 6, 12, 15, 18]);
  close(await op.sum(a, 0).data(), [5, 7, 9]);
  close(await op.sum(a, 1, true).data(), [6, 15]);
  close(await op.max(a, 1).data(), [3, 6]);
  close(await op.mean(a).data(), [3.5]);
  close(await op.matmul(a, fromArray([1, 0, 0, 1, 1, 1], [3, 2])).data(), [4, 5, 10, 11]);
  close(await op.transpose(a).data(), [1, 4, 2, 5, 3, 6]);
  close(await op.slice(a, 1, 1, 3).data(), [2, 3, 5, 6]);
  close(await op.concat([a, a], 0).data(), [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  close(await op.gather(a, fromInts([2, 0]), 1).data(), [3, 1, 6, 4]);
  const sm = await op.softmax(fromArray([0, Math.log(3)], [1, 2])).data();
  close(sm, [0.25, 0.75]);
  close(await op.gelu(fromArray([1])).data(), [0.8411919906082768], 1e-6); // HF gelu_new(1)
  close(await op.softplus(fromArray([0, 30])).data(), [Math.LN2, 30]);
  close(await op.bceWithLogits(fromArray([0]), fromArray([1])).data(), [Math.LN2]);
});

Deno.test("autograd: accumulation, shared inputs, noGrad, zeroGrad", async () => {
  const x = fromArray([1, 2, 3]);
  x.requiresGrad = true;
  // y = Σ x² + Σ 3x uses x twice: dy/dx = 2x + 3.
  backward(op.add(op.sum(op.square(x)), op.sum(op.mul(x, 3))));
  close(await x.grad!.data(), [5, 7, 9]);
  backward(op.sum(x)); // accumulates
  close(await x.grad!.data(), [6, 8, 10]);
  zeroGrad([x]);
  assert.equal(x.grad, null);
  const y = noGrad(() => op.mul(x, 2));
  assert.equal(y.requiresGrad, false);
  assert.throws(() => backward(y), /does not require grad/);
});

Deno.test("memory: a scope frees its temporaries, keeps its result", () => {
  const be = cpuBackend();
  const w = randn([16, 16], new Rng(0));
  const before = memory(be);
  const beforeLive = liveTensorCount();
  const out = tidy(() => {
    let h = w;
    for (let i = 0; i < 10; i++) h = op.tanh(op.matmul(h, w));
    return op.sum(h);
  });
  assert.equal(liveTensorCount(), beforeLive + 1);
  assert.equal(memory(be).bytesInUse, before.bytesInUse + 4);
  out.dispose();
  assert.equal(memory(be).bytesInUse, before.bytesInUse);
  w.dispose();
});

Deno.test("memory: training-like steps in scopes keep memory flat", () => {
  const be = cpuBackend();
  const w = randn([8, 8], new Rng(1));
  w.requiresGrad = true;
  const x = randn([4, 8], new Rng(2));
  const step = () =>
    tidy(() => {
      backward(op.mean(op.square(op.matmul(x, w))));
      zeroGrad([w]);
    });
  step();
  const base = memory(be).bytesInUse, live = liveTensorCount();
  for (let i = 0; i < 20; i++) step();
  assert.equal(memory(be).bytesInUse, base);
  assert.equal(liveTensorCount(), live);
});

Deno.test("bad input: errors name the op and the shapes", () => {
  const a = zeros([2, 3]), b = zeros([4, 3]);
  assert.throws(() => op.add(a, b), /add: shapes \[2, 3\] and \[4, 3\] cannot be broadcast/);
  assert.throws(() => op.matmul(a, b), /matmul: inner dimensions differ/);
  assert.throws(() => op.sum(a, 2), /sum: axis 2 is out of range for shape \[2, 3\]/);
  assert.throws(() => op.reshape(a, [4, 2]), /reshape: cannot reshape f32\[2, 3\] to \[4, 2\]/);
  assert.throws(() => op.gather(a, fromArray([0]), 0), /gather: indices must be a 1-D i32 tensor/);
  assert.throws(() => op.exp(fromInts([1])), /exp: expects f32/);
  const c = zeros([3]);
  c.dispose();
  assert.throws(() => op.exp(c), /exp: tensor f32\[3\] was already disposed/);
  assert.throws(() => tidy(() => Promise.resolve(1) as unknown as number), /synchronous/);
});
