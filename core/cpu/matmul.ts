/**
 * CPU batched matmul: the fallback backend when no WebGPU adapter exists and the oracle the GPU
 * kernels are tested against. Plain TypeScript, so speed comes from loop order alone: i-k-j with
 * four output rows per pass (each B row loaded once feeds four FMAs) into f64 row accumulators
 * (V8 computes in f64 anyway; an f64 scratch avoids rounding to f32 after every add and the
 * float conversion on every store).
 */
import type { MatmulArgs } from "../backend.ts";

/**
 * C[i] = op(A[i]) · op(B[i]) for i < batch, with op = transpose when transA/transB (A stored
 * [k, m], B stored [n, k]). Matrix i of A starts at i * aBatchStride, of B at i * bBatchStride
 * (0 broadcasts one matrix). Returns [batch, m, n] contiguous.
 */
export function matmulCpu(
  a: Float32Array,
  b: Float32Array,
  args: MatmulArgs,
  bias?: Float32Array,
): Float32Array {
  const { batch, m, n, k, transA, transB, aBatchStride, bBatchStride } = args;
  const out = new Float32Array(batch * m * n);
  if (m === 0 || n === 0) return out;
  // Transposed operands are repacked once per distinct matrix (a broadcast one only once): an
  // O(mk + kn) copy that lets the O(mnk) loop stream both operands with unit stride.
  const aPack = transA ? new Float32Array(m * k) : null;
  const bPack = transB ? new Float32Array(k * n) : null;
  let aPacked = -1;
  let bPacked = -1;
  const acc = new Float64Array(4 * n);
  for (let t = 0; t < batch; t++) {
    let aSrc = a;
    let aOff = t * aBatchStride;
    if (aPack) {
      if (aOff !== aPacked) transposeInto(a, aOff, k, m, aPack);
      aPacked = aOff;
      aSrc = aPack;
      aOff = 0;
    }
    let bSrc = b;
    let bOff = t * bBatchStride;
    if (bPack) {
      if (bOff !== bPacked) transposeInto(b, bOff, n, k, bPack);
      bPacked = bOff;
      bSrc = bPack;
      bOff = 0;
    }
    gemmRowMajor(aSrc, aOff, bSrc, bOff, out, t * m * n, m, n, k, acc);
  }
  if (bias) {
    for (let r = 0; r < batch * m; r++) for (let j = 0; j < n; j++) out[r * n + j] += bias[j];
  }
  return out;
}

/** dst[c, r] = src[off + r * cols + c] for a [rows, cols] source. */
function transposeInto(
  src: Float32Array,
  off: number,
  rows: number,
  cols: number,
  dst: Float32Array,
) {
  for (let r = 0; r < rows; r++) {
    const s = off + r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[s + c];
  }
}

/** C[m, n] = A[m, k] · B[k, n], all row-major; `acc` holds 4 * n f64. */
function gemmRowMajor(
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  c: Float32Array,
  cOff: number,
  m: number,
  n: number,
  k: number,
  acc: Float64Array,
): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    acc.fill(0);
    const a0 = aOff + i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let p = 0; p < k; p++) {
      const x0 = a[a0 + p];
      const x1 = a[a1 + p];
      const x2 = a[a2 + p];
      const x3 = a[a3 + p];
      const br = bOff + p * n;
      for (let j = 0; j < n; j++) {
        const y = b[br + j];
        acc[j] += x0 * y;
        acc[n + j] += x1 * y;
        acc[2 * n + j] += x2 * y;
        acc[3 * n + j] += x3 * y;
      }
    }
    const cr = cOff + i * n;
    for (let j = 0; j < 4 * n; j++) c[cr + j] = acc[j];
  }
  for (; i < m; i++) {
    acc.fill(0, 0, n);
    const ar = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const x = a[ar + p];
      const br = bOff + p * n;
      for (let j = 0; j < n; j++) acc[j] += x * b[br + j];
    }
    const cr = cOff + i * n;
    for (let j = 0; j < n; j++) c[cr + j] = acc[j];
  }
}
