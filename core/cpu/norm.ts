/**
 * CPU reference LayerNorm / RMSNorm over the last axis of [rows, cols], forward and backward.
 * Row statistics are accumulated in f64 so the oracle is more accurate than any f32 kernel.
 */

/** Forward result: y [rows, cols] plus the per-row statistics the backward reuses. */
export interface NormResult {
  y: Float32Array;
  /** [rows] row mean (all zeros for RMSNorm, which subtracts no mean). */
  mean: Float32Array;
  /** [rows] 1 / sqrt(var + eps), or 1 / sqrt(mean(x²) + eps) for RMSNorm. */
  rstd: Float32Array;
}

export interface NormGrads {
  dx: Float32Array;
  /** [cols] Σ_rows dy·x̂; zeros when w is null. */
  dw: Float32Array;
  /** [cols] Σ_rows dy; zeros for RMSNorm, which has no bias. */
  db: Float32Array;
}

/**
 * y = (x − mean)·rstd·w + b, or x·rstd·w for RMSNorm (which ignores b). Null w/b mean 1/0.
 * The variance is the biased one (divide by cols), as in PyTorch.
 */
export function layerNormCpu(
  x: Float32Array,
  w: Float32Array | null,
  b: Float32Array | null,
  rows: number,
  cols: number,
  eps: number,
  rms: boolean,
): NormResult {
  const y = new Float32Array(rows * cols);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mu = 0;
    if (!rms) {
      for (let c = 0; c < cols; c++) mu += x[o + c];
      mu /= cols;
    }
    let ss = 0;
    for (let c = 0; c < cols; c++) {
      const d = x[o + c] - mu;
      ss += d * d;
    }
    const rs = 1 / Math.sqrt(ss / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) {
      let v = (x[o + c] - mu) * rs;
      if (w) v *= w[c];
      if (b && !rms) v += b[c];
      y[o + c] = v;
    }
  }
  return { y, mean, rstd };
}

/**
 * Backward of layerNormCpu from the saved mean/rstd. With x̂ = (x − mean)·rstd and g = dy·w:
 * dx = rstd·(g − mean(g) − x̂·mean(g·x̂)); RMSNorm drops the mean(g) term.
 */
export function layerNormGradCpu(
  x: Float32Array,
  w: Float32Array | null,
  mean: Float32Array,
  rstd: Float32Array,
  dy: Float32Array,
  rows: number,
  cols: number,
  rms: boolean,
): NormGrads {
  const dx = new Float32Array(rows * cols);
  const dw64 = new Float64Array(cols);
  const db64 = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mu = rms ? 0 : mean[r], rs = rstd[r];
    let sg = 0, sgx = 0;
    for (let c = 0; c < cols; c++) {
      const xh = (x[o + c] - mu) * rs;
      const g = w ? dy[o + c] * w[c] : dy[o + c];
      sg += g;
      sgx += g * xh;
      dw64[c] += dy[o + c] * xh;
      db64[c] += dy[o + c];
    }
    const mg = rms ? 0 : sg / cols, mgx = sgx / cols;
    for (let c = 0; c < cols; c++) {
      const xh = (x[o + c] - mu) * rs;
      const g = w ? dy[o + c] * w[c] : dy[o + c];
      dx[o + c] = rs * (g - mg - xh * mgx);
    }
  }
  const dw = w ? Float32Array.from(dw64) : new Float32Array(cols);
  const db = rms ? new Float32Array(cols) : Float32Array.from(db64);
  return { dx, dw, db };
}
