/**
 * CPU selective scan (Mamba's S6 recurrence), forward and backward, in f64: the test oracle for
 * the WebGPU kernels and the CPU backend's implementation. Math: engine-notes.md section 3.
 *
 *   Δ = softplus(δ + bias),  h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t,  y_t = C_t·h_t + D x_t,
 *   out = y ⊙ silu(z) (when z is given).
 *
 * Memory: the forward keeps one batch element's state (D·N doubles); the backward recomputes
 * the states from checkpoints every CHUNK steps (L/CHUNK·D·N doubles) and keeps one chunk of
 * states at a time (CHUNK·D·N doubles), so nothing of size B·L·D·N is ever allocated.
 */
import type { ScanArgs } from "../backend.ts";

/** Inputs as flat arrays in the layouts of `ScanInputs` (x, delta, z: [B, L, D]; Bm, Cm: [B, L, N]). */
export interface ScanArrays<T extends ArrayLike<number> = Float32Array> {
  x: T;
  delta: T;
  deltaBias: T;
  A: T;
  Bm: T;
  Cm: T;
  Dskip: T;
  z?: T;
}

/** Gradients of every scan input, as `ScanGrads` names them (dDelta is w.r.t. pre-softplus δ). */
export interface ScanGradArrays {
  dx: Float32Array;
  dDelta: Float32Array;
  dDeltaBias: Float32Array;
  dA: Float32Array;
  dBm: Float32Array;
  dCm: Float32Array;
  dDskip: Float32Array;
  dz?: Float32Array;
}

/** B [rows, N] and C [rows, N] from BC [rows, 2N] (the backends' layout, see ScanInputs). */
export function splitBC(BC: Float32Array, N: number): [Float32Array, Float32Array] {
  const rows = BC.length / (2 * N);
  const Bm = new Float32Array(rows * N), Cm = new Float32Array(rows * N);
  for (let r = 0; r < rows; r++) {
    Bm.set(BC.subarray(2 * r * N, (2 * r + 1) * N), r * N);
    Cm.set(BC.subarray((2 * r + 1) * N, (2 * r + 2) * N), r * N);
  }
  return [Bm, Cm];
}

/** BC [rows, 2N] from B and C [rows, N]. */
export function joinBC(Bm: Float32Array, Cm: Float32Array, N: number): Float32Array {
  const rows = Bm.length / N;
  const BC = new Float32Array(rows * 2 * N);
  for (let r = 0; r < rows; r++) {
    BC.set(Bm.subarray(r * N, (r + 1) * N), 2 * r * N);
    BC.set(Cm.subarray(r * N, (r + 1) * N), (2 * r + 1) * N);
  }
  return BC;
}

/** Steps between recomputation checkpoints in the backward. */
const CHUNK = 32;

function softplus(v: number): number {
  return v > 20 ? v : Math.log1p(Math.exp(v));
}

/** dΔ/dv of the thresholded softplus. */
function softplusGrad(v: number): number {
  return v > 20 ? 1 : 1 / (1 + Math.exp(-v));
}

function sigmoid(v: number): number {
  return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
}

/** The scan forward in f64 (out before rounding to f32); inputs may be f32 or f64 arrays. */
export function selectiveScanF64(inp: ScanArrays<ArrayLike<number>>, args: ScanArgs): Float64Array {
  const { batch: B, length: L, channels: D, state: N, hasZ } = args;
  const { x, delta, deltaBias, A, Bm, Cm, Dskip, z } = inp;
  if (hasZ && !z) throw new Error("selectiveScan: hasZ without z");
  const out = new Float64Array(B * L * D);
  const h = new Float64Array(D * N);
  for (let b = 0; b < B; b++) {
    h.fill(0);
    for (let t = 0; t < L; t++) {
      const row = (b * L + t) * D;
      const bn = (b * L + t) * N;
      for (let d = 0; d < D; d++) {
        const i = row + d;
        const dt = softplus(delta[i] + deltaBias[d]);
        const xv = x[i];
        const dtx = dt * xv;
        let y = Dskip[d] * xv;
        const hd = d * N;
        for (let n = 0; n < N; n++) {
          const hn = Math.exp(dt * A[hd + n]) * h[hd + n] + dtx * Bm[bn + n];
          h[hd + n] = hn;
          y += Cm[bn + n] * hn;
        }
        if (hasZ) {
          const zv = z![i];
          y *= zv * sigmoid(zv);
        }
        out[i] = y;
      }
    }
  }
  return out;
}

/**
 * Forward selective scan. `saved` is empty: the backward recomputes the states in f64, which
 * keeps the oracle exact and costs one more pass.
 */
export function selectiveScanCpu(
  inp: ScanArrays,
  args: ScanArgs,
): { out: Float32Array; saved: Float32Array[] } {
  return { out: Float32Array.from(selectiveScanF64(inp, args)), saved: [] };
}

/**
 * Backward of `selectiveScanCpu`: the adjoint g_t = C_t ȳ_t + exp(Δ_{t+1}A) g_{t+1} runs in
 * reverse, chunk by chunk, against states recomputed from per-chunk checkpoints. All sums are
 * accumulated in f64. `saved` is ignored (kept for the Backend signature).
 */
export function selectiveScanGradCpu(
  inp: ScanArrays,
  _saved: Float32Array[],
  dout: Float32Array,
  args: ScanArgs,
): ScanGradArrays {
  const { batch: B, length: L, channels: D, state: N, hasZ } = args;
  const { x, delta, deltaBias, A, Bm, Cm, Dskip, z } = inp;
  if (hasZ && !z) throw new Error("selectiveScanGrad: hasZ without z");
  const DN = D * N;
  const nC = Math.ceil(L / CHUNK);
  const dx = new Float32Array(B * L * D);
  const dDelta = new Float32Array(B * L * D);
  const dz = hasZ ? new Float32Array(B * L * D) : undefined;
  const dBm = new Float32Array(B * L * N);
  const dCm = new Float32Array(B * L * N);
  const dA = new Float64Array(DN);
  const dDsk = new Float64Array(D);
  const dBias = new Float64Array(D);
  const checkpoints = new Float64Array(nC * DN); // state before each chunk
  const hs = new Float64Array(CHUNK * DN); // states h_t of the current chunk
  const as = new Float64Array(CHUNK * DN); // exp(Δ_t A) of the current chunk
  const dts = new Float64Array(CHUNK * D);
  const q = new Float64Array(DN); // exp(Δ_{t+1}A)·g_{t+1}: the adjoint flowing into step t
  const accB = new Float64Array(N);
  const accC = new Float64Array(N);

  for (let b = 0; b < B; b++) {
    // pass 1: checkpoints
    const h = hs.subarray(0, DN);
    h.fill(0);
    for (let t = 0; t < L; t++) {
      if (t % CHUNK === 0) checkpoints.set(h, (t / CHUNK) * DN);
      const row = (b * L + t) * D;
      const bn = (b * L + t) * N;
      for (let d = 0; d < D; d++) {
        const dt = softplus(delta[row + d] + deltaBias[d]);
        const dtx = dt * x[row + d];
        const hd = d * N;
        for (let n = 0; n < N; n++) {
          h[hd + n] = Math.exp(dt * A[hd + n]) * h[hd + n] + dtx * Bm[bn + n];
        }
      }
    }
    // pass 2: chunks in reverse; recompute the chunk's states, then walk it backwards
    q.fill(0);
    for (let c = nC - 1; c >= 0; c--) {
      const t0 = c * CHUNK;
      const cnt = Math.min(CHUNK, L - t0);
      for (let i = 0; i < cnt; i++) {
        const t = t0 + i;
        const row = (b * L + t) * D;
        const bn = (b * L + t) * N;
        const prev = i === 0
          ? checkpoints.subarray(c * DN, (c + 1) * DN)
          : hs.subarray((i - 1) * DN, i * DN);
        for (let d = 0; d < D; d++) {
          const dt = softplus(delta[row + d] + deltaBias[d]);
          dts[i * D + d] = dt;
          const dtx = dt * x[row + d];
          const hd = d * N;
          const o = i * DN + hd;
          for (let n = 0; n < N; n++) {
            const a = Math.exp(dt * A[hd + n]);
            as[o + n] = a;
            hs[o + n] = a * prev[hd + n] + dtx * Bm[bn + n];
          }
        }
      }
      for (let i = cnt - 1; i >= 0; i--) {
        const t = t0 + i;
        const row = (b * L + t) * D;
        const bn = (b * L + t) * N;
        const prev = i === 0
          ? checkpoints.subarray(c * DN, (c + 1) * DN)
          : hs.subarray((i - 1) * DN, i * DN);
        accB.fill(0);
        accC.fill(0);
        for (let d = 0; d < D; d++) {
          const j = row + d;
          const v = delta[j] + deltaBias[d];
          const dt = dts[i * D + d];
          const xv = x[j];
          const dtx = dt * xv;
          const dy = dout[j];
          let ybar = dy, sz = 0, zv = 0;
          if (hasZ) {
            zv = z![j];
            sz = sigmoid(zv);
            ybar = dy * zv * sz;
          }
          const hd = d * N;
          const o = i * DN + hd;
          let gx = 0, gd = 0, yc = 0;
          for (let n = 0; n < N; n++) {
            const hn = hs[o + n];
            const bv = Bm[bn + n];
            const g = Cm[bn + n] * ybar + q[hd + n];
            const ah = as[o + n] * prev[hd + n]; // exp(Δ_t A)·h_{t-1}
            accC[n] += ybar * hn;
            accB[n] += g * dtx;
            gx += g * bv;
            gd += g * (bv * xv + A[hd + n] * ah);
            dA[hd + n] += g * dt * ah;
            yc += Cm[bn + n] * hn;
            q[hd + n] = as[o + n] * g;
          }
          const ddv = gd * softplusGrad(v);
          dx[j] = Dskip[d] * ybar + dt * gx;
          dDelta[j] = ddv;
          dBias[d] += ddv;
          dDsk[d] += ybar * xv;
          if (hasZ) dz![j] = dy * (yc + Dskip[d] * xv) * sz * (1 + zv * (1 - sz));
        }
        for (let n = 0; n < N; n++) {
          dBm[bn + n] = accB[n];
          dCm[bn + n] = accC[n];
        }
      }
    }
  }
  return {
    dx,
    dDelta,
    dDeltaBias: Float32Array.from(dBias),
    dA: Float32Array.from(dA),
    dBm,
    dCm,
    dDskip: Float32Array.from(dDsk),
    ...(hasZ ? { dz } : {}),
  };
}
