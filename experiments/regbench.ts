/**
 * `deno task exp:regbench`: Park et al. Table 4 (A.3.9) — token models trained on RegBench
 * (Akyürek et al.'s random automata), then train/valid perplexity and greedy-decoding accuracy
 * on held-out automata (every position's argmax, teacher-forced, checked against the automaton),
 * next to the paper's numbers after 15 and 120 epochs. One cell per model × seed
 * (token_cells.ts): checkpoints, exact resume, shards, exp:report.
 */
import { Rng } from "../core/rng.ts";
import { type Interval, padSequences, regbenchAccuracy } from "../tasks/formal_eval.ts";
import { RegBench } from "../tasks/regbench.ts";
import { writeAtomic } from "./lib/files.ts";
import { REGBENCH_PAPER } from "./lib/formal_paper.ts";
import { REGBENCH_PRESETS } from "./lib/regbench_presets.ts";
import { runTokenCells, tokenCells, type TokenData } from "./lib/token_cells.ts";
import { tokenExperimentCli } from "./lib/token_cli.ts";
import { type IdBatch, meanTokenLoss, predictIds } from "./lib/token_train.ts";

const NAME = "exp:regbench";
const run = tokenExperimentCli(
  NAME,
  "RegBench (Park et al. Table 4): perplexity and greedy accuracy",
  REGBENCH_PRESETS,
);
const { preset, steps } = run;
const t0 = performance.now();
const rb = new RegBench({ maxSeqLen: preset.maxSeqLen });
const recipe = {
  dir: "regbench",
  size: () => ({
    vocab: rb.vocabSize,
    width: preset.width,
    layers: preset.layers,
    maxLen: preset.maxSeqLen,
  }),
  steps,
  batch: preset.batch,
  length: preset.maxSeqLen,
  lr: run.lr,
  clip: 1,
  checkpointEvery: run.checkpointEvery,
  data: { nTrain: preset.nTrain, nTest: preset.nTest, maxSeqLen: preset.maxSeqLen },
};

interface RegBenchMetrics {
  trainPpl: number;
  validPpl: number;
  tokenAcc: number;
  instanceAcc: Interval;
}

/** One seed's automata (sampled in a few seconds, so not cached), batched for training and test. */
function prepare(seed: number): Promise<TokenData<RegBenchMetrics>> {
  const t = performance.now();
  const data = rb.dataset(new Rng(seed).fork("regbench"), preset.nTrain, preset.nTest);
  console.log(
    `  seed ${seed}: ${data.train.length} train and ${data.test.length} test automata in ` +
      `${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const batchOf = (items: { tokens: Int32Array }[]): IdBatch => ({
    ...padSequences(items.map((x) => x.tokens), rb.pad),
    ignore: rb.pad,
  });
  const chunks = <T>(xs: T[], n: number) =>
    Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
  const trainEval = chunks(data.train.slice(0, data.test.length), preset.batch).map(batchOf);
  const testChunks = chunks(data.test, preset.batch);
  const testEval = testChunks.map(batchOf);
  return Promise.resolve({
    draw: (rng) =>
      batchOf(Array.from({ length: preset.batch }, () => data.train[rng.int(data.train.length)])),
    evaluate: async (m) => {
      const preds: Int32Array[] = [];
      for (const [i, b] of testEval.entries()) {
        const all = await predictIds(m, b);
        testChunks[i].forEach((_, j) => preds.push(all.subarray(j * b.length, (j + 1) * b.length)));
      }
      const acc = regbenchAccuracy(rb, data.test, preds);
      return {
        trainPpl: Math.exp(await meanTokenLoss(m, trainEval)),
        validPpl: Math.exp(await meanTokenLoss(m, testEval)),
        tokenAcc: acc.token,
        instanceAcc: acc.perInstance,
      };
    },
  });
}

const rows = await runTokenCells({
  experiment: "regbench",
  out: run.out,
  backend: run.backend,
  resume: run.resume,
  sweep: run.sweep,
  recipe,
  cells: tokenCells("regbench", run.models, run.seeds, recipe),
  prepare,
});

const pct = (v: number) => (100 * v).toFixed(1);
console.log(
  `\n| model | seed | params | train s | train PPL | valid PPL | greedy acc (token) | ` +
    `per instance [5–95%] | paper 15 ep. (PPL, acc) | paper 120 ep. |`,
);
console.log(`|${" --- |".repeat(10)}`);
for (const r of rows) {
  const p15 = REGBENCH_PAPER["15"][r.model], p120 = REGBENCH_PAPER["120"][r.model];
  const paper = (p?: { trainPpl: number; validPpl: number; acc: number }) =>
    p ? `${p.trainPpl}/${p.validPpl}, ${p.acc}` : "—";
  const m = r.metrics;
  const cols = m
    ? [
      m.trainPpl.toFixed(2),
      m.validPpl.toFixed(2),
      pct(m.tokenAcc),
      `${pct(m.instanceAcc.mean)} [${pct(m.instanceAcc.lo)}, ${pct(m.instanceAcc.hi)}]`,
    ]
    : Array(4).fill("diverged");
  console.log(
    `| ${r.model} | ${r.seed} | ${r.params} | ${r.seconds.toFixed(0)} | ${cols.join(" | ")} | ` +
      `${paper(p15)} | ${paper(p120)} |`,
  );
}
await writeAtomic(
  `${run.out}/summary.json`,
  JSON.stringify(
    {
      experiment: "regbench",
      preset: run.presetName,
      steps: Object.fromEntries(run.models.map((m) => [m, steps(m)])),
      seeds: run.seeds,
      lr: Object.fromEntries(run.models.map((m) => [m, run.lr(m)])),
      departures: preset.departures,
      wallSeconds: (performance.now() - t0) / 1000,
      rows,
    },
    null,
    1,
  ) + "\n",
);
console.log(`\n${NAME}: wrote ${run.out}/summary.json`);
