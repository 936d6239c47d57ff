/**
 * Finite-difference gradient checking on the CPU backend. The scalar checked is
 * L = Σ f(inputs) ⊙ R with a fixed random R, so every output element contributes.
 */
import assert from "node:assert/strict";
import { backward } from "../core/autograd.ts";
import type { CpuBuffer } from "../core/cpu/backend.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend } from "../core/device_select.ts";
import { mul } from "../core/ops/elementwise.ts";
import { sum } from "../core/ops/reduce.ts";
import { Rng } from "../core/rng.ts";
import { type Tensor, tidy } from "../core/tensor.ts";

export interface GradCheckOptions {
  /** Central-difference step. 1e-2 keeps f32 rounding error (~1e-7/h) below the O(h²) truncation error for smooth ops. */
  h?: number;
  /** Allowed |analytic − numeric| ≤ atol + rtol·|numeric|. */
  atol?: number;
  rtol?: number;
  seed?: number;
}

/** Random inputs of the given shapes (or given arrays), checked against central differences. */
export function gradCheck(
  name: string,
  f: (...xs: Tensor[]) => Tensor,
  inputs: (Float32Array | { shape: number[]; data: Float32Array })[],
  opts: GradCheckOptions = {},
): void {
  const { h = 1e-2, atol = 2e-3, rtol = 2e-2, seed = 7 } = opts;
  const be = cpuBackend();
  const rng = new Rng(seed);
  const specs = inputs.map((x) => (x instanceof Float32Array ? { shape: [x.length], data: x } : x));
  const evalLoss = (
    datas: Float32Array[],
    R: Float32Array | null,
  ): { loss: number; outSize: number; R: Float32Array } =>
    tidy(() => {
      const xs = datas.map((d, i) => fromArray(d, specs[i].shape, be));
      const y = f(...xs);
      const r = R ?? rng.fillNormal(new Float32Array(y.size));
      const l = sum(mul(y, fromArray(r, y.shape, be)));
      return { loss: (l.buf() as CpuBuffer).data[0], outSize: y.size, R: r };
    });
  const base = specs.map((s) => s.data.slice());
  const { R } = evalLoss(base, null);
  const analytic = tidy(() => {
    const xs = base.map((d, i) => {
      const t = fromArray(d, specs[i].shape, be);
      t.requiresGrad = true;
      return t;
    });
    const y = f(...xs);
    backward(sum(mul(y, fromArray(R, y.shape, be))));
    const gs = xs.map((
      x,
    ) => (x.grad ? (x.grad.buf() as CpuBuffer).data.slice() as Float32Array : null));
    return gs;
  });
  for (let i = 0; i < base.length; i++) {
    const g = analytic[i];
    if (!g) continue;
    for (let j = 0; j < base[i].length; j++) {
      const plus = base.map((d) => d.slice()), minus = base.map((d) => d.slice());
      plus[i][j] += h;
      minus[i][j] -= h;
      const num = (evalLoss(plus, R).loss - evalLoss(minus, R).loss) / (2 * h);
      const err = Math.abs(g[j] - num);
      assert.ok(
        err <= atol + rtol * Math.abs(num),
        `${name}: d/d input${i}[${j}]: analytic ${g[j]} vs numeric ${num}`,
      );
    }
  }
}

/** Standard-normal test data. */
export function randData(n: number, seed = 1, scale = 1): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), 0, scale);
}

/** Uniform positive data in [lo, hi] (for log, sqrt, pow, div). */
export function posData(n: number, seed = 1, lo = 0.5, hi = 2): Float32Array {
  return new Rng(seed).fillUniform(new Float32Array(n), lo, hi);
}
