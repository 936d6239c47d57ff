/** Softmax family and losses. */
import { backendOf, result } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { fromArray } from "../create.ts";
import { mul, softplus, square, sub } from "./elementwise.ts";
import { mean, sum } from "./reduce.ts";
import { fmt, normAxes, sameShape } from "../shape.ts";

function softmaxOp(x: Tensor, axis: number, log: boolean): Tensor {
  const name = log ? "logSoftmax" : "softmax";
  const b = backendOf(name, [x]);
  const [ax] = normAxes(name, x.shape, axis);
  if (ax !== x.rank - 1) {
    throw new Error(
      `${name}: only the last axis is supported, got axis ${axis} of ${x.describe()}`,
    );
  }
  const cols = x.shape[ax], rows = x.size / Math.max(cols, 1);
  const buf = b.softmax(x.buf(name), rows, cols, log);
  return result(name, buf, x.shape, [x], (dy, y) => [
    new Tensor(b, b.softmaxGrad(y.buf(name), dy.buf(name), rows, cols, log), x.shape),
  ]);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp(x, axis, false);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp(x, axis, true);
}

function checkSame(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: prediction ${fmt(a.shape)} and target ${fmt(b.shape)} differ`);
  }
}

/** Mean squared error over all elements. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  checkSame("mseLoss", pred, target);
  return mean(square(sub(pred, target)));
}

/** Binary cross-entropy on logits with targets in [0, 1]: mean of softplus(x) − x·t (stable). */
export function bceWithLogits(logits: Tensor, target: Tensor): Tensor {
  checkSame("bceWithLogits", logits, target);
  return mean(sub(softplus(logits), mul(logits, target)));
}

/** Cross-entropy of logits [N, C] against integer class labels (host array of length N). */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>): Tensor {
  if (logits.rank !== 2 || labels.length !== logits.shape[0]) {
    throw new Error(
      `crossEntropy: logits ${logits.describe()} need [N, C] with N = ${labels.length} labels`,
    );
  }
  const [n, c] = logits.shape;
  const onehot = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= c) {
      throw new Error(`crossEntropy: label ${l} outside [0, ${c})`);
    }
    onehot[i * c + l] = 1;
  }
  const t = fromArray(onehot, [n, c], logits.backend);
  return mul(sum(mul(logSoftmax(logits), t)), -1 / n);
}
