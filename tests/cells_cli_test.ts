/**
 * Selecting and launching cells (issue 16): stable ids, FLOPs-balanced shards, --list-cells,
 * --cell, --emit slurm (passes bash -n) and --emit parallel (run here with 2 jobs when GNU
 * parallel is installed); unique temporary names; figures that skip non-finite series.
 */
import assert from "node:assert/strict";
import { type Cell, shardCells } from "../experiments/lib/cells.ts";
import { errorCurveSvg } from "../experiments/plot.ts";
import { writeAtomic } from "../nn/checkpoint.ts";
import { exists, ROOT, run, summaryOf } from "./cells_util.ts";

const QUICK = [
  ...["--backend", "cpu", "--steps", "4", "--eval-every", "2", "--checkpoint-every", "2"],
  ...["--eval-prompts", "16", "--baseline-prompts", "16", "--width", "8", "--heads", "2"],
  ...["--models", "transformer,mamba", "--seeds", "1,2", "--points", "6"],
];

async function listed(args: string[]): Promise<{ id: string; flops: number }[]> {
  const r = await run("parity", [...QUICK, ...args, "--list-cells"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n").slice(0, -1).map((l) => {
    const [id, flops] = l.trim().split(/\s+/);
    return { id, flops: Number(flops) };
  });
}

Deno.test("cells: ids are stable, name the cell and change with its config", async () => {
  const a = await listed([]);
  assert.equal(a.length, 4);
  for (const c of a) {
    assert.match(c.id, /^sparse_parity\/(transformer|mamba)-w8l1h2-seed[12]-[0-9a-f]{8}$/);
  }
  assert.deepEqual(await listed([]), a);
  const b = await listed(["--lr", "0.01"]);
  assert.equal(b.length, 4);
  for (let i = 0; i < 4; i++) {
    assert.equal(b[i].id.slice(0, -8), a[i].id.slice(0, -8));
    assert.notEqual(b[i].id, a[i].id, "the hash ignores the lr");
  }
});

Deno.test("cells: shards cover every cell once, balanced by FLOPs, the same in every process", () => {
  const flops = [9, 7, 6, 5, 4, 3, 3, 2, 1, 1];
  const cells = flops.map((f, i) => ({ id: `c${i}`, flops: f }) as Cell);
  const shards = [0, 1, 2].map((i) => shardCells(cells, i, 3));
  assert.deepEqual(shards.flat().map((c) => c.id).sort(), cells.map((c) => c.id).sort());
  const loads = shards.map((s) => s.reduce((t, c) => t + c.flops, 0));
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `loads ${loads}`);
  assert.deepEqual([0, 1, 2].map((i) => shardCells(cells, i, 3)), shards);
});

Deno.test("cells: --cell runs only that cell; bad --shard and unknown --cell exit 2", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "iclab-cell-" });
  const [first] = await listed([]);
  const r = await run("parity", [...QUICK, "--cell", first.id, "--out", `${tmp}/one`]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assert.match(r.stdout, /1 of 4 cells to run/);
  assert.ok(await exists(`${tmp}/one/${first.id}/result.json`));
  for (
    const [bad, msg] of [
      [["--shard", "2/2"], /--shard must be I\/N/],
      [["--shard", "x"], /--shard must be I\/N/],
      [["--cell", "sparse_parity/nope"], /--cell names no cell.*nope/],
      [["--emit", "pbs"], /--emit must be one of slurm, parallel/],
      [["--checkpoint-every", ""], /--checkpoint-every needs a value/],
      [["--shard", "0/2", "--cell", first.id], /--shard and --cell both pick cells/],
    ] as const
  ) {
    const b = await run("parity", [...QUICK, ...bad, "--out", `${tmp}/bad`]);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, msg);
    assert.equal(await exists(`${tmp}/bad`), false);
  }
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("--emit slurm: an sbatch job array of shards that passes bash -n", async () => {
  const r = await run("parity", [
    ...QUICK,
    ...["--emit", "slurm", "--shards", "3", "--partition", "gpu", "--gpus", "2"],
    ...["--time", "12:00:00", "--out", "/scratch/parity sweep"],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const script = r.stdout;
  assert.match(script, /^#!\/bin\/bash\n/);
  for (
    const line of [
      "#SBATCH --array=0-2",
      "#SBATCH --partition=gpu",
      "#SBATCH --gres=gpu:2",
      "#SBATCH --time=12:00:00",
      "#SBATCH --requeue",
      `--shard "$SLURM_ARRAY_TASK_ID/$N"`,
      "N=3",
      "'/scratch/parity sweep'",
    ]
  ) assert.ok(script.includes(line), `lacks ${line}:\n${script}`);
  assert.ok(!/--emit|--shards|--partition/.test(script.split("exec ")[1]), script);
  const file = await Deno.makeTempFile({ suffix: ".sbatch" });
  await Deno.writeTextFile(file, script);
  const check = await new Deno.Command("bash", { args: ["-n", file], stderr: "piped" }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  await Deno.remove(file);
});

const parallel = await new Deno.Command("bash", { args: ["-c", "command -v parallel"] })
  .output().then((o) => o.code === 0).catch(() => false);

Deno.test({
  name: "--emit parallel: the emitted line runs here with 2 jobs and merges to one summary",
  ignore: !parallel, // GNU parallel not installed
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "iclab-parallel-" });
    const ref = await run("parity", [...QUICK, "--out", `${tmp}/ref`]);
    assert.equal(ref.code, 0, ref.stderr.slice(-2000));
    const e = await run("parity", [
      ...QUICK,
      "--emit",
      "parallel",
      "--gpus",
      "2",
      "--out",
      `${tmp}/p`,
    ]);
    assert.equal(e.code, 0, e.stderr);
    const line = e.stdout.trim().split("\n").at(-1)!;
    assert.match(line, /parallel --will-cite -j 2 .*--shard \{\}\/4.* ::: \$\(seq 0 3\)/);
    const o = await new Deno.Command("bash", {
      args: ["-c", line],
      cwd: ROOT,
      env: { DENO: Deno.execPath(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr).slice(-2000));
    assert.deepEqual(await summaryOf(`${tmp}/p`), await summaryOf(`${tmp}/ref`));
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test("writeAtomic: concurrent writers of one path all succeed and leave no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/f.json`;
  const texts = Array.from({ length: 8 }, (_, i) => `${i}`.repeat(10_000));
  await Promise.all(texts.map((t) => writeAtomic(path, new TextEncoder().encode(t))));
  assert.ok(texts.includes(await Deno.readTextFile(path)));
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names, ["f.json"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("errorCurveSvg: series without a finite point are left out and named", () => {
  const base = { title: "t", xLabel: "x", yLabel: "y" };
  const nan = { name: "diverged", x: [0, 1], y: [NaN, NaN] };
  const mixed = errorCurveSvg({ ...base, series: [nan, { name: "ok", x: [0, 1], y: [1, 2] }] });
  assert.match(mixed, /not plotted \(no finite values\): diverged/);
  const empty = errorCurveSvg({ ...base, series: [nan] });
  assert.match(
    empty,
    /^<svg.*no finite points to plot; not plotted \(no finite values\): diverged/s,
  );
});
