/**
 * Cells and run folders (issue 16): a tiny sweep run in one process, as two shards merged by
 * exp:report, and SIGKILLed mid-cell then resumed gives the same summary and metrics.jsonl;
 * a finished cell is reused, another configuration and a second process are refused.
 */
import assert from "node:assert/strict";
import { command, exists, metricsOf, run, snapshot, summaryOf, SWEEP } from "./cells_util.ts";

const tmp = await Deno.makeTempDir({ prefix: "iclab-cells-" });
const one = `${tmp}/one`;

/** The cell folders of a run folder (task/cell). */
async function cellDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const t of Deno.readDir(dir)) {
    if (!t.isDirectory) continue;
    for await (const c of Deno.readDir(`${dir}/${t.name}`)) {
      if (c.isDirectory) out.push(`${dir}/${t.name}/${c.name}`);
    }
  }
  return out.sort();
}

Deno.test("cells: one process, two shards merged by exp:report, and kill -9 + resume agree", async () => {
  const r = await run("parity", [...SWEEP, "--out", one]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const reference = await summaryOf(one);
  const refMetrics = await metricsOf(one);
  assert.equal(Object.keys(refMetrics).length, 4);
  for (const lines of Object.values(refMetrics)) {
    const steps = lines.map((l) => (l as { step: number }).step);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b), "metrics out of order");
    assert.ok(steps.includes(20));
  }
  assert.ok(await exists(`${one}/report.md`));

  // Two shards into two folders, merged.
  for (const i of [0, 1]) {
    const s = await run("parity", [...SWEEP, "--out", `${tmp}/s${i}`, "--shard", `${i}/2`]);
    assert.equal(s.code, 0, s.stderr.slice(-2000));
    assert.match(s.stdout, /2 of 4 cells have results/);
    assert.equal(await exists(`${tmp}/s${i}/summary.json`), false, "a shard wrote a summary");
  }
  const m = await run("report", [`${tmp}/s0`, `${tmp}/s1`, "--out", `${tmp}/merged`]);
  assert.equal(m.code, 0, m.stderr.slice(-2000));
  assert.deepEqual(await summaryOf(`${tmp}/merged`), reference);
  assert.deepEqual(await metricsOf(`${tmp}/merged`), refMetrics);

  // Killed once a cell has records past its first checkpoint (step 5), then resumed.
  const killed = `${tmp}/killed`;
  const child = command("parity", [...SWEEP, "--out", killed]).spawn();
  let past = false;
  for (let i = 0; i < 600 && !past; i++) {
    await new Promise((res) => setTimeout(res, 25));
    for (const d of await cellDirs(killed).catch(() => [])) {
      if (await exists(`${d}/result.json`)) continue;
      const text = await Deno.readTextFile(`${d}/metrics.jsonl`).catch(() => "");
      if (text.split("\n").some((l) => l && JSON.parse(l).step > 5)) past = true;
    }
  }
  child.kill("SIGKILL");
  await child.output();
  assert.ok(past, "the run finished before it could be killed mid-cell");
  assert.equal(await exists(`${killed}/summary.json`), false);
  // A kill in mid-append leaves a torn last line: resume must drop it, not stall on it.
  const unfinished = [];
  for (const d of await cellDirs(killed)) if (!await exists(`${d}/result.json`)) unfinished.push(d);
  await Deno.writeTextFile(`${unfinished[0]}/metrics.jsonl`, `{"step": 2`, { append: true });
  const resumed = await run("parity", [...SWEEP, "--out", killed, "--resume"]);
  assert.equal(resumed.code, 0, resumed.stderr.slice(-2000));
  assert.match(resumed.stderr, /resumed from .* at step [1-9]/);
  assert.deepEqual(await summaryOf(killed), reference);
  assert.deepEqual(await metricsOf(killed), refMetrics);
  for (
    const f of [
      "learning_curves.svg",
      "accuracy_by_position.svg",
      "sparse_parity/flops_vs_error.svg",
    ]
  ) {
    const ref = await Deno.readTextFile(`${one}/${f}`);
    assert.equal(await Deno.readTextFile(`${tmp}/merged/${f}`), ref, `merged ${f}`);
    assert.equal(await Deno.readTextFile(`${killed}/${f}`), ref, `resumed ${f}`);
  }

  // Training time is carried over a resume: it never restarts from 0 in the records.
  for (const d of await cellDirs(killed)) {
    const secs = (await Deno.readTextFile(`${d}/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l).seconds as number);
    assert.deepEqual(secs, [...secs].sort((a, b) => a - b), `${d}: seconds went back`);
  }
});

Deno.test("cells: a finished folder is reused, never recomputed; another config is refused", async () => {
  const before = await snapshot(one);
  const again = await run("parity", [...SWEEP, "--out", one]);
  assert.equal(again.code, 0, again.stderr.slice(-2000));
  assert.equal(again.stdout.match(/finished earlier, reusing/g)?.length, 4);
  const after = await snapshot(one);
  for (const [k, v] of Object.entries(before)) {
    // Only the summary, report and figures are rewritten (with equal content but the wall time).
    if (/metrics|result|checkpoint|config|points/.test(k)) assert.equal(after[k], v, k);
  }

  const other = await run("parity", [...SWEEP, "--steps", "21", "--out", one]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /holds a run of another configuration.*--force/);
  assert.deepEqual(await snapshot(one), after, "a refused run changed files");

  // A cell folder whose config.json was changed by hand is not trusted either.
  const tampered = `${tmp}/tampered`;
  await new Deno.Command("cp", { args: ["-r", one, tampered] }).output();
  const [cell] = await cellDirs(tampered);
  const cfg = JSON.parse(await Deno.readTextFile(`${cell}/config.json`));
  await Deno.writeTextFile(`${cell}/config.json`, JSON.stringify({ ...cfg, lr: 0.5 }));
  const held = await snapshot(tampered);
  const t = await run("parity", [...SWEEP, "--out", tampered]);
  assert.equal(t.code, 2, t.stderr);
  assert.match(t.stderr, /config.json holds another configuration/);
  assert.deepEqual(await snapshot(tampered), held);

  const forced = `${tmp}/forced`;
  await Deno.mkdir(forced);
  await Deno.copyFile(`${one}/experiment.json`, `${forced}/experiment.json`);
  await Deno.writeTextFile(`${forced}/stale.svg`, "old");
  const f = await run("parity", [...SWEEP, "--steps", "3", "--out", forced, "--force"]);
  assert.equal(f.code, 0, f.stderr.slice(-2000));
  assert.equal(await exists(`${forced}/stale.svg`), false, "--force kept old files");
  const s = JSON.parse(await Deno.readTextFile(`${forced}/summary.json`));
  assert.equal(s.tasks[0].runs[0].steps, 3);
});

Deno.test("cells: --resume on nothing, and --out on a file or unwritable place, exit 2", async () => {
  const none = await run("parity", [...SWEEP, "--out", `${tmp}/nothing`, "--resume"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--resume: .*nothing holds no run/);
  assert.equal(await exists(`${tmp}/nothing`), false);

  const file = `${tmp}/a-file`;
  await Deno.writeTextFile(file, "keep me");
  for (const [out, msg] of [[file, /is a file, not a folder/], [`${file}/sub`, /--out .*sub/]]) {
    const r = await run("parity", [...SWEEP, "--out", out as string]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg as RegExp);
    assert.equal(r.stderr.trim().split("\n").length, 2, r.stderr); // the message + the --help hint
  }
  assert.equal(await Deno.readTextFile(file), "keep me");
});

Deno.test("cells: a second process on a running cell is refused, the first's records stay whole", async () => {
  const dir = `${tmp}/busy`;
  const args = [...SWEEP, "--seeds", "1", "--models", "mamba", "--steps", "60", "--out", dir];
  const first = command("parity", args).spawn();
  let locked = false;
  for (let i = 0; i < 600 && !locked; i++) {
    await new Promise((res) => setTimeout(res, 25));
    for (const d of await cellDirs(dir).catch(() => [])) locked ||= await exists(`${d}/lock`);
  }
  assert.ok(locked, "the first process never locked its cell");
  const second = await run("parity", args);
  const out = await first.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /is being run by pid \d+ .*refusing to run it twice/);
  const [cell] = await cellDirs(dir);
  const lines = (await Deno.readTextFile(`${cell}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  const records = lines.map((l) => JSON.stringify({ ...l, seconds: 0 }));
  assert.equal(new Set(records).size, records.length, "duplicated records");
  const steps = lines.map((l) => l.step);
  assert.deepEqual(steps, [...steps].sort((a, b) => a - b), "interleaved records");
  assert.equal(steps.at(-1), 60);
  assert.equal(await exists(`${cell}/lock`), false, "lock left behind");
});

Deno.test("cells: a diverging sweep records every cell as diverged and still writes everything", async () => {
  const dir = `${tmp}/diverged`;
  const r = await run("parity", [
    ...SWEEP,
    "--seeds",
    "1",
    "--lr",
    "1e6",
    "--clip",
    "0",
    "--out",
    dir,
  ]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assert.match(r.stderr, /loss became (NaN|Infinity|-Infinity) near step/);
  const s = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
  for (const run of s.tasks[0].runs) {
    assert.ok(run.diverged, `${run.model} not recorded as diverged`);
    assert.ok(run.diverged.step >= 1 && run.steps === run.diverged.step);
  }
  const report = await Deno.readTextFile(`${dir}/report.md`);
  assert.match(report, /2 cells, 2 diverged/);
  for (const f of ["learning_curves.svg", "accuracy_by_position.svg"]) {
    assert.ok((await Deno.readTextFile(`${dir}/${f}`)).startsWith("<svg"), f);
  }
  // The merged report of the same folder says the same.
  const m = await run("report", [dir]);
  assert.equal(m.code, 0, m.stderr.slice(-2000));
  assert.match(await Deno.readTextFile(`${dir}/report.md`), /2 cells, 2 diverged/);
});

Deno.test("exp:report: lists missing cells (exit 3, nothing written) and refuses differing configs", async () => {
  const r = await run("report", [`${tmp}/s0`]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /missing +sparse_parity\/\w+-w8l1h2-seed\d-[0-9a-f]{8}/);
  assert.equal(await exists(`${tmp}/s0/summary.json`), false);

  const bad = `${tmp}/s1-tampered`;
  await Deno.mkdir(bad);
  await Deno.copyFile(`${tmp}/s1/experiment.json`, `${bad}/experiment.json`);
  const [cell] = (await cellDirs(`${tmp}/s1`)).map((d) => d.slice(`${tmp}/s1/`.length));
  await Deno.mkdir(`${bad}/${cell}`, { recursive: true });
  const cfg = JSON.parse(await Deno.readTextFile(`${tmp}/s1/${cell}/config.json`));
  await Deno.writeTextFile(`${bad}/${cell}/config.json`, JSON.stringify({ ...cfg, lr: 0.5 }));
  const refused = await run("report", [`${tmp}/s1`, bad, "--out", `${tmp}/never`]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /config.json differs/);
  assert.equal(await exists(`${tmp}/never`), false);
  await Deno.remove(tmp, { recursive: true });
});
