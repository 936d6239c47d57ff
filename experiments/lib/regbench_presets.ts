/**
 * Presets of `exp:regbench`. "paper" holds the authors' data config (seq_icl `icl_dfa.yaml`:
 * 5,000 train and 500 test automata, up to 4,096 tokens; batch 32, lr 5e-4) and 15 epochs (Park
 * et al. Table 4 reports 15 and 120); model sizes are a guess (Park et al. use "the same model
 * configurations as Akyürek et al.", which this repository does not have). "quick" finishes on a
 * 2-core CPU.
 */
import type { TokenArch } from "./token_train.ts";

export interface RegBenchPreset {
  nTrain: number;
  nTest: number;
  maxSeqLen: number;
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
  departures: string[];
}

export const REGBENCH_PRESETS: Record<"quick" | "paper", RegBenchPreset> = {
  quick: {
    nTrain: 500,
    nTest: 100,
    maxSeqLen: 256,
    batch: 16,
    steps: 300,
    lr: 3e-3,
    checkpointEvery: 100,
    width: 32,
    layers: 2,
    departures: [
      "500 train and 100 test automata (authors: 5,000 and 500)",
      "instances truncated to 256 tokens (authors: 4,096, i.e. never)",
      "models of width 32 and 2 layers",
      "300 steps of batch 16 (≈10 epochs of the small set), Adam lr 3e-3 cosine",
    ],
  },
  paper: {
    nTrain: 5000,
    nTest: 500,
    maxSeqLen: 4096,
    batch: 32,
    steps: Math.ceil(5000 / 32) * 15,
    lr: 5e-4,
    checkpointEvery: 500,
    width: 256,
    layers: 4,
    departures: ["model sizes guessed (width 256, 4 layers): Akyürek et al.'s are not at hand"],
  },
};
