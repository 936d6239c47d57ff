/**
 * CPU reference causal depthwise conv1d over time (Mamba's short conv), forward and backward.
 * x [B, L, C], w [C, K], bias [C]:
 *   y[b, t, c] = bias[c] + Σ_{j<K} w[c, j] · x[b, t − (K−1) + j, c]   (x = 0 before t = 0),
 * i.e. PyTorch's Conv1d(groups=C, padding=K−1) keeping the first L outputs.
 */

export interface ConvGrads {
  /** [B, L, C] */
  dx: Float32Array;
  /** [C, K] */
  dw: Float32Array;
  /** [C] */
  db: Float32Array;
}

export function conv1dCpu(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  batch: number,
  length: number,
  channels: number,
  kernel: number,
): Float32Array {
  const y = new Float32Array(batch * length * channels);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      const o = (b * length + t) * channels;
      for (let c = 0; c < channels; c++) {
        let acc = bias[c];
        for (let j = 0; j < kernel; j++) {
          const s = t - (kernel - 1) + j;
          if (s >= 0) acc += w[c * kernel + j] * x[(b * length + s) * channels + c];
        }
        y[o + c] = acc;
      }
    }
  }
  return y;
}

/**
 * dx[b, s, c] = Σ_j w[c, j]·dy[b, s + K−1−j, c] (terms past the end vanish);
 * dw[c, j] = Σ_{b,t} dy[b, t, c]·x[b, t − (K−1) + j, c]; db[c] = Σ_{b,t} dy[b, t, c].
 * Weight sums accumulate in f64.
 */
export function conv1dGradCpu(
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  batch: number,
  length: number,
  channels: number,
  kernel: number,
): ConvGrads {
  const dx = new Float32Array(batch * length * channels);
  const dw64 = new Float64Array(channels * kernel);
  const db64 = new Float64Array(channels);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      const o = (b * length + t) * channels;
      for (let c = 0; c < channels; c++) {
        const g = dy[o + c];
        db64[c] += g;
        for (let j = 0; j < kernel; j++) {
          const s = t - (kernel - 1) + j;
          if (s < 0) continue;
          const xi = (b * length + s) * channels + c;
          dw64[c * kernel + j] += g * x[xi];
          dx[xi] += g * w[c * kernel + j];
        }
      }
    }
  }
  return { dx, dw: Float32Array.from(dw64), db: Float32Array.from(db64) };
}
