/**
 * `deno task exp:ginc`: Park et al. Table 3 (A.3.9) — token models pre-trained on GINC
 * (Xie et al.'s mixture of HMMs, vocabulary 100), then their train/valid perplexity and in-context
 * accuracy against the number of examples k, with bootstrap 5–95% intervals, next to the paper.
 */
import { Rng } from "../core/rng.ts";
import { cosineSchedule } from "../nn/optim.ts";
import {
  gincEvalPrompts,
  gincIclAccuracy,
  type Interval,
  padSequences,
} from "../tasks/formal_eval.ts";
import { chunkStream, pretrainingStream } from "../tasks/ginc.ts";
import { buildGincFamily, GINC_DELIMITER } from "../tasks/ginc_hmm.ts";
import { writeAtomic } from "./lib/files.ts";
import { tokenExperimentCli } from "./lib/token_cli.ts";
import { GINC_PAPER } from "./lib/formal_paper.ts";
import { GINC_PRESETS } from "./lib/ginc_presets.ts";
import { cachedTokens } from "./lib/token_cache.ts";
import {
  type IdBatch,
  makeTokenModel,
  meanTokenLoss,
  predictIds,
  trainTokens,
} from "./lib/token_train.ts";

const NAME = "exp:ginc";
const { presetName, preset, steps, seed, models, backend, dir } = await tokenExperimentCli(
  NAME,
  "GINC (Park et al. Table 3): perplexity and ICL accuracy vs k",
  GINC_PRESETS,
);

const root = new Rng(seed);
const family = buildGincFamily(root.fork("family"));
const describe = (docs: number, len: number) => ({ generator: "ginc", seed, docs, len });
const log = (l: string) => console.log(`  ${l}`);
const train = await cachedTokens(
  dir,
  "train",
  describe(preset.trainDocs, preset.trainDocLength),
  () => pretrainingStream(root.fork("train"), family, preset.trainDocs, preset.trainDocLength),
  log,
);
const valid = await cachedTokens(
  dir,
  "valid",
  describe(preset.validDocs, preset.validDocLength),
  () => pretrainingStream(root.fork("valid"), family, preset.validDocs, preset.validDocLength),
  log,
);
const trainBlocks = chunkStream(train.tokens, preset.block);
const validBlocks = chunkStream(valid.tokens, preset.block);
const toBatches = (blocks: Int32Array[]): IdBatch[] => {
  const out: IdBatch[] = [];
  for (let i = 0; i < blocks.length; i += preset.batch) {
    const part = blocks.slice(i, i + preset.batch);
    out.push({ ...padSequences(part, GINC_DELIMITER), ignore: null });
  }
  return out;
};
// Perplexity on the training set is measured on as many blocks as the validation set has.
const trainEval = toBatches(trainBlocks.slice(0, validBlocks.length));
const validEval = toBatches(validBlocks);
const promptsByK = preset.ks.map((k) =>
  gincEvalPrompts(root.fork("prompts"), family, k, preset.promptsPerK, preset.exampleLength)
);

interface Row {
  model: string;
  params: number;
  seconds: number;
  trainPpl: number;
  validPpl: number;
  icl: Interval[];
}
const rows: Row[] = [];
for (const arch of models) {
  const m = makeTokenModel(
    arch,
    {
      vocab: family.nSymbols,
      width: preset.width,
      layers: arch === "lstm" ? preset.lstmLayers : preset.layers,
      maxLen: preset.block,
    },
    seed,
    backend,
  );
  const sample = (rng: Rng): IdBatch => {
    const part = Array.from(
      { length: preset.batch },
      () => trainBlocks[rng.int(trainBlocks.length)],
    );
    return { ...padSequences(part, GINC_DELIMITER), ignore: null };
  };
  const r = await trainTokens(m, sample, root.fork(`batches-${arch}`), backend, {
    steps,
    schedule: cosineSchedule({
      lr: preset.lr,
      totalSteps: steps,
      warmupSteps: Math.ceil(steps / 20),
    }),
    clip: 1,
    logEvery: Math.max(1, Math.floor(steps / 10)),
    onLog: (s, l) => console.error(`  ${arch} step ${s}: loss ${l.toFixed(3)}`),
  });
  const icl: Interval[] = [];
  for (const prompts of promptsByK) {
    const b = padSequences(prompts.map((p) => p.tokens), GINC_DELIMITER);
    const all = await predictIds(m, { ...b, ignore: null });
    icl.push(gincIclAccuracy(prompts.map((_, i) => all[i * b.length + b.length - 1]), prompts));
  }
  rows.push({
    model: arch,
    params: m.numParams(),
    seconds: r.seconds,
    trainPpl: Math.exp(await meanTokenLoss(m, trainEval)),
    validPpl: Math.exp(await meanTokenLoss(m, validEval)),
    icl,
  });
  m.dispose();
}

const pct = (v: number) => (100 * v).toFixed(1);
console.log(
  `\n| model | params | train s | train PPL | valid PPL | ` +
    preset.ks.map((k) => `ICL k=${k}`).join(" | ") + " | paper (k=64) |",
);
console.log(`|${" --- |".repeat(6 + preset.ks.length)}`);
for (const r of rows) {
  const p = GINC_PAPER[r.model];
  const paper = p
    ? `${p.iclAcc} ± ${p.iclHalfWidth}, PPL ${p.trainPpl}/${p.validPpl}, ${p.params}`
    : "—";
  console.log(
    `| ${r.model} | ${r.params} | ${r.seconds.toFixed(0)} | ${r.trainPpl.toFixed(2)} | ` +
      `${r.validPpl.toFixed(2)} | ` +
      r.icl.map((a) => `${pct(a.mean)} [${pct(a.lo)}, ${pct(a.hi)}]`).join(" | ") +
      ` | ${paper} |`,
  );
}
await writeAtomic(
  `${dir}/summary.json`,
  JSON.stringify(
    { preset: presetName, steps, seed, ks: preset.ks, departures: preset.departures, rows },
    null,
    1,
  ) +
    "\n",
);
console.log(`\n${NAME}: wrote ${dir}/summary.json`);
