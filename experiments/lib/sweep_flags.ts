/**
 * The flags of the run folder and of scale-out: checkpoint interval, starting afresh, picking
 * cells (`--list-cells`, `--shard`, `--cell`), emitting Slurm or GNU parallel launchers, and
 * `--report` (what exp:report runs: the summary from finished cells, no training).
 */
import { choiceFlag, fail, type FlagSpec, intFlag } from "./cli.ts";

export const SWEEP_FLAGS: Record<string, FlagSpec> = {
  "checkpoint-every": {
    type: "string",
    help: "steps between checkpoints of each cell (a resumed cell starts from the last); 0: none",
  },
  force: {
    type: "boolean",
    default: false,
    help: "start --out afresh: remove the run folder's old files first (else a folder holding " +
      "another configuration is refused, and one holding this one is continued)",
  },
  "list-cells": {
    type: "boolean",
    default: false,
    help: "print every cell (id, estimated training FLOPs, shard with --shards) and exit",
  },
  shard: {
    type: "string",
    help: "I/N: run only shard I (0-based) of N, cells balanced by FLOPs; merge with exp:report",
  },
  cell: { type: "string", help: "comma-separated cell ids (see --list-cells) to run only those" },
  emit: {
    type: "string",
    help: "print a launcher instead of running: slurm (an sbatch job array, one shard per task) " +
      "or parallel (a GNU parallel line over local GPUs)",
  },
  shards: { type: "string", help: "shards for --emit and --list-cells (default: one per cell)" },
  partition: { type: "string", help: "--emit slurm: the Slurm partition" },
  gpus: {
    type: "string",
    help: "--emit slurm: GPUs per array task (default 1, 0 for none); --emit parallel: local " +
      "GPUs, one job each (default 1)",
  },
  time: { type: "string", help: "--emit slurm: time limit per array task, e.g. 24:00:00" },
  report: {
    type: "boolean",
    default: false,
    help: "train nothing: write the summary, report and figures from the finished cells in --out " +
      "(what exp:report runs after merging)",
  },
};

export interface SweepOptions {
  checkpointEvery?: number;
  force: boolean;
  listCells: boolean;
  shard?: { index: number; count: number };
  cells?: string[];
  emit?: "slurm" | "parallel";
  shards?: number;
  partition?: string;
  gpus: number;
  time?: string;
  report: boolean;
}

/** Validates the sweep flags (exit 2 naming the flag). */
export function parseSweep(name: string, f: Record<string, string | boolean | undefined>) {
  const s = (k: string) => f[k] as string | undefined;
  for (const [k, spec] of Object.entries(SWEEP_FLAGS)) {
    // An empty value is a mistake (an unset shell variable), not "use the default".
    if (spec.type === "string" && s(k)?.trim() === "") fail(name, `--${k} needs a value, got ""`);
  }
  let shard: SweepOptions["shard"];
  if (s("shard") !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(s("shard")!.trim());
    const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
    if (!m || !(count >= 1) || index >= count) {
      fail(name, `--shard must be I/N with 0 ≤ I < N, got "${s("shard")}"`);
    }
    shard = { index, count };
  }
  const cells = s("cell")?.split(",").map((c) => c.trim()).filter(Boolean);
  if (cells && !cells.length) fail(name, "--cell must name at least one cell");
  if (shard && cells) fail(name, "--shard and --cell both pick cells; use one");
  const text = (k: string) => {
    const v = s(k);
    if (v !== undefined && !/^[\w.:\-]+$/.test(v)) {
      fail(name, `--${k} must be letters, digits and . : - _, got "${v}"`);
    }
    return v;
  };
  const opts: SweepOptions = {
    checkpointEvery: s("checkpoint-every") === undefined
      ? undefined
      : intFlag(name, "checkpoint-every", s("checkpoint-every")!, 0),
    force: f.force === true,
    listCells: f["list-cells"] === true,
    shard,
    cells,
    emit: s("emit") === undefined
      ? undefined
      : choiceFlag(name, "emit", s("emit")!, ["slurm", "parallel"] as const),
    shards: s("shards") === undefined ? undefined : intFlag(name, "shards", s("shards")!),
    partition: text("partition"),
    gpus: s("gpus") === undefined ? 1 : intFlag(name, "gpus", s("gpus")!, 0),
    time: text("time"),
    report: f.report === true,
  };
  if (opts.report && (shard || cells)) fail(name, "--report trains nothing; drop --shard/--cell");
  return opts;
}
