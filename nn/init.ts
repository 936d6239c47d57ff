/**
 * Parameter initialisation. Every value is drawn on the host from a seeded `Rng` and uploaded, so
 * one seed gives bit-identical initial weights on every backend. Each module gets its own stream
 * forked by its name, which makes a parameter's values independent of construction order.
 */
import type { Backend } from "../core/backend.ts";
import { getBackend } from "../core/device_select.ts";
import { fromArray } from "../core/create.ts";
import type { Rng } from "../core/rng.ts";
import { type Shape, sizeOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";

/** A random stream plus the backend new parameters are created on. */
export class Init {
  constructor(readonly rng: Rng, readonly backend: Backend = getBackend()) {}

  /** The initialiser of a child module: same backend, a stream forked by the child's name. */
  fork(name: string): Init {
    return new Init(this.rng.fork(name), this.backend);
  }

  /** Upload host values as a tensor of `shape`. */
  tensor(data: Float32Array, shape: Shape): Tensor {
    return fromArray(data, shape, this.backend);
  }

  /** U(lo, hi). */
  uniform(shape: Shape, lo: number, hi: number): Tensor {
    return this.tensor(this.uniformArray(sizeOf(shape), lo, hi), shape);
  }

  uniformArray(n: number, lo: number, hi: number): Float32Array {
    return this.rng.fillUniform(new Float32Array(n), lo, hi);
  }

  /** N(mean, std²). */
  normal(shape: Shape, std: number, mean = 0): Tensor {
    return this.tensor(this.rng.fillNormal(new Float32Array(sizeOf(shape)), mean, std), shape);
  }

  full(shape: Shape, value: number): Tensor {
    return this.tensor(new Float32Array(sizeOf(shape)).fill(value), shape);
  }

  zeros(shape: Shape): Tensor {
    return this.full(shape, 0);
  }

  ones(shape: Shape): Tensor {
    return this.full(shape, 1);
  }

  /**
   * PyTorch's default for Linear/Conv weights: kaiming_uniform(a = √5), which works out to
   * U(±1/√fan_in) (gain √(2/(1+a²)) = √(1/3), bound = gain·√3/√fan_in).
   */
  kaimingUniform(shape: Shape, fanIn: number): Tensor {
    const bound = 1 / Math.sqrt(fanIn);
    return this.uniform(shape, -bound, bound);
  }
}

/** Inverse of softplus: x such that log(1 + eˣ) = y, i.e. y + log(−expm1(−y)). */
export function inverseSoftplus(y: number): number {
  return y + Math.log(-Math.expm1(-y));
}

/**
 * Overwrite a tensor's values in place from host data of the same size (loading checkpoints,
 * custom initialisations). The tensor keeps its identity, so optimizers holding it still work.
 */
export function assign(t: Tensor, data: Float32Array): void {
  if (data.length !== t.size) {
    throw new Error(`assign: ${data.length} values for ${t.describe()}`);
  }
  const be = t.backend;
  const src = be.upload(data);
  const v = { offset: 0, strides: [1] };
  be.copy(src, v, t.buf("assign"), v, [t.size]);
  be.release(src);
}
