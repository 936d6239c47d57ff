/**
 * Park et al. (2024) Tables 3 and 4 (A.3.9), for printing iclab's results next to the paper's.
 * GINC: vocabulary 100, ICL accuracy at 64 examples of length 10 with 90% intervals; embedding
 * 768 and 12 layers, the LSTM 768 × 6 layers. RegBench: the configurations of Akyürek et al.;
 * the Transformer's 92.6 after 15 epochs is the number Akyürek et al. report.
 */

/** One row of Table 3. */
export interface GincPaperRow {
  params: string;
  trainPpl: number;
  validPpl: number;
  iclAcc: number;
  iclHalfWidth: number;
}

export const GINC_PAPER: Record<string, GincPaperRow> = {
  lstm: { params: "29M", trainPpl: 3.53, validPpl: 3.71, iclAcc: 96.4, iclHalfWidth: 0.6 },
  transformer: { params: "86M", trainPpl: 4.06, validPpl: 4.14, iclAcc: 84.2, iclHalfWidth: 5.1 },
  mamba: { params: "90M", trainPpl: 4.3, validPpl: 4.57, iclAcc: 87.1, iclHalfWidth: 7.8 },
  mambaformer: { params: "77M", trainPpl: 4.22, validPpl: 4.77, iclAcc: 79.6, iclHalfWidth: 3.8 },
  hybrid: { params: "74M", trainPpl: 4.18, validPpl: 4.65, iclAcc: 85.0, iclHalfWidth: 3.1 },
};

/** One row of Table 4: perplexities and greedy-decoding accuracy (%). */
export interface RegBenchPaperRow {
  trainPpl: number;
  validPpl: number;
  acc: number;
}

export const REGBENCH_PAPER: Record<"15" | "120", Record<string, RegBenchPaperRow>> = {
  "15": {
    lstm: { trainPpl: 6.2, validPpl: 6.39, acc: 51.0 },
    transformer: { trainPpl: 4.2, validPpl: 4.17, acc: 92.6 },
    mamba: { trainPpl: 5.59, validPpl: 5.69, acc: 69.4 },
    mambaformer: { trainPpl: 1.01, validPpl: 1.01, acc: 99.8 },
    hybrid: { trainPpl: 1.01, validPpl: 1.01, acc: 99.9 },
  },
  "120": {
    lstm: { trainPpl: 3.33, validPpl: 4.37, acc: 73.5 },
    transformer: { trainPpl: 1.03, validPpl: 1.1, acc: 98.9 },
    mamba: { trainPpl: 3.12, validPpl: 3.32, acc: 87.8 },
    mambaformer: { trainPpl: 1.01, validPpl: 1.01, acc: 99.8 },
    hybrid: { trainPpl: 1.01, validPpl: 1.01, acc: 99.9 },
  },
};
