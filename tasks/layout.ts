/**
 * Garg token layout and argument checks shared by the task samplers.
 */
import type { IclBatch, SampleOptions } from "./task.ts";

/** Throws unless `value` is an integer >= min; the message names the field. */
export function requireInt(where: string, field: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${where}: ${field} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Throws unless 0 <= value <= 1; the message names the field. */
export function requireProbability(where: string, field: string, value: number): number {
  if (!(value >= 0 && value <= 1)) {
    throw new Error(`${where}: ${field} must be a probability in [0, 1], got ${value}`);
  }
  return value;
}

/**
 * Curriculum values for one `sample` call: nDims may shrink the task's d (never grow it, since
 * the token width is fixed); nPoints may be anything positive (length extrapolation).
 */
export function resolveSizes(
  where: string,
  task: { nDims: number; nPoints: number },
  batch: number,
  opts: SampleOptions | undefined,
): { dCur: number; n: number } {
  requireInt(where, "batch", batch);
  const dCur = requireInt(where, "nDims", opts?.nDims ?? task.nDims);
  if (dCur > task.nDims) {
    throw new Error(`${where}: nDims ${dCur} exceeds the task's token width ${task.nDims}`);
  }
  const n = requireInt(where, "nPoints", opts?.nPoints ?? task.nPoints);
  return { dCur, n };
}

/** Prediction positions of the interleaved layout: the x tokens 0, 2, 4, ... */
export function xTokenPositions(nPoints: number): Int32Array {
  const pos = new Int32Array(nPoints);
  for (let i = 0; i < nPoints; i++) pos[i] = 2 * i;
  return pos;
}

/**
 * Builds the Garg batch x_1, ỹ_1, x_2, ỹ_2, ... with ỹ = [y, 0, ..., 0], predictions at the
 * x tokens. `xs` [B, N, d], `ys` [B, N]; targets are the ys.
 */
export function interleavedBatch(
  xs: Float32Array,
  ys: Float32Array,
  batch: number,
  nPoints: number,
  nDims: number,
): IclBatch {
  const seqLen = 2 * nPoints;
  const tokens = new Float32Array(batch * seqLen * nDims);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < nPoints; i++) {
      const src = (b * nPoints + i) * nDims;
      const xTok = (b * seqLen + 2 * i) * nDims;
      tokens.set(xs.subarray(src, src + nDims), xTok);
      tokens[xTok + nDims] = ys[b * nPoints + i];
    }
  }
  return {
    batch,
    seqLen,
    tokenDim: nDims,
    tokens,
    predPos: xTokenPositions(nPoints),
    outDim: 1,
    targets: ys.slice(),
    xs,
    ys,
    nPoints,
    nDims,
  };
}

/** Zeroes coordinates dCur..d-1 of every x (the dims curriculum, spec 1.3). */
export function zeroBeyond(xs: Float32Array, nDims: number, dCur: number): void {
  if (dCur >= nDims) return;
  for (let r = 0; r < xs.length; r += nDims) xs.fill(0, r + dCur, r + nDims);
}
