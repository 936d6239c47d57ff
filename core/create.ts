/** Creation of tensors. Random tensors are drawn on the host from a seeded Rng and uploaded, so
 * the same seed gives the same values on every backend. */
import type { Backend } from "./backend.ts";
import { getBackend } from "./device_select.ts";
import type { Rng } from "./rng.ts";
import { checkShape, type Shape, sizeOf } from "./shape.ts";
import { Tensor } from "./tensor.ts";

export function fromArray(
  data: ArrayLike<number>,
  shape: Shape = [data.length],
  backend: Backend = getBackend(),
): Tensor {
  checkShape("fromArray", shape);
  if (sizeOf(shape) !== data.length) {
    throw new Error(`fromArray: ${data.length} values do not fill shape [${shape.join(", ")}]`);
  }
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return new Tensor(backend, backend.upload(arr), shape);
}

/** An i32 tensor (indices for gather). */
export function fromInts(
  data: ArrayLike<number>,
  shape: Shape = [data.length],
  backend = getBackend(),
): Tensor {
  checkShape("fromInts", shape);
  if (sizeOf(shape) !== data.length) {
    throw new Error(`fromInts: ${data.length} values do not fill shape [${shape.join(", ")}]`);
  }
  // A copy, so the host values gather checks stay those uploaded even if the caller's change.
  const arr = Int32Array.from(data);
  const t = new Tensor(backend, backend.upload(arr), shape, "i32");
  t.hostInts = arr;
  return t;
}

export function full(shape: Shape, value: number, backend: Backend = getBackend()): Tensor {
  checkShape("full", shape);
  return new Tensor(backend, backend.fill(sizeOf(shape), value), shape);
}

export function zeros(shape: Shape, backend: Backend = getBackend()): Tensor {
  return full(shape, 0, backend);
}

export function ones(shape: Shape, backend: Backend = getBackend()): Tensor {
  return full(shape, 1, backend);
}

export function scalar(value: number, backend: Backend = getBackend()): Tensor {
  return full([], value, backend);
}

export function arange(n: number, backend: Backend = getBackend()): Tensor {
  return fromArray(Float32Array.from({ length: n }, (_, i) => i), [n], backend);
}

export function randn(shape: Shape, rng: Rng, std = 1, backend: Backend = getBackend()): Tensor {
  checkShape("randn", shape);
  return fromArray(rng.fillNormal(new Float32Array(sizeOf(shape)), 0, std), shape, backend);
}

export function rand(
  shape: Shape,
  rng: Rng,
  lo = 0,
  hi = 1,
  backend: Backend = getBackend(),
): Tensor {
  checkShape("rand", shape);
  return fromArray(rng.fillUniform(new Float32Array(sizeOf(shape)), lo, hi), shape, backend);
}
