/**
 * What the page offers: a few tasks at sizes that train visibly within a minute on a laptop GPU
 * (the experiments' sizes need hours), the three architectures of the MambaFormer paper, and
 * three model sizes.
 */
import type { TaskOptions } from "../tasks/registry.ts";
import type { Arch } from "../nn/config.ts";

export interface TaskChoice {
  label: string;
  name: string;
  opts: TaskOptions;
  /** The classical baselines drawn next to the model (tasks/baselines.ts names). */
  baselines: string[];
  /** The x axis of the error curve: examples in the prompt, or queries for MQAR. */
  xLabel: string;
}

export const TASKS: Record<string, TaskChoice> = {
  linear_regression: {
    label: "Linear regression (d=5, 20 examples)",
    name: "linear_regression",
    opts: { nDims: 5, nPoints: 20 },
    baselines: ["least_squares", "averaging"],
    xLabel: "in-context examples",
  },
  sparse_parity: {
    label: "Sparse parity (d=4, k=2, 20 examples)",
    name: "sparse_parity",
    opts: { nDims: 4, k: 2, nPoints: 20 },
    baselines: [],
    xLabel: "in-context examples",
  },
  mqar: {
    label: "MQAR (d=8, 8 pairs, 4 queries)",
    name: "mqar",
    opts: { nDims: 8, nPairs: 8, nQueries: 4 },
    baselines: [],
    xLabel: "query",
  },
};

export const ARCH_CHOICES: { arch: Arch; label: string }[] = [
  { arch: "transformer", label: "Transformer" },
  { arch: "mamba", label: "Mamba" },
  { arch: "mambaformer", label: "MambaFormer" },
];

/** A size in layers as the papers count them (see `blocksFor`). */
export const SIZES: Record<string, { dModel: number; layers: number; nHead: number }> = {
  tiny: { dModel: 16, layers: 1, nHead: 2 },
  small: { dModel: 32, layers: 1, nHead: 4 },
  medium: { dModel: 64, layers: 2, nHead: 4 },
};

/**
 * The engine's nLayer counts blocks; a paper "layer" is one GPT-2 block, two Mamba blocks, or
 * for MambaFormer one (attention, Mamba) pair after its leading Mamba block (exp:parity's rule).
 */
export function blocksFor(arch: Arch, layers: number): number {
  return arch === "transformer" ? layers : 2 * layers;
}
