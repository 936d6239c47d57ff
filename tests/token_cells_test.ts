/**
 * Token cells (exp:ginc, exp:regbench on the cell pipeline): a cell stopped after a checkpoint
 * and resumed ends with the records and final weights of an uninterrupted one; a finished cell
 * is reused; exp:ginc's shards merged by exp:report give the one-process summary.
 */
import assert from "node:assert/strict";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { chunkStream, pretrainingStream } from "../tasks/ginc.ts";
import { buildGincFamily } from "../tasks/ginc_hmm.ts";
import {
  runTokenCell,
  tokenCells,
  type TokenData,
  type TokenRecipe,
} from "../experiments/lib/token_cells.ts";
import { meanTokenLoss, type TokenArch } from "../experiments/lib/token_train.ts";
import { exists, run, summaryOf } from "./cells_util.ts";

const be = cpuBackend();
const family = buildGincFamily(new Rng(1), { nSymbols: 12, nValues: 3, nSlots: 3, nHmms: 3 });
const blocks = chunkStream(pretrainingStream(new Rng(2), family, 8, 127), 16);
const B = 4, T = 16;

interface Metrics {
  loss: number;
  weights: number[];
}

/** A tiny stream; `stopAt` makes the draw of that step throw (a crash mid-cell). */
function data(stopAt?: number): TokenData<Metrics> {
  return {
    draw: (rng, step) => {
      if (step === stopAt) throw new Error(`stopped at step ${step}`);
      const ids = new Int32Array(B * T);
      for (let i = 0; i < B; i++) ids.set(blocks[rng.int(blocks.length)], i * T);
      return { ids, batch: B, length: T, ignore: null };
    },
    evaluate: async (m) => {
      const weights: number[] = [];
      for (const p of m.parameters()) weights.push(...await p.floats());
      const ids = new Int32Array(B * T);
      for (let i = 0; i < B; i++) ids.set(blocks[i], i * T);
      return { loss: await meanTokenLoss(m, [{ ids, batch: B, length: T }]), weights };
    },
  };
}

const recipe: TokenRecipe = {
  dir: "tiny",
  size: (arch: TokenArch) => ({ vocab: 12, width: 8, layers: arch === "lstm" ? 2 : 1, maxLen: T }),
  steps: () => 12,
  batch: B,
  length: T,
  lr: () => 1e-2,
  clip: 1,
  checkpointEvery: 4,
  data: { test: "tiny" },
};

const lines = async (path: string) =>
  (await Deno.readTextFile(path)).trim().split("\n").map((l) => {
    const { seconds: _, ...rest } = JSON.parse(l);
    return rest;
  });

for (const arch of ["lstm", "mamba"] as const) {
  Deno.test(`token cells: ${arch} stopped after a checkpoint and resumed equals a straight run`, async () => {
    const tmp = await Deno.makeTempDir({ prefix: "iclab-token-cells-" });
    const [cell] = tokenCells("tiny", [arch], [3], recipe);
    const straight = await runTokenCell(`${tmp}/a`, cell, recipe, data(), be);
    // Records every step (12 steps / 10), a checkpoint at 8, stopped in step 10.
    await assert.rejects(runTokenCell(`${tmp}/b`, cell, recipe, data(9), be), /stopped at step 9/);
    const cut = await lines(`${tmp}/b/${cell.folder}/metrics.jsonl`);
    assert.equal(cut.at(-1).step, 9, "records past the checkpoint, to be cut back");
    assert.equal(await exists(`${tmp}/b/${cell.folder}/result.json`), false);
    const resumed = await runTokenCell(`${tmp}/b`, cell, recipe, data(), be);
    assert.deepEqual(resumed.losses, straight.losses);
    assert.deepEqual(resumed.losses.map(([s]) => s), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(resumed.metrics, straight.metrics, "final weights and loss");
    assert.deepEqual(
      await lines(`${tmp}/b/${cell.folder}/metrics.jsonl`),
      await lines(`${tmp}/a/${cell.folder}/metrics.jsonl`),
    );
    assert.ok(resumed.seconds > 0);
    // Finished: reused as it is, even with a data stream that would fail.
    const again = await runTokenCell(`${tmp}/b`, cell, recipe, data(0), be);
    assert.deepEqual(again, resumed);
    await Deno.remove(tmp, { recursive: true });
  });
}

Deno.test("token cells: exp:ginc's two shards merged by exp:report equal one process", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "iclab-ginc-cells-" });
  const args = ["--steps=3", "--models=lstm,mamba", "--backend=cpu", "--checkpoint-every=2"];
  const listed = await run("ginc", [...args, "--list-cells", "--shards=2"]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /ginc\/lstm-32x2-seed1-\w{8} .*shard \d\/2/);
  assert.match(listed.stdout, /2 cells/);
  const one = await run("ginc", [...args, `--out=${tmp}/one`]);
  assert.equal(one.code, 0, one.stderr.slice(-2000));
  for (const i of [0, 1]) {
    const s = await run("ginc", [...args, `--out=${tmp}/s${i}`, `--shard=${i}/2`]);
    assert.equal(s.code, 0, s.stderr.slice(-2000));
    assert.match(s.stdout, /1 of 2 cells have results/);
    assert.equal(await exists(`${tmp}/s${i}/summary.json`), false, "a shard wrote a summary");
  }
  const m = await run("report", [`${tmp}/s0`, `${tmp}/s1`, "--out", `${tmp}/merged`]);
  assert.equal(m.code, 0, m.stderr.slice(-2000));
  assert.deepEqual(await summaryOf(`${tmp}/merged`), await summaryOf(`${tmp}/one`));
  const bad = await run("ginc", [...args, "--shard=2/2", `--out=${tmp}/bad`]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--shard must be I\/N/);
  assert.equal(await exists(`${tmp}/bad`), false);
  await Deno.remove(tmp, { recursive: true });
});
