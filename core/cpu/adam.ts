/** CPU reference Adam / AdamW step, in place, with PyTorch's semantics. */
import type { AdamArgs } from "../backend.ts";

/**
 * One step on p, m, v from g (times gradScale[0] when given, e.g. global-norm clipping):
 *   p ← p − lr·wd·p (AdamW, decoupled, only when wd > 0)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
 * Each element is computed in f64 and rounded once per stored value.
 */
export function adamCpu(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  args: AdamArgs,
  gradScale: Float32Array | null,
): void {
  const { n, lr, beta1, beta2, eps, weightDecay, step } = args;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const decay = weightDecay > 0 ? 1 - lr * weightDecay : 1;
  const s = gradScale ? gradScale[0] : 1;
  for (let i = 0; i < n; i++) {
    const gi = g[i] * s;
    const mi = beta1 * m[i] + (1 - beta1) * gi;
    const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps);
  }
}
