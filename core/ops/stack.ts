/** Stack same-shaped tensors along a new leading axis. */
import type { Tensor } from "../tensor.ts";
import { concat, reshape } from "./shape_ops.ts";

export function stack(xs: readonly Tensor[]): Tensor {
  if (xs.length === 0) throw new Error("stack: no tensors");
  return concat(xs.map((x) => reshape(x, [1, ...x.shape])), 0);
}
