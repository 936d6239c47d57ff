/** Reductions over axes: sum, mean, max (keepdims optional). */
import { backendOf, result } from "../autograd.ts";
import { normAxes, sizeOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { compare, div, mul } from "./elementwise.ts";
import { broadcastTo, permute, reshape } from "./shape_ops.ts";

function reduceOp(
  op: "sum" | "max",
  x: Tensor,
  axes: number | number[] | undefined,
  keepdims: boolean,
): Tensor {
  const b = backendOf(op, [x]);
  const ax = normAxes(op, x.shape, axes);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const outShape = keepdims ? keptShape : x.shape.filter((_, i) => !ax.includes(i));
  if (ax.length === 0) return reshape(x, outShape);
  let src = x;
  const contiguous = ax.every((a, i) => i === 0 || a === ax[i - 1] + 1);
  let lo = ax[0], hi = ax[ax.length - 1];
  if (!contiguous) {
    // Move the reduced axes last so they form one block.
    const rest = x.shape.map((_, i) => i).filter((i) => !ax.includes(i));
    src = permute(x, [...rest, ...ax]);
    lo = rest.length;
    hi = x.rank - 1;
  }
  const outer = sizeOf(src.shape.slice(0, lo)), r = sizeOf(src.shape.slice(lo, hi + 1));
  const inner = sizeOf(src.shape.slice(hi + 1));
  const buf = b.reduce(op, src.buf(op), outer, r, inner);
  if (src !== x) src.dispose();
  return result(op, buf, outShape, [x], (dy, out) => {
    const g = broadcastTo(reshape(dy, keptShape), x.shape);
    if (op === "sum") return [g];
    // max: split the gradient evenly between tied maxima.
    const mask = compare("eq", x, reshape(out, keptShape));
    const count = reduceOp("sum", mask, ax, true);
    return [div(mul(g, mask), count)];
  });
}

export function sum(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  return reduceOp("sum", x, axes, keepdims);
}

export function max(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  return reduceOp("max", x, axes, keepdims);
}

export function mean(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const ax = normAxes("mean", x.shape, axes);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const s = sum(x, ax, keepdims);
  return mul(s, 1 / n);
}
