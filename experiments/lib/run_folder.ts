/**
 * The run folder of an experiment: `experiment.json` (the experiment, its flags and the ids of
 * all its cells) marks a folder as iclab's, and decides what a new process may do there:
 * continue the same configuration (finished cells are reused, unfinished ones resume),
 * refuse another one (unless `--force`, which removes the old files first), refuse `--resume`
 * where there is nothing to resume. Problems are one line and exit 2, with nothing created.
 */
import { fail } from "./cli.ts";
import type { CellRef } from "./cells.ts";
import { writeAtomic } from "./files.ts";

export const EXPERIMENT_FILE = "experiment.json";

/** What experiment.json holds. */
export interface ExperimentRecord {
  experiment: string;
  /** The script's flags, without those that only pick work or places (see `configArgs`). */
  args: string[];
  cells: { id: string; flops: number }[];
}

/** Flags that choose where and which work runs, not what it computes. */
const PLACE_FLAGS = [
  "out",
  "shard",
  "cell",
  "emit",
  "shards",
  "partition",
  "gpus",
  "time",
];
const PLACE_SWITCHES = ["resume", "force", "list-cells", "report", "json"];

/** The flags of `args` that define the experiment (what exp:report re-runs with). */
export function configArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([^=]+)(=.*)?$/.exec(args[i]);
    if (m && PLACE_SWITCHES.includes(m[1])) continue;
    if (m && PLACE_FLAGS.includes(m[1])) {
      if (m[2] === undefined) i++; // its value is the next argument
      continue;
    }
    out.push(args[i]);
  }
  return out;
}

export function experimentRecord(experiment: string, cells: CellRef[]): ExperimentRecord {
  return {
    experiment,
    args: configArgs(Deno.args),
    cells: cells.map((c) => ({ id: c.id, flops: c.flops })),
  };
}

export async function readRecord(dir: string): Promise<ExperimentRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/${EXPERIMENT_FILE}`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof SyntaxError) return { experiment: "?", args: [], cells: [] };
    throw e;
  }
}

/** How two records' cells differ, in words (undefined: the same experiment). */
export function recordDifference(a: ExperimentRecord, b: ExperimentRecord): string | undefined {
  if (a.experiment !== b.experiment) return `experiment ${a.experiment} vs ${b.experiment}`;
  const ids = new Set(b.cells.map((c) => c.id));
  const onlyA = a.cells.filter((c) => !ids.has(c.id)).map((c) => c.id);
  const onlyB = b.cells.filter((c) => !a.cells.some((x) => x.id === c.id)).map((c) => c.id);
  if (!onlyA.length && !onlyB.length) return undefined;
  return `${onlyA.length + onlyB.length} cell(s) differ, e.g. ${[...onlyA, ...onlyB][0]}`;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Entries of a folder other than temporary files (another process may be writing one). */
async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.endsWith(".tmp")) names.push(e.name);
  return names;
}

/**
 * Makes `dir` ready for `record`'s cells, or exits 2 saying why not. With `force` a folder of
 * iclab's is emptied first; a non-empty folder without experiment.json is never touched.
 */
export async function prepareRunFolder(
  name: string,
  dir: string,
  record: ExperimentRecord,
  o: { resume: boolean; force: boolean; report: boolean },
): Promise<void> {
  let st: Deno.FileInfo | null;
  try {
    st = await statOrNull(dir);
  } catch (e) {
    fail(name, `--out ${dir}: ${(e as Error).message}`);
  }
  if (st && !st.isDirectory) fail(name, `--out ${dir} is a file, not a folder`);
  const old = st ? await readRecord(dir) : undefined;
  if ((o.resume || o.report) && !old) {
    fail(name, `--${o.report ? "report" : "resume"}: ${dir} holds no run (no ${EXPERIMENT_FILE})`);
  }
  if (st && !old && (await entries(dir)).length) {
    fail(name, `--out ${dir} is not empty and holds no iclab run (no ${EXPERIMENT_FILE})`);
  }
  const diff = old && recordDifference(old, record);
  if (diff && !o.force) {
    fail(
      name,
      `--out ${dir} holds a run of another configuration (${diff}); ` +
        `use --force to start it afresh (removes its files) or another --out`,
    );
  }
  if (old && o.force && !o.report) {
    for (const e of await entries(dir)) await Deno.remove(`${dir}/${e}`, { recursive: true });
  }
  if (old && !o.force && !o.report) return;
  if (o.report) return;
  const created = !st;
  try {
    await Deno.mkdir(dir, { recursive: true });
    await writeAtomic(`${dir}/${EXPERIMENT_FILE}`, JSON.stringify(record, null, 2) + "\n");
  } catch (e) {
    if (created) await Deno.remove(dir, { recursive: true }).catch(() => {});
    fail(name, `--out ${dir}: cannot write there (${(e as Error).message.split("\n")[0]})`);
  }
}
