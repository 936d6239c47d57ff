/**
 * Presets of `exp:ginc`. "paper" holds Park et al.'s data sizes (Table 3) and model sizes; its
 * training recipe ("the same as Xie et al.") is not spelled out in the paper, so steps, batch
 * and learning rate there are iclab's guess and say so. "quick" finishes on a 2-core CPU.
 */
import { GINC_PAPER_EVAL } from "../../tasks/ginc.ts";
import type { TokenArch } from "./token_train.ts";

export interface GincPreset {
  trainDocs: number;
  trainDocLength: number;
  validDocs: number;
  validDocLength: number;
  /** Tokens per training block (the LM's context). */
  block: number;
  batch: number;
  steps: number;
  /** Peak Adam lr of the models `lrFor` leaves out. */
  lr: number;
  /** Per-model peak lr, from a measured sweep (README). */
  lrFor?: Partial<Record<TokenArch, number>>;
  /** Steps between a cell's checkpoints (`--checkpoint-every` overrides). */
  checkpointEvery: number;
  width: number;
  layers: number;
  lstmLayers: number;
  ks: number[];
  promptsPerK: number;
  exampleLength: number;
  /** Every way the preset departs from the paper, printed and stored with the results. */
  departures: string[];
}

export const GINC_PRESETS: Record<"quick" | "paper", GincPreset> = {
  quick: {
    trainDocs: 100,
    trainDocLength: 1024,
    validDocs: 10,
    validDocLength: 1024,
    block: 128,
    batch: 16,
    steps: 300,
    lr: 3e-3,
    checkpointEvery: 100,
    width: 32,
    layers: 2,
    lstmLayers: 2,
    ks: [...GINC_PAPER_EVAL.ks],
    promptsPerK: 100,
    exampleLength: GINC_PAPER_EVAL.exampleLength,
    departures: [
      "pre-training set 100 × 1,024 tokens (paper ≈10M: 1,000 × 10,240)",
      "validation 10 × 1,024 tokens (authors: 100 × 1,024)",
      "models of width 32 and 2 layers (paper 768 and 12; LSTM 768 × 6)",
      "300 steps of batch 16 × 128-token blocks, Adam lr 3e-3 cosine",
      "100 prompts per k (paper 2,500); k ≥ 16 examples make prompts longer than the 128-token " +
      "training blocks (k=64: 713 tokens; Xie et al. train on 1,024): length extrapolation, " +
      "untrained positions for the Transformer and the Standard Hybrid",
    ],
  },
  paper: {
    trainDocs: GINC_PAPER_EVAL.trainDocs,
    trainDocLength: GINC_PAPER_EVAL.trainDocLength,
    validDocs: GINC_PAPER_EVAL.validDocs,
    validDocLength: GINC_PAPER_EVAL.validDocLength,
    block: 1024,
    batch: 8,
    steps: 6250,
    lr: 8e-4,
    checkpointEvery: 500,
    width: 768,
    layers: 12,
    lstmLayers: 6,
    ks: [...GINC_PAPER_EVAL.ks],
    promptsPerK: GINC_PAPER_EVAL.promptsPerK,
    exampleLength: GINC_PAPER_EVAL.exampleLength,
    departures: [
      "training recipe guessed (5 epochs of batch 8 × 1,024 tokens, Adam lr 8e-4 cosine): " +
      "Park et al. only say they follow Xie et al.",
    ],
  },
};

/** Tokens in a GINC prompt with k examples: k × (L + 1) + L − 1 (gincPrompt's layout). */
export function gincPromptLength(p: Pick<GincPreset, "exampleLength">, k: number): number {
  return k * (p.exampleLength + 1) + p.exampleLength - 1;
}
