/** Batched matrix multiplication with broadcasting over batch axes, and transposed variants. */
import type { MatmulArgs, UnaryOp } from "../backend.ts";
import { backendOf, isGradEnabled, result } from "../autograd.ts";
import { broadcastShapes, sizeOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { broadcastTo, sumToShape } from "./shape_ops.ts";

/**
 * op(a) · op(b) over the last two axes, where op transposes when the flag is set, without
 * materialising transposes. Batch axes broadcast (numpy rules); a side whose batch is all ones
 * is read with batch stride 0. `bias` [n], when given, is added to every output row inside the
 * kernel (a linear layer without a separate broadcast-add pass), and `act`, when given, is
 * applied to the result in the same kernel where the backend can (GPT-2's c_fc + GELU).
 */
export function matmulT(
  a: Tensor,
  b: Tensor,
  transA = false,
  transB = false,
  bias?: Tensor,
  act?: UnaryOp,
): Tensor {
  const be = backendOf("matmul", bias ? [a, b, bias] : [a, b]);
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: needs at least 2-D tensors, got ${a.describe()} and ${b.describe()}`);
  }
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar, k = transA ? ar : ac;
  const k2 = transB ? bc : br, n = transB ? br : bc;
  if (k !== k2) {
    throw new Error(
      `matmul: inner dimensions differ: ${a.describe()}${transA ? "ᵀ" : ""} · ${b.describe()}${
        transB ? "ᵀ" : ""
      }`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new Error(`matmul: bias ${bias.describe()} should be [${n}] (the output's columns)`);
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes("matmul", aBatch, bBatch);
  const batch = sizeOf(batchShape);
  const fits = (s: readonly number[]) =>
    sizeOf(s) === 1 || (s.length === batchShape.length && s.every((d, i) => d === batchShape[i]));
  // Uncommon mixed broadcasts (e.g. [2,1]·[1,3]) are materialised first.
  const A = fits(aBatch) ? a : broadcastTo(a, [...batchShape, ar, ac]);
  const B = fits(bBatch) ? b : broadcastTo(b, [...batchShape, br, bc]);
  const args: MatmulArgs = {
    batch,
    m,
    n,
    k,
    transA,
    transB,
    aBatchStride: sizeOf(A.shape.slice(0, -2)) === 1 ? 0 : m * k,
    bBatchStride: sizeOf(B.shape.slice(0, -2)) === 1 ? 0 : k * n,
  };
  const shape = [...batchShape, m, n];
  const inputs = bias ? [a, b, bias] : [a, b];
  const grads = (dy: Tensor) => {
    let da: Tensor | null = null, db: Tensor | null = null, dbias: Tensor | null = null;
    if (a.requiresGrad) {
      da = transA ? matmulT(b, dy, transB, true) : matmulT(dy, b, false, !transB);
      da = sumToShape(da, a.shape);
    }
    if (b.requiresGrad && bias?.requiresGrad && batch === 1 && a.rank === 2 && b.rank === 2) {
      // A linear layer: its weight and bias gradients in one pass over dy.
      [db, dbias] = transB
        ? withSums(dy, a, true, transA, "rows")
        : withSums(a, dy, !transA, false, "cols");
    } else if (b.requiresGrad) {
      db = transB ? matmulT(dy, a, true, transA) : matmulT(a, dy, !transA, false);
      db = sumToShape(db, b.shape);
    }
    if (bias?.requiresGrad && !dbias) dbias = sumToShape(dy, bias.shape);
    return bias ? [da, db, dbias] : [da, db];
  };
  if (!act) {
    const buf = be.matmul(A.buf("matmul"), B.buf("matmul"), args, bias?.buf("matmul"));
    return result("matmul", buf, shape, inputs, grads);
  }
  const op = `matmul+${act}`;
  const keepPre = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const [y, pre] = be.matmulAct(A.buf(op), B.buf(op), args, act, keepPre, bias?.buf(op));
  const z = pre && new Tensor(be, pre, shape);
  return result(op, y, shape, inputs, (dy) => {
    const size = sizeOf(shape);
    return grads(new Tensor(be, be.unaryGrad(act, z!.buf(op), dy.buf(op), size), shape));
  });
}

/**
 * [op(x)·op(y), the sums over k of op(x)'s rows or op(y)'s columns] for 2-D x, y, without a
 * gradient (a backward pass's use).
 */
function withSums(
  x: Tensor,
  y: Tensor,
  transA: boolean,
  transB: boolean,
  of: "rows" | "cols",
): [Tensor, Tensor] {
  const be = backendOf("matmul", [x, y]);
  const m = transA ? x.shape[1] : x.shape[0], k = transA ? x.shape[0] : x.shape[1];
  const n = transB ? y.shape[0] : y.shape[1];
  const args = { batch: 1, m, n, k, transA, transB, aBatchStride: 0, bBatchStride: 0 };
  const [c, sums] = be.matmulSums(x.buf("matmul"), y.buf("matmul"), args, of);
  return [new Tensor(be, c, [m, n]), new Tensor(be, sums, [of === "rows" ? m : n])];
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  return matmulT(a, b, false, false);
}
