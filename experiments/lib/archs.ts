/**
 * The architectures a suite can train, by name, and their model configs at the paper's layer
 * convention (Park A.4: "2 blocks of either Mamba, Multi-head Attention, or a Feed Forward
 * Network as 1 layer"). L layers are:
 *
 * - L GPT-2 blocks (each attention + MLP) for the Transformers;
 * - 2L blocks for Mamba, both S4 variants and S4-Mamba ([MF]'s and [GZ]'s n_layer = 2L:
 *   Grazzi's Mamba 256 × 24 and S4 435 × 24 sit next to GPT-2 256 × 12);
 * - for MambaFormer an initial Mamba and L (attention, Mamba) pairs ([MF] n_layer = 2L, so
 *   2L + 1 mixers), for the Standard Hybrid L pairs;
 * - Park's ablations: one Mamba block, then L GPT-2 blocks, no positions (Fig. 5); 2L Mamba
 *   blocks whose middle two are a Standard Hybrid pair (A.3.8).
 *
 * So models of equal width and depth have roughly equal parameter counts, and `--layers` means
 * the same thing in every script.
 */
import type { ModelConfig } from "../../nn/mod.ts";

export const ARCH_NAMES = [
  "transformer",
  "transformer_nope",
  "mamba",
  "s4",
  "s4_postnorm",
  "s4mamba",
  "mambaformer",
  "hybrid",
  "transformer_mamba",
  "mamba_hybrid",
] as const;
export type ArchName = typeof ARCH_NAMES[number];

/** What each name builds, in words (printed by --help and in the README). */
export const ARCH_TEXT: Record<ArchName, string> = {
  transformer: "GPT-2 with learned positions (Garg, Park)",
  transformer_nope: "GPT-2 without positions (Grazzi)",
  mamba: "Mamba blocks (--norm layer as Park, rms as Grazzi)",
  s4: "Park's S4D blocks (pre-norm, as [MF] s4d)",
  s4_postnorm: "Grazzi's S4 model (post-norm S4D, dropout 0.1)",
  s4mamba: "S4-Mamba (Mamba with the selective scan replaced by S4D)",
  mambaformer: "MambaFormer (Mamba, then attention/Mamba pairs, no positions)",
  hybrid: "Standard Hybrid (attention/Mamba pairs, learned positions)",
  transformer_mamba: "Park's ablation: one Mamba block, then GPT-2 blocks, no positions",
  mamba_hybrid: "Park's ablation: Mamba with one Standard Hybrid pair in the middle",
};

/** Fixed colours, so an architecture looks the same in every figure (Tableau 10). */
export const ARCH_COLOR: Record<ArchName, string> = {
  transformer: "#1f77b4",
  transformer_nope: "#17becf",
  mamba: "#ff7f0e",
  s4: "#d62728",
  s4_postnorm: "#e377c2",
  s4mamba: "#2ca02c",
  mambaformer: "#9467bd",
  hybrid: "#8c564b",
  transformer_mamba: "#7f7f7f",
  mamba_hybrid: "#bcbd22",
};

/** The architectures that contain attention (they need heads dividing the width). */
export const HAS_ATTENTION: ReadonlySet<ArchName> = new Set([
  "transformer",
  "transformer_nope",
  "mambaformer",
  "hybrid",
  "transformer_mamba",
  "mamba_hybrid",
]);

/** Width, depth (paper layers) and attention heads. */
export interface ModelSize {
  width: number;
  layers: number;
  heads: number;
}

/** The architectures whose blocks take a norm choice (mamba-ssm's Block). */
const HAS_NORM: ReadonlySet<ArchName> = new Set([
  "mamba",
  "s4",
  "s4mamba",
  "mambaformer",
  "hybrid",
  "transformer_mamba",
  "mamba_hybrid",
]);

/**
 * The model config of `name` at `size` (paper layers) for tokens of `tokenDim` and outputs of
 * `outDim`; `maxLen` sizes the learned position tables.
 */
export function modelConfig(
  name: ArchName,
  size: ModelSize,
  io: { tokenDim: number; outDim: number },
  maxLen: number,
  norm: "layer" | "rms" = "layer",
): ModelConfig {
  const gpt2 = name === "transformer" || name === "transformer_nope" ||
    name === "transformer_mamba";
  const arch = gpt2
    ? "transformer"
    : name === "s4_postnorm"
    ? "s4"
    : name === "mamba_hybrid"
    ? "mamba"
    : name;
  const cfg: ModelConfig = {
    arch,
    dModel: size.width,
    nLayer: gpt2 ? size.layers : 2 * size.layers,
    tokenDim: io.tokenDim,
    outDim: io.outDim,
  };
  if (HAS_ATTENTION.has(name)) cfg.nHead = size.heads;
  if (name === "transformer" || name === "hybrid") cfg.maxLen = maxLen;
  if (name === "transformer_nope" || name === "transformer_mamba") cfg.posEmb = false;
  if (name === "transformer_mamba") cfg.mambaFirst = true;
  if (name === "mamba_hybrid") cfg.hybridMiddle = true;
  if (name === "s4_postnorm") cfg.postNorm = true;
  // Only set when it differs from the default, so Park-protocol configs stay as they were.
  if (norm !== "layer" && HAS_NORM.has(name)) cfg.norm = norm;
  return cfg;
}
