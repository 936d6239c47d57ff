/**
 * CPU reference kernels for the non-fused primitives: elementwise, reductions, strided copies,
 * softmax and gather. They define the semantics the WebGPU kernels must match.
 */
import type { BinaryOp, UnaryOp, View } from "../backend.ts";
import { coalesce } from "../shape.ts";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** softplus as mamba-ssm computes it: linear above 20 where log1p(e^x) == x in f32. */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case "neg":
      return (x) => -x;
    case "exp":
      return Math.exp;
    case "log":
      return Math.log;
    case "sqrt":
      return Math.sqrt;
    case "rsqrt":
      return (x) => 1 / Math.sqrt(x);
    case "abs":
      return Math.abs;
    case "square":
      return (x) => x * x;
    case "reciprocal":
      return (x) => 1 / x;
    case "tanh":
      return Math.tanh;
    case "sigmoid":
      return sigmoid;
    case "relu":
      return (x) => (x > 0 ? x : 0);
    case "gelu":
      return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    case "silu":
      return (x) => x * sigmoid(x);
    case "softplus":
      return softplus;
    case "sign":
      return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case "step":
      return (x) => (x > 0 ? 1 : 0);
    case "cos":
      return Math.cos;
    case "sin":
      return Math.sin;
  }
}

/** f'(x) for each unary op (sign and step have derivative 0 almost everywhere). */
export function unaryDerivFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case "neg":
      return () => -1;
    case "exp":
      return Math.exp;
    case "log":
      return (x) => 1 / x;
    case "sqrt":
      return (x) => 0.5 / Math.sqrt(x);
    case "rsqrt":
      return (x) => -0.5 / (x * Math.sqrt(x));
    case "abs":
      return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case "square":
      return (x) => 2 * x;
    case "reciprocal":
      return (x) => -1 / (x * x);
    case "tanh":
      return (x) => {
        const t = Math.tanh(x);
        return 1 - t * t;
      };
    case "sigmoid":
      return (x) => {
        const s = sigmoid(x);
        return s * (1 - s);
      };
    case "relu":
      return (x) => (x > 0 ? 1 : 0);
    case "gelu":
      return (x) => {
        const inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        const t = Math.tanh(inner);
        return 0.5 * (1 + t) +
          0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
      };
    case "silu":
      return (x) => {
        const s = sigmoid(x);
        return s * (1 + x * (1 - s));
      };
    case "softplus":
      return (x) => (x > 20 ? 1 : sigmoid(x));
    case "sign":
    case "step":
      return () => 0;
    case "cos":
      return (x) => -Math.sin(x);
    case "sin":
      return Math.cos;
  }
}

export function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case "add":
      return (a, b) => a + b;
    case "sub":
      return (a, b) => a - b;
    case "mul":
      return (a, b) => a * b;
    case "div":
      return (a, b) => a / b;
    case "max":
      return (a, b) => (a >= b ? a : b);
    case "min":
      return (a, b) => (a <= b ? a : b);
    case "pow":
      return Math.pow;
    case "gt":
      return (a, b) => (a > b ? 1 : 0);
    case "ge":
      return (a, b) => (a >= b ? 1 : 0);
    case "lt":
      return (a, b) => (a < b ? 1 : 0);
    case "eq":
      return (a, b) => (a === b ? 1 : 0);
  }
}

export function unaryCpu(op: UnaryOp, x: Float32Array): Float32Array {
  const f = unaryFn(op);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
  return out;
}

export function unaryGradCpu(op: UnaryOp, x: Float32Array, dy: Float32Array): Float32Array {
  const f = unaryDerivFn(op);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = dy[i] * f(x[i]);
  return out;
}

/** Visit every index of `shape`, calling fn with the element offsets in each view. */
function forEachIndex(
  shape: readonly number[],
  views: readonly View[],
  fn: (i: number, offs: number[]) => void,
): void {
  const r = shape.length;
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(r).fill(0);
  const offs = views.map((v) => v.offset);
  for (let i = 0; i < n; i++) {
    fn(i, offs);
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < views.length; k++) offs[k] += views[k].strides[d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < views.length; k++) offs[k] -= views[k].strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

export function binaryCpu(
  op: BinaryOp,
  a: Float32Array,
  av: View,
  b: Float32Array,
  bv: View,
  shape: readonly number[],
): Float32Array {
  const f = binaryFn(op);
  const { shape: cs, strides: [sa, sb] } = coalesce(shape, [[...av.strides], [...bv.strides]]);
  const out = new Float32Array(shape.reduce((x, y) => x * y, 1));
  const last = cs.length - 1, n = cs[last], da = sa[last], db = sb[last];
  // The innermost axis runs as a tight loop; outer axes step through forEachIndex.
  forEachIndex(cs.slice(0, last), [
    { offset: av.offset, strides: sa.slice(0, last) },
    { offset: bv.offset, strides: sb.slice(0, last) },
  ], (i, [ia, ib]) => {
    const o = i * n;
    for (let j = 0; j < n; j++) out[o + j] = f(a[ia + j * da], b[ib + j * db]);
  });
  return out;
}

export function copyCpu(
  src: Float32Array | Int32Array,
  sv: View,
  dst: Float32Array | Int32Array,
  dv: View,
  shape: readonly number[],
): void {
  const { shape: cs, strides: [ss, ds] } = coalesce(shape, [[...sv.strides], [...dv.strides]]);
  const last = cs.length - 1, n = cs[last], a = ss[last], b = ds[last];
  forEachIndex(cs.slice(0, last), [
    { offset: sv.offset, strides: ss.slice(0, last) },
    { offset: dv.offset, strides: ds.slice(0, last) },
  ], (_, [is, id]) => {
    for (let j = 0; j < n; j++) dst[id + j * b] = src[is + j * a];
  });
}

export function reduceCpu(
  op: "sum" | "max",
  x: Float32Array,
  outer: number,
  r: number,
  inner: number,
): Float32Array {
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = op === "sum" ? 0 : -Infinity;
      for (let j = 0; j < r; j++) {
        const v = x[(o * r + j) * inner + i];
        acc = op === "sum" ? acc + v : (v > acc ? v : acc);
      }
      out[o * inner + i] = acc;
    }
  }
  return out;
}

export function softmaxCpu(
  x: Float32Array,
  rows: number,
  cols: number,
  log: boolean,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < cols; c++) {
      out[o + c] = log ? x[o + c] - lse : Math.exp(x[o + c] - lse);
    }
  }
  return out;
}

/** softmax: dx = y ⊙ (dy − Σ dy⊙y); log-softmax: dx = dy − e^y Σ dy. */
export function softmaxGradCpu(
  y: Float32Array,
  dy: Float32Array,
  rows: number,
  cols: number,
  log: boolean,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let c = 0; c < cols; c++) s += log ? dy[o + c] : dy[o + c] * y[o + c];
    for (let c = 0; c < cols; c++) {
      out[o + c] = log ? dy[o + c] - Math.exp(y[o + c]) * s : y[o + c] * (dy[o + c] - s);
    }
  }
  return out;
}

export function gatherCpu(
  x: Float32Array,
  idx: Int32Array,
  outer: number,
  axis: number,
  inner: number,
  nIdx: number,
): Float32Array {
  const out = new Float32Array(outer * nIdx * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIdx; j++) {
      if (idx[j] < 0 || idx[j] >= axis) continue; // zeros, as the WebGPU kernel
      const src = (o * axis + idx[j]) * inner, dst = (o * nIdx + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = x[src + i];
    }
  }
  return out;
}

export function scatterAddCpu(
  dy: Float32Array,
  idx: Int32Array,
  outer: number,
  axis: number,
  inner: number,
  nIdx: number,
): Float32Array {
  const out = new Float32Array(outer * axis * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIdx; j++) {
      if (idx[j] < 0 || idx[j] >= axis) continue; // scatters nothing, as the WebGPU kernel
      const dst = (o * axis + idx[j]) * inner, src = (o * nIdx + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += dy[src + i];
    }
  }
  return out;
}
