/**
 * Fused attention kernel against the unfused composition (matmul, mask, softmax, matmul) at
 * the Transformer shapes, forward + backward through the op layer, on one backend.
 */
import { backward } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { randn } from "../core/create.ts";
import * as op from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { type Tensor, tidy } from "../core/tensor.ts";

export interface FusedVsUnfusedRow {
  shape: string;
  fused_ms: number;
  unfused_ms: number;
}

async function timeIt(be: Backend, f: () => Tensor, reps: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const s = tidy(() => {
      const y = f();
      backward(op.sum(y));
      return op.sum(y);
    });
    await s.item();
    s.dispose();
    if (i > 0) times.push(performance.now() - t0);
  }
  be.flush();
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

export async function benchFusedVsUnfused(
  be: Backend,
  quick = false,
): Promise<FusedVsUnfusedRow[]> {
  const shapes = quick ? [[16, 4, 280, 16]] : [[64, 8, 280, 32], [64, 4, 280, 16]];
  const rows: FusedVsUnfusedRow[] = [];
  for (const sh of shapes) {
    const rng = new Rng(0);
    const [q, k, v] = [0, 1, 2].map(() => {
      const t = randn(sh, rng, 1, be);
      t.requiresGrad = true;
      return t;
    });
    const reps = quick ? 1 : 3;
    rows.push({
      shape: sh.join("x"),
      fused_ms: await timeIt(be, () => op.causalAttention(q, k, v), reps),
      unfused_ms: await timeIt(be, () => op.causalAttentionUnfused(q, k, v), reps),
    });
    for (const t of [q, k, v]) t.dispose();
  }
  return rows;
}
