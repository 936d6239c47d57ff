/**
 * The one place that knows how a run folder written by an exp:* command is laid out, so the
 * analyses (probe, OOD, length) load yesterday's models the same way. Today's layout
 * (run_folder.ts, trainer.ts): `<out>/<task>/<arch>-<size>-seed<k>-<hash>/` holds `config.json`
 * ({ task, arch, nDims, nPoints, description, seed, lr, size, model, ... }) and
 * `checkpoint.safetensors` or `best.safetensors` (the best-EMA checkpoint). Folders from before
 * cells had no arch/nDims/nPoints in config.json: the folder name and `<out>/<task>/summary.json`
 * (`settings`) stand in.
 */
import type { Backend } from "../../core/backend.ts";
import { type ICLModel, loadCheckpoint, makeModel, type ModelConfig } from "../../nn/mod.ts";
import { makeTask, type TaskOptions } from "../../tasks/registry.ts";
import type { Task } from "../../tasks/task.ts";

/** One trained model found in a run folder. */
export interface RunInfo {
  /** The run's own folder. */
  dir: string;
  /** Architecture name as in the folder name (transformer, mamba, ...). */
  name: string;
  /** Task key (config.json "task"). */
  taskKey: string;
  taskOptions: TaskOptions;
  description: string;
  seed: number;
  model: ModelConfig;
  checkpoint: string;
}

const CHECKPOINTS = ["checkpoint.safetensors", "best.safetensors"];

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/** Task sizes: the suite summary's settings, else the description ("d=5, N=11, p=0.5"). */
function taskOptionsOf(
  cfg: Record<string, unknown>,
  settings: Record<string, unknown> | undefined,
) {
  const desc = String(cfg.description ?? "");
  const num = (re: RegExp) => {
    const m = desc.match(re);
    return m ? Number(m[1]) : undefined;
  };
  const model = cfg.model as ModelConfig;
  const o: TaskOptions = {
    nDims: Number(cfg.nDims ?? settings?.nDims ?? num(/\bd=(\d+)/) ?? model.tokenDim),
    nPoints: Number(cfg.nPoints ?? settings?.nPoints ?? num(/\bN=(\d+)/)),
  };
  const p = num(/\bp=([\d.]+)/);
  if (p !== undefined) o.p = p;
  const k = num(/\bk=(\d+)/);
  if (k !== undefined) o.k = k;
  return o;
}

/** One run folder (containing config.json) as a RunInfo; throws a clear message if unusable. */
export async function readRun(dir: string): Promise<RunInfo> {
  const cfg = await readJson(`${dir}/config.json`);
  if (!cfg || typeof cfg.model !== "object" || typeof cfg.task !== "string") {
    throw new Error(`${dir}: no readable config.json with "task" and "model" (not a run folder)`);
  }
  let checkpoint: string | undefined;
  for (const f of CHECKPOINTS) {
    if (await isFile(`${dir}/${f}`)) {
      checkpoint = `${dir}/${f}`;
      break;
    }
  }
  if (!checkpoint) {
    throw new Error(
      `${dir}: has config.json but no ${CHECKPOINTS.join(" or ")} (an unfinished cell, or ` +
        `a run from before every preset checkpointed: rerun it, or run the analysis without ` +
        `--run to train one)`,
    );
  }
  const parent = dir.replace(/\/[^/]+\/?$/, "");
  const summary = await readJson(`${parent}/summary.json`);
  const settings = summary?.settings as Record<string, unknown> | undefined;
  const taskOptions = taskOptionsOf(cfg, settings);
  if (!Number.isInteger(taskOptions.nPoints)) {
    throw new Error(`${dir}: cannot tell the task's number of points (no summary.json, no N=)`);
  }
  const base = dir.replace(/\/+$/, "").split("/").pop()!;
  return {
    dir,
    name: typeof cfg.arch === "string" ? cfg.arch : base.replace(/-.*$/, ""),
    taskKey: cfg.task as string,
    taskOptions,
    description: String(cfg.description ?? ""),
    seed: Number(cfg.seed ?? 1),
    model: cfg.model as ModelConfig,
    checkpoint,
  };
}

/** Every run under `root` (the root itself, or folders up to three levels down), sorted. */
export async function findRuns(root: string): Promise<RunInfo[]> {
  try {
    if (!(await Deno.stat(root)).isDirectory) throw new Error(`${root}: not a folder`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${root}: no such folder`);
    throw e;
  }
  const dirs: string[] = [];
  const walk = async (d: string, depth: number) => {
    if (await isFile(`${d}/config.json`)) dirs.push(d);
    if (depth === 3) return;
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, depth + 1);
    }
  };
  await walk(root.replace(/\/+$/, ""), 0);
  if (!dirs.length) throw new Error(`${root}: no run folders (config.json) found`);
  dirs.sort();
  return await Promise.all(dirs.map(readRun));
}

/** The run's task (its training distribution). */
export function runTask(r: RunInfo): Task {
  return makeTask(r.taskKey, r.taskOptions);
}

/** Builds the run's model on `backend` and loads its weights, in eval mode. */
export async function loadModel(r: RunInfo, backend: Backend): Promise<ICLModel> {
  const m = makeModel(r.model, { seed: r.seed, backend });
  await loadCheckpoint(r.checkpoint, { model: m });
  m.eval();
  return m;
}
