/** Elementwise ops with numpy broadcasting, and their gradients. */
import type { BinaryOp, UnaryOp } from "../backend.ts";
import { backendOf, result } from "../autograd.ts";
import { broadcastShapes, broadcastStrides } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { sumToShape } from "./shape_ops.ts";

function unary(op: UnaryOp, x: Tensor, differentiable = true): Tensor {
  const b = backendOf(op, [x]);
  if (x.dtype !== "f32") throw new Error(`${op}: expects f32, got ${x.describe()}`);
  const buf = b.unary(op, x.buf(op), x.size);
  return result(op, buf, x.shape, [x], differentiable ? (dy) => [unaryGrad(op, x, dy)] : undefined);
}

/** dy · f'(x): one fused kernel per unary op (its own derivative is not needed). */
function unaryGrad(op: UnaryOp, x: Tensor, dy: Tensor): Tensor {
  const b = x.backend;
  return new Tensor(b, b.unaryGrad(op, x.buf(op), dy.buf(op), x.size), x.shape);
}

export const neg = (x: Tensor) => unary("neg", x);
export const exp = (x: Tensor) => unary("exp", x);
export const log = (x: Tensor) => unary("log", x);
export const sqrt = (x: Tensor) => unary("sqrt", x);
export const rsqrt = (x: Tensor) => unary("rsqrt", x);
export const abs = (x: Tensor) => unary("abs", x);
export const square = (x: Tensor) => unary("square", x);
export const reciprocal = (x: Tensor) => unary("reciprocal", x);
export const tanh = (x: Tensor) => unary("tanh", x);
export const sigmoid = (x: Tensor) => unary("sigmoid", x);
export const relu = (x: Tensor) => unary("relu", x);
/** GELU with the tanh approximation (GPT-2's gelu_new). */
export const gelu = (x: Tensor) => unary("gelu", x);
export const silu = (x: Tensor) => unary("silu", x);
export const softplus = (x: Tensor) => unary("softplus", x);
export const cos = (x: Tensor) => unary("cos", x);
export const sin = (x: Tensor) => unary("sin", x);
/** Not differentiable (zero gradient almost everywhere). */
export const sign = (x: Tensor) => unary("sign", x, false);

function binary(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  backward?: (dy: Tensor) => (Tensor | null)[],
): Tensor {
  const be = backendOf(op, [a, b]);
  if (a.dtype !== "f32" || b.dtype !== "f32") {
    throw new Error(`${op}: expects f32 tensors, got ${a.describe()} and ${b.describe()}`);
  }
  const shape = broadcastShapes(op, a.shape, b.shape);
  const buf = be.binary(
    op,
    a.buf(op),
    { offset: 0, strides: broadcastStrides(a.shape, shape) },
    b.buf(op),
    { offset: 0, strides: broadcastStrides(b.shape, shape) },
    shape,
  );
  return result(op, buf, shape, [a, b], backward ? (dy) => backward(dy) : undefined);
}

type Operand = Tensor | number;

function asTensor(v: Operand, like: Tensor): Tensor {
  return typeof v === "number" ? new Tensor(like.backend, like.backend.fill(1, v), []) : v;
}

export function add(a: Tensor, b: Operand): Tensor {
  if (typeof b === "number") return affine(a, 1, b);
  return binary("add", a, b, (dy) => [sumToShape(dy, a.shape), sumToShape(dy, b.shape)]);
}

export function sub(a: Tensor, b: Operand): Tensor {
  if (typeof b === "number") return affine(a, 1, -b);
  return binary("sub", a, b, (dy) => [sumToShape(dy, a.shape), sumToShape(neg(dy), b.shape)]);
}

export function mul(a: Tensor, b: Operand): Tensor {
  if (typeof b === "number") return affine(a, b, 0);
  return binary("mul", a, b, (dy) => [
    a.requiresGrad ? sumToShape(mul(dy, b), a.shape) : null,
    b.requiresGrad ? sumToShape(mul(dy, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Operand): Tensor {
  if (typeof b === "number") return affine(a, 1 / b, 0);
  return binary("div", a, b, (dy) => [
    a.requiresGrad ? sumToShape(div(dy, b), a.shape) : null,
    b.requiresGrad ? sumToShape(neg(div(mul(dy, a), mul(b, b))), b.shape) : null,
  ]);
}

/** a^b; the gradient w.r.t. b needs a > 0. */
export function pow(a: Tensor, b: Operand): Tensor {
  const bt = asTensor(b, a);
  return binary("pow", a, bt, (dy) => [
    a.requiresGrad ? sumToShape(mul(dy, mul(bt, pow(a, sub(bt, 1)))), a.shape) : null,
    bt.requiresGrad ? sumToShape(mul(dy, mul(pow(a, bt), log(a))), bt.shape) : null,
  ]);
}

/** Elementwise max; on ties the gradient goes to `a`. */
export function maximum(a: Tensor, b: Operand): Tensor {
  const bt = asTensor(b, a);
  return binary("max", a, bt, (dy) => {
    const m = compare("ge", a, bt);
    return [sumToShape(mul(dy, m), a.shape), sumToShape(mul(dy, sub(mul(m, -1), -1)), bt.shape)];
  });
}

/** Elementwise min; on ties the gradient goes to `a`. */
export function minimum(a: Tensor, b: Operand): Tensor {
  const bt = asTensor(b, a);
  return binary("min", a, bt, (dy) => {
    const m = compare("ge", bt, a);
    return [sumToShape(mul(dy, m), a.shape), sumToShape(mul(dy, sub(mul(m, -1), -1)), bt.shape)];
  });
}

/** 0/1 masks; not differentiable. */
export function compare(op: "gt" | "ge" | "lt" | "eq", a: Tensor, b: Operand): Tensor {
  return binary(op, a, asTensor(b, a));
}

/** a·x + c with scalar a, c: one kernel, no broadcast buffer. */
export function affine(x: Tensor, a: number, c: number): Tensor {
  const be = backendOf("affine", [x]);
  return result(
    "affine",
    be.affine(x.buf("affine"), x.size, a, c),
    x.shape,
    [x],
    (dy) => [affine(dy, a, 0)],
  );
}

/** cond ? a : b with a 0/1 mask (composition, so gradients come for free). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return add(mul(cond, a), mul(affine(cond, -1, 1), b));
}

export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  return minimum(maximum(x, lo), hi);
}
