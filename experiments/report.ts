/**
 * exp:report: merges run folders of one experiment (shards from any number of machines) into
 * one, then writes its summary.json, report.md, tables and figures exactly as one process
 * would have: it copies each finished cell into the target folder and runs the experiment's
 * script there with `--report` (train nothing, summarize the cells).
 *
 *   deno task exp:report runs/parity-a runs/parity-b [--out runs/parity]
 *
 * Refuses (exit 2) folders of different experiments or configurations, and a cell whose
 * config.json differs between folders under one id. Lists missing and unfinished cells (exit 3,
 * nothing written) and, in report.md, the diverged ones.
 */
import { parseArgs } from "node:util";
import { canonicalJson } from "./lib/files.ts";
import { fail } from "./lib/cli.ts";
import { writeAtomic } from "./lib/files.ts";
import {
  EXPERIMENT_FILE,
  type ExperimentRecord,
  readRecord,
  recordDifference,
} from "./lib/run_folder.ts";

const NAME = "exp:report";

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Copies a finished cell's files (not its lock), result.json last: a torn copy stays unfinished. */
async function copyCell(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  const names: string[] = [];
  for await (const e of Deno.readDir(from)) {
    if (e.isFile && e.name !== "lock" && !e.name.endsWith(".tmp")) names.push(e.name);
  }
  names.sort((a, b) => (a === "result.json" ? 1 : b === "result.json" ? -1 : a < b ? -1 : 1));
  for (const n of names) await writeAtomic(`${to}/${n}`, await Deno.readFile(`${from}/${n}`));
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: { out: { type: "string" }, help: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    fail(NAME, (e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  const { values, positionals: dirs } = parsed;
  if (values.help) {
    console.log(
      `${NAME}: merge run folders of one experiment and write its summary.json, report.md and ` +
        `figures\n\nUsage: deno task exp:report DIR... [--out TARGET]\n  --out TARGET\n      ` +
        `the merged folder (default: the first DIR)`,
    );
    Deno.exit(0);
  }
  if (!dirs.length) fail(NAME, "name at least one run folder");
  const records: ExperimentRecord[] = [];
  for (const d of dirs) {
    const r = await readRecord(d).catch(() => undefined);
    if (!r) fail(NAME, `${d} holds no iclab run (no ${EXPERIMENT_FILE})`);
    const diff = records.length ? recordDifference(records[0], r) : undefined;
    if (diff) fail(NAME, `${d} and ${dirs[0]} hold different configurations (${diff})`);
    if (records.length && canonicalJson(r.args) !== canonicalJson(records[0].args)) {
      fail(
        NAME,
        `${d} and ${dirs[0]} were run with different flags: ${r.args.join(" ")} vs ` +
          `${records[0].args.join(" ")}`,
      );
    }
    records.push(r);
  }
  const record = records[0];
  const target = values.out ?? dirs[0];
  // Every copy of a cell must hold the same config before anything is copied.
  const sources = new Map<string, string>();
  for (const { id } of record.cells) {
    let config: string | undefined, from: string | undefined;
    for (const d of dirs) {
      const text = await readText(`${d}/${id}/config.json`);
      if (text === undefined) continue;
      const c = canonicalJson(JSON.parse(text));
      if (config !== undefined && c !== config) {
        fail(NAME, `cell ${id}: config.json differs between ${from} and ${d}; refusing to merge`);
      }
      config = c;
      from ??= d;
      if (await readText(`${d}/${id}/result.json`) !== undefined) sources.set(id, d);
    }
  }
  const targetRecord = await readRecord(target).catch(() => undefined);
  if (targetRecord && recordDifference(targetRecord, record)) {
    fail(NAME, `--out ${target} holds a run of another configuration`);
  }
  if (!targetRecord) {
    try {
      await Deno.mkdir(target, { recursive: true });
      await writeAtomic(`${target}/${EXPERIMENT_FILE}`, JSON.stringify(record, null, 2) + "\n");
    } catch (e) {
      fail(NAME, `--out ${target}: cannot write there (${(e as Error).message.split("\n")[0]})`);
    }
  }
  let copied = 0;
  for (const [id, from] of sources) {
    if (from === target || await readText(`${target}/${id}/result.json`) !== undefined) continue;
    // An unfinished copy in the target is replaced whole, never mixed with the finished one.
    await Deno.remove(`${target}/${id}`, { recursive: true }).catch(() => {});
    await copyCell(`${from}/${id}`, `${target}/${id}`);
    copied++;
  }
  console.log(
    `${NAME}: ${sources.size} of ${record.cells.length} cells finished in ${dirs.length} ` +
      `folder(s); ${copied} copied into ${target}`,
  );
  const script = new URL(`./${record.experiment}.ts`, import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...record.args, "--out", target, "--report"],
    stdout: "inherit",
    stderr: "inherit",
  });
  Deno.exit((await child.output()).code);
}
