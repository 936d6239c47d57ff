/**
 * CPU reference causal multi-head attention on q, k, v [B, H, T, dh], forward and backward.
 * Rows are processed one query at a time with the scores held in f64 scratch, so memory stays
 * O(T) per head and the results are accurate enough to serve as the GPU oracle.
 */
import type { AttentionArgs } from "../backend.ts";

export interface AttentionResult {
  /** [B, H, T, dh] */
  o: Float32Array;
  /** [B, H, T] log Σ_{j≤i} exp(scale·q_i·k_j), saved for the backward. */
  lse: Float32Array;
}

export interface AttentionGrads {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** o_i = Σ_{j≤i} softmax_j(scale·q_i·k_j)·v_j per (batch, head). */
export function attentionCpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  args: AttentionArgs,
): AttentionResult {
  const { batch, heads, length: T, headDim: dh, scale } = args;
  const o = new Float32Array(batch * heads * T * dh);
  const lse = new Float32Array(batch * heads * T);
  const s = new Float64Array(T);
  const acc = new Float64Array(dh);
  for (let bh = 0; bh < batch * heads; bh++) {
    const base = bh * T * dh;
    for (let i = 0; i < T; i++) {
      const qi = base + i * dh;
      let m = -Infinity;
      for (let j = 0; j <= i; j++) {
        const kj = base + j * dh;
        let d = 0;
        for (let e = 0; e < dh; e++) d += q[qi + e] * k[kj + e];
        s[j] = d * scale;
        if (s[j] > m) m = s[j];
      }
      let l = 0;
      acc.fill(0);
      for (let j = 0; j <= i; j++) {
        const p = Math.exp(s[j] - m);
        l += p;
        const vj = base + j * dh;
        for (let e = 0; e < dh; e++) acc[e] += p * v[vj + e];
      }
      for (let e = 0; e < dh; e++) o[qi + e] = acc[e] / l;
      lse[bh * T + i] = m + Math.log(l);
    }
  }
  return { o, lse };
}

/**
 * Backward from the saved o and lse: P_ij = exp(scale·q_i·k_j − lse_i), Δ_i = dO_i·o_i,
 * dS_ij = P_ij·(dO_i·v_j − Δ_i); dv_j = Σ_i P_ij dO_i, dq_i = scale·Σ_j dS_ij k_j,
 * dk_j = scale·Σ_i dS_ij q_i.
 */
export function attentionGradCpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  o: Float32Array,
  lse: Float32Array,
  dO: Float32Array,
  args: AttentionArgs,
): AttentionGrads {
  const { batch, heads, length: T, headDim: dh, scale } = args;
  const n = batch * heads * T * dh;
  const dq = new Float32Array(n), dk = new Float32Array(n), dv = new Float32Array(n);
  const dk64 = new Float64Array(T * dh), dv64 = new Float64Array(T * dh);
  const dqi = new Float64Array(dh);
  for (let bh = 0; bh < batch * heads; bh++) {
    const base = bh * T * dh;
    dk64.fill(0);
    dv64.fill(0);
    for (let i = 0; i < T; i++) {
      const qi = base + i * dh;
      let delta = 0;
      for (let e = 0; e < dh; e++) delta += dO[qi + e] * o[qi + e];
      const li = lse[bh * T + i];
      dqi.fill(0);
      for (let j = 0; j <= i; j++) {
        const kj = base + j * dh, jl = j * dh;
        let sd = 0, dp = 0;
        for (let e = 0; e < dh; e++) {
          sd += q[qi + e] * k[kj + e];
          dp += dO[qi + e] * v[kj + e];
        }
        const p = Math.exp(sd * scale - li);
        const ds = p * (dp - delta);
        for (let e = 0; e < dh; e++) {
          dv64[jl + e] += p * dO[qi + e];
          dk64[jl + e] += ds * q[qi + e];
          dqi[e] += ds * k[kj + e];
        }
      }
      for (let e = 0; e < dh; e++) dq[qi + e] = dqi[e] * scale;
    }
    for (let e = 0; e < T * dh; e++) {
      dk[base + e] = dk64[e] * scale;
      dv[base + e] = dv64[e];
    }
  }
  return { dq, dk, dv };
}

/** [B, T, H, dh] (token-major, as projections read and write) → [B, H, T, dh]. */
export function tokensToHeads(x: Float32Array, a: AttentionArgs): Float32Array {
  return permuteRows(x, a, false);
}

/** [B, H, T, dh] → [B, T, H, dh]. */
export function headsToTokens(x: Float32Array, a: AttentionArgs): Float32Array {
  return permuteRows(x, a, true);
}

/** q, k, v [B, H, T, dh] each from qkv [B, T, 3, H, dh]. */
export function unpackQkv(qkv: Float32Array, a: AttentionArgs): Float32Array[] {
  const { batch: B, heads: H, length: T, headDim: dh } = a;
  return [0, 1, 2].map((w) => {
    const out = new Float32Array(B * H * T * dh);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < H; h++) {
          const src = (((b * T + t) * 3 + w) * H + h) * dh, dst = ((b * H + h) * T + t) * dh;
          out.set(qkv.subarray(src, src + dh), dst);
        }
      }
    }
    return out;
  });
}

/** qkv [B, T, 3, H, dh] from q, k, v [B, H, T, dh]. */
export function packQkv(parts: Float32Array[], a: AttentionArgs): Float32Array {
  const { batch: B, heads: H, length: T, headDim: dh } = a;
  const out = new Float32Array(B * T * 3 * H * dh);
  parts.forEach((x, w) => {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < H; h++) {
          const dst = (((b * T + t) * 3 + w) * H + h) * dh, src = ((b * H + h) * T + t) * dh;
          out.set(x.subarray(src, src + dh), dst);
        }
      }
    }
  });
  return out;
}

function permuteRows(x: Float32Array, a: AttentionArgs, toTokens: boolean): Float32Array {
  const { batch: B, heads: H, length: T, headDim: dh } = a;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const heads = ((b * H + h) * T + t) * dh, tokens = ((b * T + t) * H + h) * dh;
        const [src, dst] = toTokens ? [heads, tokens] : [tokens, heads];
        out.set(x.subarray(src, src + dh), dst);
      }
    }
  }
  return out;
}
