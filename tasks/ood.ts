/**
 * Out-of-distribution linear-regression prompts for models trained on isotropic LR (spec 1.4,
 * Garg's build_evals, reused by Grazzi): w ~ N(0, I_d) and y = w·x as in training, only the
 * inputs (or the label noise) change. Every sampler is counter-based seeded through the Rng it
 * is given; the fixed rotations of `skewed` and `half_subspace` come from `rotationSeed`, so
 * the same seed gives the same prompts on every machine.
 */
import { Rng } from "../core/rng.ts";
import { interleavedBatch, requireInt, resolveSizes } from "./layout.ts";
import { randomRotation, skewTransform } from "./regression.ts";
import type { IclBatch, SampleOptions, Task } from "./task.ts";

/** The prompt shifts. */
export const OOD_KINDS = [
  "skewed",
  "skewed_per_batch",
  "half_subspace",
  "orthogonal_query",
  "scale_x",
  "noisy_y",
] as const;
export type OodKind = typeof OOD_KINDS[number];

/** What each shift is, in words (printed and stored). */
export const OOD_TEXT: Record<OodKind, string> = {
  skewed: "Cov(x) eigenvalues ∝ 1/(i+1)², trace d, one fixed rotation (Garg's `skewed`)",
  skewed_per_batch: "skewed, a new rotation per batch of 64 (Grazzi's skewed training data)",
  half_subspace: "x on a fixed random ⌊d/2⌋-dim subspace, trace d (Garg)",
  orthogonal_query: "context in a random ⌊d/2⌋-dim subspace, the query in its orthogonal " +
    "complement (trace d each); only the last point is scored",
  scale_x: "x scaled by a constant (Garg's scale-x: Cov = s²I)",
  noisy_y: "y = w·x + N(0, σ²), rescaled by sqrt(d/(d+σ²)) to keep E[y²] = d (Garg's noisyLR)",
};

export interface OodOptions {
  nDims?: number;
  nPoints?: number;
  kind: OodKind;
  /** scale_x: the factor (Garg: 1/3, 1/2, 2, 3). Default 3. */
  scale?: number;
  /** noisy_y: noise standard deviation (Garg: 1). */
  noiseStd?: number;
  /** Seed of the fixed rotation of skewed and half_subspace. Default 0. */
  rotationSeed?: number;
}

/** An orthonormal basis (rows) of a random d/2-dim subspace and of its complement. */
function splitBasis(rng: Rng, d: number): { u: Float64Array[]; v: Float64Array[] } {
  const q = randomRotation(rng, d);
  const col = (c: number) => Float64Array.from({ length: d }, (_, r) => q[r * d + c]);
  const h = Math.floor(d / 2);
  return {
    u: Array.from({ length: h }, (_, c) => col(c)),
    v: Array.from({ length: d - h }, (_, c) => col(h + c)),
  };
}

/** x = Σ_k z_k·b_k·√(d/dim): a Gaussian on span(basis) with trace d. */
function onSubspace(rng: Rng, basis: Float64Array[], d: number, out: Float32Array): void {
  const s = Math.sqrt(d / basis.length);
  out.fill(0);
  for (const b of basis) {
    const z = rng.normal() * s;
    for (let j = 0; j < d; j++) out[j] += z * b[j];
  }
}

/** Linear regression under one of Garg's prompt shifts; normalizer d as in training. */
export class OodLinearRegression implements Task {
  readonly name: string;
  readonly nDims: number;
  readonly nPoints: number;
  readonly tokenDim: number;
  readonly outDim = 1;
  readonly loss = "mse" as const;
  readonly metric = "squared_error" as const;
  readonly normalizer: number;
  readonly kind: OodKind;
  readonly scale: number;
  readonly noiseStd: number;
  private readonly transform?: Float64Array;
  private readonly half?: Float64Array[];

  constructor(o: OodOptions) {
    if (!OOD_KINDS.includes(o.kind)) {
      throw new Error(`ood: unknown kind "${o.kind}"; expected one of ${OOD_KINDS.join(", ")}`);
    }
    this.kind = o.kind;
    this.name = `ood_${o.kind}`;
    this.nDims = requireInt(this.name, "nDims", o.nDims ?? 20);
    this.nPoints = requireInt(this.name, "nPoints", o.nPoints ?? 41);
    this.tokenDim = this.nDims;
    this.normalizer = this.nDims;
    this.scale = o.scale ?? 3;
    this.noiseStd = o.noiseStd ?? 1;
    if (!(this.scale > 0) || !(this.noiseStd >= 0)) {
      throw new Error(`${this.name}: scale must be > 0 and noiseStd ≥ 0`);
    }
    if ((o.kind === "half_subspace" || o.kind === "orthogonal_query") && this.nDims < 2) {
      throw new Error(`${this.name}: needs nDims ≥ 2`);
    }
    const rot = new Rng(o.rotationSeed ?? 0).fork("ood-rotation");
    if (o.kind === "skewed") this.transform = skewTransform(rot, this.nDims, 1);
    if (o.kind === "half_subspace") this.half = splitBasis(rot, this.nDims).u;
  }

  sample(rng: Rng, batch: number, opts?: SampleOptions): IclBatch {
    const { n } = resolveSizes(this.name, this, batch, opts);
    const d = this.nDims;
    const xs = new Float32Array(batch * n * d), ys = new Float32Array(batch * n);
    const t = this.kind === "skewed_per_batch" ? skewTransform(rng, d, 1) : this.transform;
    const z = new Float64Array(d);
    for (let b = 0; b < batch; b++) {
      const split = this.kind === "orthogonal_query" ? splitBasis(rng, d) : undefined;
      for (let i = 0; i < n; i++) {
        const x = xs.subarray((b * n + i) * d, (b * n + i + 1) * d);
        if (t) {
          for (let j = 0; j < d; j++) z[j] = rng.normal();
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let j = 0; j < d; j++) s += z[j] * t[j * d + c];
            x[c] = s;
          }
        } else if (this.half) onSubspace(rng, this.half, d, x);
        else if (split) onSubspace(rng, i === n - 1 ? split.v : split.u, d, x);
        else {
          const s = this.kind === "scale_x" ? this.scale : 1;
          for (let j = 0; j < d; j++) x[j] = rng.normal() * s;
        }
      }
      const w = Float64Array.from({ length: d }, () => rng.normal());
      const noisy = this.kind === "noisy_y";
      const renorm = noisy ? Math.sqrt(d / (d + this.noiseStd ** 2)) : 1;
      for (let i = 0; i < n; i++) {
        let y = 0;
        for (let j = 0; j < d; j++) y += w[j] * xs[(b * n + i) * d + j];
        if (noisy) y = (y + this.noiseStd * rng.normal()) * renorm;
        ys[b * n + i] = y;
      }
    }
    const out = interleavedBatch(xs, ys, batch, n, d);
    if (this.kind === "orthogonal_query") {
      out.targetMask = new Float32Array(batch * n);
      for (let b = 0; b < batch; b++) out.targetMask[b * n + n - 1] = 1;
    }
    return out;
  }
}
