/**
 * `deno task exp:regbench`: Park et al. Table 4 (A.3.9) — token models trained on RegBench
 * (Akyürek et al.'s random automata), then train/valid perplexity and greedy-decoding accuracy
 * on held-out automata (every position's argmax, teacher-forced, checked against the automaton),
 * next to the paper's numbers after 15 and 120 epochs.
 */
import { Rng } from "../core/rng.ts";
import { cosineSchedule } from "../nn/optim.ts";
import { padSequences, regbenchAccuracy } from "../tasks/formal_eval.ts";
import { RegBench } from "../tasks/regbench.ts";
import { writeAtomic } from "./lib/files.ts";
import { tokenExperimentCli } from "./lib/token_cli.ts";
import { REGBENCH_PAPER } from "./lib/formal_paper.ts";
import { REGBENCH_PRESETS } from "./lib/regbench_presets.ts";
import {
  type IdBatch,
  makeTokenModel,
  meanTokenLoss,
  predictIds,
  trainTokens,
} from "./lib/token_train.ts";

const NAME = "exp:regbench";
const { presetName, preset, steps, seed, models, backend, dir } = await tokenExperimentCli(
  NAME,
  "RegBench (Park et al. Table 4): perplexity and greedy accuracy",
  REGBENCH_PRESETS,
);

const rb = new RegBench({ maxSeqLen: preset.maxSeqLen });
const root = new Rng(seed);
const t0 = performance.now();
const data = rb.dataset(root.fork("regbench"), preset.nTrain, preset.nTest);
console.log(
  `  ${data.train.length} train and ${data.test.length} test automata in ` +
    `${((performance.now() - t0) / 1000).toFixed(1)} s`,
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

interface Row {
  model: string;
  params: number;
  seconds: number;
  trainPpl: number;
  validPpl: number;
  tokenAcc: number;
  instanceAcc: { mean: number; lo: number; hi: number };
}
const rows: Row[] = [];
for (const arch of models) {
  const m = makeTokenModel(
    arch,
    {
      vocab: rb.vocabSize,
      width: preset.width,
      layers: preset.layers,
      maxLen: preset.maxSeqLen,
    },
    seed,
    backend,
  );
  const sample = (rng: Rng) =>
    batchOf(Array.from({ length: preset.batch }, () => data.train[rng.int(data.train.length)]));
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
  const preds: Int32Array[] = [];
  for (const [i, b] of testEval.entries()) {
    const all = await predictIds(m, b);
    testChunks[i].forEach((_, j) => preds.push(all.subarray(j * b.length, (j + 1) * b.length)));
  }
  const acc = regbenchAccuracy(rb, data.test, preds);
  rows.push({
    model: arch,
    params: m.numParams(),
    seconds: r.seconds,
    trainPpl: Math.exp(await meanTokenLoss(m, trainEval)),
    validPpl: Math.exp(await meanTokenLoss(m, testEval)),
    tokenAcc: acc.token,
    instanceAcc: acc.perInstance,
  });
  m.dispose();
}

const pct = (v: number) => (100 * v).toFixed(1);
console.log(
  `\n| model | params | train s | train PPL | valid PPL | greedy acc (token) | ` +
    `per instance [5–95%] | paper 15 ep. (PPL, acc) | paper 120 ep. |`,
);
console.log(`|${" --- |".repeat(9)}`);
for (const r of rows) {
  const p15 = REGBENCH_PAPER["15"][r.model], p120 = REGBENCH_PAPER["120"][r.model];
  const paper = (p?: { trainPpl: number; validPpl: number; acc: number }) =>
    p ? `${p.trainPpl}/${p.validPpl}, ${p.acc}` : "—";
  const a = r.instanceAcc;
  console.log(
    `| ${r.model} | ${r.params} | ${r.seconds.toFixed(0)} | ${r.trainPpl.toFixed(2)} | ` +
      `${r.validPpl.toFixed(2)} | ${pct(r.tokenAcc)} | ${pct(a.mean)} [${pct(a.lo)}, ` +
      `${pct(a.hi)}] | ${paper(p15)} | ${paper(p120)} |`,
  );
}
await writeAtomic(
  `${dir}/summary.json`,
  JSON.stringify(
    { preset: presetName, steps, seed, departures: preset.departures, rows },
    null,
    1,
  ) +
    "\n",
);
console.log(`\n${NAME}: wrote ${dir}/summary.json`);
