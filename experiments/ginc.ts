/**
 * `deno task exp:ginc`: Park et al. Table 3 (A.3.9) — token models pre-trained on GINC
 * (Xie et al.'s mixture of HMMs, vocabulary 100), then their train/valid perplexity and in-context
 * accuracy against the number of examples k, with bootstrap 5–95% intervals, next to the paper.
 * One cell per model × seed (token_cells.ts): checkpoints, exact resume, shards, exp:report.
 *
 *   deno task exp:ginc                                   # quick preset, five models
 *   deno task exp:ginc --out runs/ginc --shard 0/2       # half the cells; merge with exp:report
 */
import { Rng } from "../core/rng.ts";
import {
  gincEvalPrompts,
  gincIclAccuracy,
  type Interval,
  padSequences,
} from "../tasks/formal_eval.ts";
import { chunkStream, pretrainingStream } from "../tasks/ginc.ts";
import { buildGincFamily, GINC_DELIMITER } from "../tasks/ginc_hmm.ts";
import { writeAtomic } from "./lib/files.ts";
import { GINC_PAPER } from "./lib/formal_paper.ts";
import { GINC_PRESETS, gincPromptLength } from "./lib/ginc_presets.ts";
import { cachedTokens } from "./lib/token_cache.ts";
import { runTokenCells, tokenCells, type TokenData } from "./lib/token_cells.ts";
import { tokenExperimentCli } from "./lib/token_cli.ts";
import { type IdBatch, meanTokenLoss, predictIds, type TokenArch } from "./lib/token_train.ts";

const NAME = "exp:ginc";
const run = tokenExperimentCli(
  NAME,
  "GINC (Park et al. Table 3): perplexity and ICL accuracy vs k",
  GINC_PRESETS,
);
const { preset, steps } = run;
const t0 = performance.now();
// Learned positions cover the longest evaluation prompt (beyond `block` they are untrained).
const longest = Math.max(preset.block, ...preset.ks.map((k) => gincPromptLength(preset, k)));
const VOCAB = 100; // buildGincFamily's default, Xie et al.'s
const recipe = {
  dir: "ginc",
  size: (arch: TokenArch) => ({
    vocab: VOCAB,
    width: preset.width,
    layers: arch === "lstm" ? preset.lstmLayers : preset.layers,
    maxLen: longest,
  }),
  steps,
  batch: preset.batch,
  length: preset.block,
  lr: run.lr,
  clip: 1,
  checkpointEvery: run.checkpointEvery,
  data: {
    trainDocs: preset.trainDocs,
    trainDocLength: preset.trainDocLength,
    validDocs: preset.validDocs,
    validDocLength: preset.validDocLength,
    block: preset.block,
    ks: preset.ks,
    promptsPerK: preset.promptsPerK,
    exampleLength: preset.exampleLength,
  },
};

interface GincMetrics {
  trainPpl: number;
  validPpl: number;
  icl: Interval[];
}

/** One seed's GINC: its HMM family, the cached pre-training and validation streams, the prompts. */
async function prepare(seed: number, dataDir: string): Promise<TokenData<GincMetrics>> {
  const root = new Rng(seed);
  const family = buildGincFamily(root.fork("family"));
  const describe = (docs: number, len: number) => ({ generator: "ginc", seed, docs, len });
  const log = (l: string) => console.log(`  ${l}`);
  const stream = (split: "train" | "valid", docs: number, len: number) =>
    cachedTokens(
      dataDir,
      `${split}-seed${seed}`,
      describe(docs, len),
      () => pretrainingStream(root.fork(split), family, docs, len),
      log,
    );
  const train = await stream("train", preset.trainDocs, preset.trainDocLength);
  const valid = await stream("valid", preset.validDocs, preset.validDocLength);
  const trainBlocks = chunkStream(train.tokens, preset.block);
  const validBlocks = chunkStream(valid.tokens, preset.block);
  const toBatches = (blocks: Int32Array[]): IdBatch[] => {
    const out: IdBatch[] = [];
    for (let i = 0; i < blocks.length; i += preset.batch) {
      out.push({
        ...padSequences(blocks.slice(i, i + preset.batch), GINC_DELIMITER),
        ignore: null,
      });
    }
    return out;
  };
  // Perplexity on the training set is measured on as many blocks as the validation set has,
  // spread over the stream: its first blocks are all one document, i.e. one concept.
  const stride = Math.max(1, Math.floor(trainBlocks.length / validBlocks.length));
  const trainEval = toBatches(validBlocks.map((_, i) => trainBlocks[i * stride]));
  const validEval = toBatches(validBlocks);
  const promptsByK = preset.ks.map((k) =>
    gincEvalPrompts(root.fork("prompts"), family, k, preset.promptsPerK, preset.exampleLength)
  );
  return {
    draw: (rng) => {
      const part = Array.from(
        { length: preset.batch },
        () => trainBlocks[rng.int(trainBlocks.length)],
      );
      return { ...padSequences(part, GINC_DELIMITER), ignore: null };
    },
    evaluate: async (m) => {
      const icl: Interval[] = [];
      for (const prompts of promptsByK) {
        const last: number[] = [];
        // Prompts of one k have one length; 50 at a time bounds the logits' memory.
        for (let i = 0; i < prompts.length; i += 50) {
          const part = prompts.slice(i, i + 50);
          const b = padSequences(part.map((p) => p.tokens), GINC_DELIMITER);
          const all = await predictIds(m, { ...b, ignore: null });
          part.forEach((_, j) => last.push(all[j * b.length + b.length - 1]));
        }
        icl.push(gincIclAccuracy(last, prompts));
      }
      return {
        trainPpl: Math.exp(await meanTokenLoss(m, trainEval)),
        validPpl: Math.exp(await meanTokenLoss(m, validEval)),
        icl,
      };
    },
  };
}

const rows = await runTokenCells({
  experiment: "ginc",
  out: run.out,
  backend: run.backend,
  resume: run.resume,
  sweep: run.sweep,
  recipe,
  cells: tokenCells("ginc", run.models, run.seeds, recipe),
  prepare,
});

const pct = (v: number) => (100 * v).toFixed(1);
// k whose prompts are longer than the training blocks: the model extrapolates in length there.
const beyond = (k: number) => gincPromptLength(preset, k) > preset.block ? "†" : "";
console.log(
  `\n| model | seed | params | train s | train PPL | valid PPL | ` +
    preset.ks.map((k) => `ICL k=${k}${beyond(k)}`).join(" | ") + " | paper (k=64) |",
);
console.log(`|${" --- |".repeat(7 + preset.ks.length)}`);
for (const r of rows) {
  const p = GINC_PAPER[r.model];
  const paper = p
    ? `${p.iclAcc} ± ${p.iclHalfWidth}, PPL ${p.trainPpl}/${p.validPpl}, ${p.params}`
    : "—";
  const m = r.metrics;
  const cols = m
    ? [
      m.trainPpl.toFixed(2),
      m.validPpl.toFixed(2),
      ...m.icl.map((a) => `${pct(a.mean)} [${pct(a.lo)}, ${pct(a.hi)}]`),
    ]
    : Array(2 + preset.ks.length).fill("diverged");
  console.log(
    `| ${r.model} | ${r.seed} | ${r.params} | ${r.seconds.toFixed(0)} | ${cols.join(" | ")} | ` +
      `${paper} |`,
  );
}
if (preset.ks.some((k) => beyond(k))) {
  console.log(
    `† prompts longer than the ${preset.block}-token training blocks (k=64: ` +
      `${gincPromptLength(preset, 64)} tokens): length extrapolation, where the learned ` +
      `positions of the Transformer and the Standard Hybrid are untrained`,
  );
}
await writeAtomic(
  `${run.out}/summary.json`,
  JSON.stringify(
    {
      experiment: "ginc",
      preset: run.presetName,
      steps: Object.fromEntries(run.models.map((m) => [m, steps(m)])),
      seeds: run.seeds,
      lr: Object.fromEntries(run.models.map((m) => [m, run.lr(m)])),
      ks: preset.ks,
      departures: preset.departures,
      wallSeconds: (performance.now() - t0) / 1000,
      rows,
    },
    null,
    1,
  ) + "\n",
);
console.log(`\n${NAME}: wrote ${run.out}/summary.json`);
