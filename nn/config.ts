/**
 * The plain-JSON model configuration and its validation. Every check names the offending field,
 * and unknown fields are rejected so that a typo ("nLayers") fails loudly instead of silently
 * falling back to a default.
 */

export const ARCHS = ["transformer", "mamba", "s4", "s4mamba", "mambaformer", "hybrid"] as const;
export type Arch = typeof ARCHS[number];

/**
 * A model as plain JSON. `arch`:
 * - "transformer": GPT-2 (pre-LN, learned positions unless posEmb = false, final LN) [G]/[GZ];
 * - "mamba": stacked pre-norm Mamba blocks + final norm ([MF] LayerNorm; norm "rms" for [GZ]);
 * - "s4": S4D layers; pre-norm blocks + final norm as [MF] "s4d" (dState 16), or postNorm as
 *   [GZ] (dState 64, dropout 0.1);
 * - "s4mamba": [MF] S4-Mamba blocks;
 * - "mambaformer": Mamba, then (attention, Mamba) pairs, no positions (nLayer 4 → M,A,M,A,M);
 * - "hybrid": [MF] Standard Hybrid, (attention, Mamba) pairs + learned positions (N(0, 1)).
 *
 * Park's two ablations are options of these: `mambaFirst` (a Transformer whose first block is
 * a Mamba block, Fig. 5) and `hybridMiddle` (a Mamba stack with one Standard Hybrid pair in the
 * middle, A.3.8). `layerPlan` lists the blocks; the models and the FLOPs count both read it.
 */
export interface ModelConfig {
  arch: Arch;
  /** Width E. */
  dModel: number;
  /** Transformer blocks, Mamba/S4 blocks, or hybrid layers (each attention or Mamba counts one). */
  nLayer: number;
  /** Attention heads (transformer: required; hybrids: default 8 as in [MF]). */
  nHead?: number;
  /** Input token width (read-in Linear(tokenDim → E)). */
  tokenDim: number;
  /** Output width (read-out Linear(E → outDim)). */
  outDim: number;
  /** Rows of the learned position table (transformer with posEmb, hybrid): the longest sequence. */
  maxLen?: number;
  /** Norm of Mamba-family blocks: "layer" ([MF], default) or "rms" ([GZ]). */
  norm?: "layer" | "rms";
  /** Transformer only: learned absolute positions (default true; [GZ] removes them). */
  posEmb?: boolean;
  /** SSM state size: Mamba N (default 16); S4D N = 2 × complex modes (16, or 64 with postNorm). */
  dState?: number;
  /** Mamba conv width (4). */
  dConv?: number;
  /** Mamba expansion (2). */
  expand?: number;
  /** Mamba Δ rank (⌈dModel/16⌉). */
  dtRank?: number;
  /** Dropout of the S4 variants (s4mamba 0.1, s4 postNorm 0.1, s4 pre-norm 0). */
  dropout?: number;
  /** s4 only: [GZ] post-norm layout x = LN(x + dropout(S4D(x))), no final norm. */
  postNorm?: boolean;
  /** Transformer only: one pre-LN Mamba block before the GPT-2 blocks (Park Fig. 5). */
  mambaFirst?: boolean;
  /**
   * Mamba only: blocks nLayer/2 − 1 and nLayer/2 become a Standard Hybrid pair (attention,
   * Mamba) without positions, as Park's A.3.8 puts one into an 8-block Mamba.
   */
  hybridMiddle?: boolean;
}

/** A validated config with every default filled in. */
export type ResolvedConfig = Required<Omit<ModelConfig, "maxLen" | "nHead">> & {
  maxLen: number | null;
  nHead: number | null;
};

const KNOWN = new Set([
  "arch",
  "dModel",
  "nLayer",
  "nHead",
  "tokenDim",
  "outDim",
  "maxLen",
  "norm",
  "posEmb",
  "dState",
  "dConv",
  "expand",
  "dtRank",
  "dropout",
  "postNorm",
  "mambaFirst",
  "hybridMiddle",
]);

function bad(field: string, msg: string): never {
  throw new Error(`model config: ${field} ${msg}`);
}

function posInt(c: Record<string, unknown>, field: string, required: boolean): number | undefined {
  const v = c[field];
  if (v === undefined) {
    if (required) bad(field, "is required (a positive integer)");
    return undefined;
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    bad(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(c: Record<string, unknown>, field: string): boolean | undefined {
  const v = c[field];
  if (v !== undefined && typeof v !== "boolean") {
    bad(field, `must be true or false, got ${JSON.stringify(v)}`);
  }
  return v as boolean | undefined;
}

/** Validate a config (e.g. parsed from JSON) and fill in the defaults. */
export function resolveConfig(raw: unknown): ResolvedConfig {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`model config: expected an object, got ${JSON.stringify(raw)}`);
  }
  // null means "not set" (JSON has no undefined).
  const c = Object.fromEntries(
    Object.entries(raw as Record<string, unknown>).filter(([, v]) => v !== null),
  );
  for (const k of Object.keys(c)) {
    if (!KNOWN.has(k)) bad(k, `is not a known field (known: ${[...KNOWN].join(", ")})`);
  }
  const arch = c.arch as Arch;
  if (!ARCHS.includes(arch)) {
    bad("arch", `must be one of ${ARCHS.join(", ")}, got ${JSON.stringify(c.arch)}`);
  }
  const dModel = posInt(c, "dModel", true)!;
  const nLayer = posInt(c, "nLayer", true)!;
  const tokenDim = posInt(c, "tokenDim", true)!;
  const outDim = posInt(c, "outDim", true)!;
  const mambaFirst = bool(c, "mambaFirst");
  if (mambaFirst !== undefined && arch !== "transformer") {
    bad("mambaFirst", `applies to arch "transformer" only`);
  }
  const hybridMiddle = bool(c, "hybridMiddle");
  if (hybridMiddle !== undefined && arch !== "mamba") {
    bad("hybridMiddle", `applies to arch "mamba" only`);
  }
  if (hybridMiddle && nLayer < 2) bad("nLayer", `must be ≥ 2 with hybridMiddle, got ${nLayer}`);
  const hasAttn = arch === "transformer" || arch === "mambaformer" || arch === "hybrid" ||
    hybridMiddle === true;
  let nHead = posInt(c, "nHead", arch === "transformer") ?? null;
  if (hasAttn) {
    nHead ??= 8;
    if (dModel % nHead !== 0) bad("nHead", `(${nHead}) must divide dModel (${dModel})`);
  } else if (nHead !== null) bad("nHead", `does not apply to arch "${arch}"`);

  const posEmb = bool(c, "posEmb");
  if (posEmb !== undefined && arch !== "transformer") {
    bad("posEmb", `applies to arch "transformer" only (hybrid always has positions, others none)`);
  }
  const usesPos = (arch === "transformer" && posEmb !== false) || arch === "hybrid";
  const maxLen = posInt(c, "maxLen", usesPos) ?? null;

  const norm = c.norm ?? "layer";
  if (norm !== "layer" && norm !== "rms") {
    bad("norm", `must be "layer" or "rms", got ${JSON.stringify(c.norm)}`);
  }
  if (c.norm !== undefined && arch === "transformer" && !mambaFirst) {
    bad("norm", `does not apply to GPT-2 (always LayerNorm)`);
  }

  const postNorm = bool(c, "postNorm");
  if (postNorm !== undefined && arch !== "s4") bad("postNorm", `applies to arch "s4" only`);
  const isS4 = arch === "s4" || arch === "s4mamba";
  const dState = posInt(c, "dState", false) ?? (arch === "s4" && postNorm ? 64 : 16);
  if (isS4 && dState % 2 !== 0) {
    bad("dState", `must be even for S4D (N/2 complex modes), got ${dState}`);
  }
  if (arch === "transformer" && !mambaFirst && c.dState !== undefined) {
    bad("dState", `does not apply to GPT-2`);
  }

  const hasMamba = arch === "mamba" || arch === "mambaformer" || arch === "hybrid" ||
    mambaFirst === true;
  for (const f of ["dtRank"]) {
    if (c[f] !== undefined && !hasMamba) bad(f, `applies to Mamba blocks only`);
  }
  for (const f of ["dConv", "expand"]) {
    if (c[f] !== undefined && !hasMamba && arch !== "s4mamba") {
      bad(f, `applies to Mamba blocks only`);
    }
  }
  const dConv = posInt(c, "dConv", false) ?? 4;
  const expand = posInt(c, "expand", false) ?? 2;
  const dtRank = posInt(c, "dtRank", false) ?? Math.ceil(dModel / 16);

  const defaultDrop = arch === "s4mamba" || (arch === "s4" && postNorm) ? 0.1 : 0;
  const dropout = c.dropout ?? defaultDrop;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) {
    bad("dropout", `must be a number in [0, 1), got ${JSON.stringify(c.dropout)}`);
  }
  if (c.dropout !== undefined && !isS4 && dropout !== 0) {
    bad("dropout", `is only supported by the S4 variants (the reference models use none)`);
  }
  return {
    arch,
    dModel,
    nLayer,
    nHead: hasAttn ? nHead : null,
    tokenDim,
    outDim,
    maxLen: usesPos ? maxLen : null,
    norm,
    posEmb: arch === "transformer" ? posEmb !== false : arch === "hybrid",
    dState,
    dConv,
    expand,
    dtRank,
    dropout,
    postNorm: postNorm ?? false,
    mambaFirst: mambaFirst ?? false,
    hybridMiddle: hybridMiddle ?? false,
  };
}

/** One residual block of a model: GPT-2 (attention + MLP), or one mixer. */
export type BlockKind = "gpt2" | "attn" | "mamba" | "s4" | "s4mamba";

/** The blocks of a model in order (MambaFormer: M, A, M, A, M for nLayer 4). */
export function layerPlan(c: ResolvedConfig): BlockKind[] {
  const n = c.nLayer;
  const pairs = (): BlockKind[] =>
    Array.from({ length: n }, (_, i) => (i % 2 === 0 ? "attn" : "mamba"));
  switch (c.arch) {
    case "transformer":
      return [...(c.mambaFirst ? ["mamba" as const] : []), ...Array(n).fill("gpt2")];
    case "mamba": {
      const plan: BlockKind[] = Array(n).fill("mamba");
      if (c.hybridMiddle) plan[Math.floor((n - 1) / 2)] = "attn";
      return plan;
    }
    case "s4":
    case "s4mamba":
      return Array(n).fill(c.arch);
    case "mambaformer":
      return ["mamba", ...pairs()];
    case "hybrid":
      return pairs();
  }
}
