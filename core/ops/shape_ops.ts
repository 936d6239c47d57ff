/** Shape ops: reshape (no copy), permute/transpose, slice, concat, broadcastTo, gather. */
import { backendOf, result } from "../autograd.ts";
import { broadcastShapes, fmt, normAxes, type Shape, sizeOf, stridesOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";

/** Same data, new shape; one dimension may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  backendOf("reshape", [x]);
  const known = shape.filter((d) => d !== -1);
  const free = shape.length - known.length;
  if (free > 1 || known.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: invalid target shape ${fmt(shape)} for ${x.describe()}`);
  }
  const prod = sizeOf(known);
  const target = shape.map((d) => (d === -1 ? (prod === 0 ? 0 : x.size / prod) : d));
  if (sizeOf(target) !== x.size || target.some((d) => !Number.isInteger(d))) {
    throw new Error(`reshape: cannot reshape ${x.describe()} to ${fmt(shape)}`);
  }
  const out = x.view(target);
  if (x.requiresGrad) {
    out.requiresGrad = true;
    out.gradFn = { op: "reshape", inputs: [x], backward: (dy) => [reshape(dy, x.shape)] };
  }
  return out;
}

/** Materialise x read through a strided view into a new contiguous tensor of `shape`. */
function stridedCopy(
  op: string,
  x: Tensor,
  shape: Shape,
  offset: number,
  strides: number[],
): ReturnType<typeof x.backend.alloc> {
  const b = x.backend;
  const out = b.alloc(sizeOf(shape), x.dtype);
  b.copy(x.buf(op), { offset, strides }, out, { offset: 0, strides: stridesOf(shape) }, shape);
  return out;
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  backendOf("permute", [x]);
  const axes = normAxes("permute", x.shape, [...perm]);
  if (perm.length !== x.rank || axes.some((a, i) => a !== i)) {
    throw new Error(
      `permute: ${JSON.stringify(perm)} is not a permutation of the axes of ${x.describe()}`,
    );
  }
  const p = perm.map((a) => (a < 0 ? a + x.rank : a));
  const st = stridesOf(x.shape);
  const shape = p.map((a) => x.shape[a]);
  const buf = stridedCopy("permute", x, shape, 0, p.map((a) => st[a]));
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => (inv[a] = i));
  return result("permute", buf, shape, [x], (dy) => [permute(dy, inv)], x.dtype);
}

/** Swap two axes (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const [i, j] = [a, b].map((v) => (v < 0 ? v + x.rank : v));
  if (x.rank < 2 && a === -2) throw new Error(`transpose: ${x.describe()} has fewer than 2 axes`);
  const perm = x.shape.map((_, k) => k);
  perm[i] = j;
  perm[j] = i;
  return permute(x, perm);
}

/** x[start:end] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  backendOf("slice", [x]);
  const [ax] = normAxes("slice", x.shape, axis);
  const n = x.shape[ax];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
    throw new Error(`slice: range [${start}, ${end}) is outside axis ${ax} of ${x.describe()}`);
  }
  const shape = [...x.shape];
  shape[ax] = end - start;
  const st = stridesOf(x.shape);
  const buf = stridedCopy("slice", x, shape, start * st[ax], st);
  // The adjoint is padAxis(dy); as a block, slices that tile x join without zero fills.
  return result("slice", buf, shape, [x], (dy) => [{ block: dy, axis: ax, start }], x.dtype);
}

/** Zero-pad along an axis (the adjoint of slice). */
export function padAxis(x: Tensor, axis: number, before: number, after: number): Tensor {
  const b = backendOf("pad", [x]);
  const shape = [...x.shape];
  shape[axis] += before + after;
  const out = b.fill(sizeOf(shape), 0);
  const st = stridesOf(shape);
  b.copy(x.buf("pad"), { offset: 0, strides: stridesOf(x.shape) }, out, {
    offset: before * st[axis],
    strides: st,
  }, x.shape);
  return result("pad", out, shape, [x], (dy) => [slice(dy, axis, before, before + x.shape[axis])]);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error("concat: no tensors");
  const b = backendOf("concat", xs);
  const [ax] = normAxes("concat", xs[0].shape, axis);
  for (const t of xs) {
    if (t.rank !== xs[0].rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(
        `concat: shapes ${xs.map((t) => fmt(t.shape)).join(", ")} differ off axis ${ax}`,
      );
    }
  }
  const shape = [...xs[0].shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const out = b.alloc(sizeOf(shape), xs[0].dtype);
  const st = stridesOf(shape);
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    starts.push(at);
    b.copy(t.buf("concat"), { offset: 0, strides: stridesOf(t.shape) }, out, {
      offset: at * st[ax],
      strides: st,
    }, t.shape);
    at += t.shape[ax];
  }
  return result(
    "concat",
    out,
    shape,
    xs,
    (dy) => xs.map((t, i) => slice(dy, ax, starts[i], starts[i] + t.shape[ax])),
    xs[0].dtype,
  );
}

/** Materialise numpy broadcasting of x to `shape`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  backendOf("broadcastTo", [x]);
  const bs = broadcastShapes("broadcastTo", x.shape, shape);
  if (bs.length !== shape.length || bs.some((d, i) => d !== shape[i])) {
    throw new Error(`broadcastTo: cannot broadcast ${x.describe()} to ${fmt(shape)}`);
  }
  const st = stridesOf(x.shape);
  const off = shape.length - x.rank;
  const strides = shape.map((_, i) => (i < off || x.shape[i - off] === 1 ? 0 : st[i - off]));
  const buf = stridedCopy("broadcastTo", x, shape, 0, strides);
  return result("broadcastTo", buf, shape, [x], (dy) => [sumToShape(dy, x.shape)], x.dtype);
}

/** Sum a broadcast gradient back to `shape` (the adjoint of broadcasting). */
export function sumToShape(dy: Tensor, shape: readonly number[]): Tensor {
  if (dy.rank === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  const off = dy.rank - shape.length;
  const axes: number[] = [];
  dy.shape.forEach((d, i) => {
    if (i < off || (shape[i - off] === 1 && d !== 1)) axes.push(i);
  });
  const b = dy.backend;
  let out = dy;
  // Reduce contiguous runs of axes one kernel at a time (sum is the only op used here).
  for (let k = axes.length - 1; k >= 0;) {
    let j = k;
    while (j > 0 && axes[j - 1] === axes[j] - 1) j--;
    const lo = axes[j], hi = axes[k];
    const outer = sizeOf(out.shape.slice(0, lo)), r = sizeOf(out.shape.slice(lo, hi + 1));
    const inner = sizeOf(out.shape.slice(hi + 1));
    const nshape = [...out.shape.slice(0, lo), ...out.shape.slice(hi + 1)];
    out = new Tensor(b, b.reduce("sum", out.buf("sumToShape"), outer, r, inner), nshape);
    k = j - 1;
  }
  return out.view(shape);
}

/**
 * Select entries of `x` along `axis` by i32 indices (index_select). Indices made on the host
 * (fromInts, every index tensor in iclab) are checked here, so a bad one throws a RangeError on
 * every backend; for indices only a device holds, both backends' kernels gather zeros (and
 * scatter nothing) outside [0, size), as checking them would cost a readback per call.
 */
export function gather(x: Tensor, idx: Tensor, axis = 0): Tensor {
  const b = backendOf("gather", [x, idx]);
  if (idx.dtype !== "i32" || idx.rank !== 1) {
    throw new Error(`gather: indices must be a 1-D i32 tensor, got ${idx.describe()}`);
  }
  const [ax] = normAxes("gather", x.shape, axis);
  const outer = sizeOf(x.shape.slice(0, ax)),
    n = x.shape[ax],
    inner = sizeOf(x.shape.slice(ax + 1));
  const ints = idx.hostInts;
  if (ints) {
    for (let j = 0; j < ints.length; j++) {
      if (ints[j] < 0 || ints[j] >= n) {
        throw new RangeError(
          `gather: index ${ints[j]} (position ${j}) is out of range [0, ${n}) for axis ${ax} ` +
            `of ${x.describe()}`,
        );
      }
    }
  }
  const shape = [...x.shape];
  shape[ax] = idx.size;
  const buf = b.gather(x.buf("gather"), idx.buf("gather"), outer, n, inner, idx.size);
  return result("gather", buf, shape, [x, idx], (dy) => [
    new Tensor(
      b,
      b.scatterAdd(dy.buf("gather"), idx.buf("gather"), outer, n, inner, idx.size),
      x.shape,
    ),
    null,
  ]);
}
