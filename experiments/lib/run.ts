/**
 * One training run of a suite: an architecture at one size and seed, trained on the spec's
 * task with its recipe, evaluated on the shared test prompts at every checkpoint fraction (the
 * points of the FLOPs figure), on the smaller curve set every `evalEvery` steps (the learning
 * curve), and, with the moving-average criterion on, at its best checkpoint. A run is a cell
 * (cells.ts) and owns its folder under a lock: everything it measures is written there as it
 * goes, a finished cell is reused, an unfinished one resumes from its checkpoint with its
 * records cut back to it, and a divergence is recorded as the cell's result.
 */
import type { Backend } from "../../core/backend.ts";
import { cpuBackend } from "../../core/device_select.ts";
import { type ICLModel, loadCheckpoint, makeModel, type ModelConfig } from "../../nn/mod.ts";
import type { Curriculum } from "../../tasks/curriculum.ts";
import type { IclBatch } from "../../tasks/task.ts";
import type { ArchName } from "./archs.ts";
import { checkAgainstCpu, reportCheck } from "./backend_check.ts";
import type { Cell, CellRef } from "./cells.ts";
import { CellRefusedError, lockCell } from "./cell_lock.ts";
import { appendLine, canonicalJson, fromJsonExact, toJsonExact, writeAtomic } from "./files.ts";
import { fmtTime } from "./progress.ts";
import { sizeLabel } from "./sizes.ts";
import { fmtV } from "./tables.ts";
import {
  checkpointSteps,
  type Estimate,
  lrOf,
  type ModelEval,
  specConfig,
  type SuiteSpec,
  trainFlops,
} from "./spec.ts";
import { makeSchedule, NonFiniteLossError, train } from "./trainer.ts";

/** One evaluated checkpoint of a run. */
export interface RunPoint extends Estimate {
  step: number;
  flops: number;
  extra?: Record<string, Estimate>;
}

/** Per-position mean and bootstrap band of a run's final checkpoint. */
export interface PositionCurve {
  mean: number[];
  lo: number[];
  hi: number[];
}

/** One trained model (architecture × size × seed); value and ci are its final checkpoint's. */
export interface RunRow extends Estimate {
  /** The cell's id (cells.ts), also its folder under the run folder. */
  cell?: string;
  model: ArchName;
  size: string;
  width: number;
  layers: number;
  heads: number;
  seed: number;
  params: number;
  /** Training FLOPs of the steps done. */
  flops: number;
  steps: number;
  seconds: number;
  lr: number;
  points: RunPoint[];
  /** Late-position metric on the curve prompts during training. */
  curve: { step: number; value: number }[];
  /** The best checkpoint by the moving average of the last-point loss, evaluated. */
  best?: Estimate & { step: number; ema: number };
  extra?: Record<string, Estimate>;
  byPosition: PositionCurve;
  /** The adapter or CPU backend it trained on. */
  backend?: string;
  error?: string;
  /** A non-finite loss stopped it: where, and the last finite loss logged before. */
  diverged?: { step: number; lastLoss: number | null };
}

/** What every run of one suite shares. */
export interface RunContext {
  spec: SuiteSpec;
  backend: Backend;
  dir: string;
  /** Check each model configuration's first step on WebGPU against the CPU backend. */
  check: boolean;
  finalSet: IclBatch[];
  curveSet: IclBatch[];
  evaluate: (model: ICLModel, batches: IclBatch[], seed: number) => Promise<ModelEval>;
}

const arr = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : NaN));

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

/** The parsable records of a JSONL file (a torn last line, from a kill, is skipped). */
export async function readLines<T>(path: string): Promise<T[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).flatMap((l) => {
    try {
      return [fromJsonExact<T>(l)];
    } catch {
      return [];
    }
  });
}

/** The files a cell writes; a fresh start removes any left from an unfinished earlier one. */
export const CELL_FILES = [
  "metrics.jsonl",
  "points.jsonl",
  "progress.json",
  "result.json",
  "checkpoint.safetensors",
  "best.safetensors",
];

/** A cell's result if it finished (possibly diverged) in `dir`, else undefined. */
export async function readResult<R = RunRow>(
  dir: string,
  cell: CellRef,
): Promise<R | undefined> {
  try {
    return fromJsonExact<R>(await Deno.readTextFile(`${dir}/${cell.folder}/result.json`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${dir}/${cell.folder}/result.json: ${(e as Error).message}`);
  }
}

/** First step at which the points schedule is at its end (Grazzi starts the average there). */
function pointsEndStep(c: Curriculum | undefined): number {
  if (!c || c.points.inc === 0) return 0;
  return Math.ceil((c.points.end - c.points.start) / c.points.inc) * c.points.interval;
}

/** Evaluates in eval mode (dropout off), then returns the model to training mode. */
async function evalMode<T>(model: ICLModel, fn: () => Promise<T>): Promise<T> {
  model.eval();
  try {
    return await fn();
  } finally {
    model.train();
  }
}

/** Model configurations already checked against the CPU in this process. */
const checked = new Set<string>();

/**
 * The first-step check (backend_check.ts) of each model configuration on WebGPU, in eval mode:
 * no dropout draws, so the run trains exactly as it would unchecked. A disagreement throws.
 */
async function checkOnce(ctx: RunContext, model: ICLModel, cfg: ModelConfig, seed: number) {
  const key = JSON.stringify(cfg);
  if (ctx.backend.name !== "webgpu" || checked.has(key)) return;
  checked.add(key);
  const twin = makeModel(cfg, { seed, backend: cpuBackend() });
  const { spec, backend } = ctx;
  try {
    const r = await evalMode(model, () =>
      evalMode(twin, () =>
        checkAgainstCpu(
          model,
          twin,
          spec.task,
          backend,
          spec.head ? (m, b, be) => spec.head!.loss(m as ICLModel, b, be) : undefined,
        )));
    console.log(`  ${reportCheck(cfg.arch, r, backend.description)}`);
  } finally {
    twin.dispose();
  }
}

/**
 * Runs `body` on a cell's folder under its lock, for every kind of cell: a folder whose
 * config.json differs from the cell's is refused (its files belong to another run); a finished
 * cell's result.json is returned as it is; a fresh cell's folder is emptied of the `files` an
 * unrecorded earlier run left, and gets its config.json. `body` is told whether to resume.
 */
export async function runCell<R>(
  dir: string,
  cell: CellRef,
  files: string[],
  body: (runDir: string, resume: boolean) => Promise<R>,
): Promise<R> {
  const runDir = `${dir}/${cell.folder}`;
  await Deno.mkdir(runDir, { recursive: true });
  const release = await lockCell(runDir, cell.id);
  try {
    const stored = await readJson<Record<string, unknown>>(`${runDir}/config.json`);
    const config = { id: cell.id, hash: cell.hash, ...cell.config };
    if (stored && canonicalJson(stored) !== canonicalJson(config)) {
      throw new CellRefusedError(
        `cell ${cell.id}: ${runDir}/config.json holds another configuration; refusing to mix ` +
          `records (use --force to start the run folder afresh, or another --out)`,
      );
    }
    const cached = stored ? await readResult<R>(dir, cell) : undefined;
    if (cached) {
      console.log(`  ${cell.id}: finished earlier, reusing its result.json`);
      return cached;
    }
    const resume = stored !== undefined;
    if (!resume) {
      // A fresh cell must not append to, or resume from, files of an unrecorded earlier run.
      for (const f of files) await Deno.remove(`${runDir}/${f}`).catch(() => {});
      await writeAtomic(`${runDir}/config.json`, JSON.stringify(config, null, 2));
    }
    return await body(runDir, resume);
  } finally {
    await release();
  }
}

/** Trains and evaluates one cell in its folder under its lock (or reuses its result). */
export function trainRun(ctx: RunContext, cell: Cell): Promise<RunRow> {
  return runCell(
    ctx.dir,
    cell,
    CELL_FILES,
    (runDir, resume) => trainLocked(ctx, cell, runDir, resume),
  );
}

async function trainLocked(
  ctx: RunContext,
  cell: Cell,
  runDir: string,
  resume: boolean,
): Promise<RunRow> {
  const { spec, backend } = ctx;
  const { arch, size, seed } = cell;
  const cfg = specConfig(spec, arch, size);
  const label = sizeLabel(size);
  const lr = lrOf(spec, arch);
  const model = makeModel(cfg, { seed, backend });
  if (ctx.check) await checkOnce(ctx, model, cfg, seed);
  const flopsAt = (step: number) => trainFlops(cfg, spec.task, spec.curriculum, spec.batch, step);
  // The trainer cuts points.jsonl back to the checkpoint, so the points are read after it.
  const points: RunPoint[] = [];
  let last: ModelEval | undefined;
  let error: string | undefined, steps = 0, seconds = 0, best: RunRow["best"];
  let diverged: RunRow["diverged"];
  try {
    const res = await train(model, spec.task, backend, {
      steps: spec.steps,
      batch: spec.batch,
      lr,
      optimizer: spec.optimizer,
      weightDecay: spec.weightDecay,
      schedule: makeSchedule(spec.schedule, lr, spec.steps, spec.warmup),
      clip: spec.clip,
      seed,
      curriculum: spec.curriculum,
      logEvery: 25,
      evalEvery: spec.evalEvery,
      onEval: async () => {
        const ev = await evalMode(model, () => ctx.evaluate(model, ctx.curveSet, seed));
        return { late: ev.value };
      },
      checkpointAt: checkpointSteps(spec.steps, spec.fractions),
      onCheckpoint: async (step) => {
        const ev = await evalMode(model, () => ctx.evaluate(model, ctx.finalSet, seed));
        const p: RunPoint = { step, flops: flopsAt(step), value: ev.value, ci: ev.ci };
        if (ev.extra) p.extra = ev.extra;
        await appendLine(`${runDir}/points.jsonl`, p);
        if (step === spec.steps) last = ev;
      },
      bestEma: spec.emaSpan > 0
        ? {
          span: spec.emaSpan,
          from: pointsEndStep(spec.curriculum),
          every: spec.checkpointEvery || spec.evalEvery,
          path: `${runDir}/best.safetensors`,
        }
        : undefined,
      runDir,
      records: ["points.jsonl"],
      checkpointEvery: spec.checkpointEvery,
      resume,
      label: `${spec.dir ?? spec.key}/${arch} ${label} seed ${seed}`,
      config: { model: cfg },
      loss: spec.head ? (b) => spec.head!.loss(model, b, backend) : undefined,
    });
    steps = res.steps;
    seconds = res.seconds;
    if (res.best) best = { ...(await evalBest(ctx, cfg, runDir, seed)), ...res.best };
  } catch (e) {
    if (!(e instanceof NonFiniteLossError)) throw e;
    error = e.message;
    seconds = e.seconds;
    steps = e.step;
    diverged = { step: e.step, lastLoss: e.lastLoss };
    console.error(e.message);
  }
  // Curve and points come from the cell's files, so a resumed cell's equal an uninterrupted one's.
  const curve = (await readLines<{ step: number; late?: number }>(`${runDir}/metrics.jsonl`))
    .filter((r) => typeof r.late === "number")
    .map((r) => ({ step: r.step, value: r.late! }));
  for (const p of await readLines<RunPoint>(`${runDir}/points.jsonl`)) {
    const i = points.findIndex((q) => q.step === p.step);
    if (i >= 0) points.splice(i, 1);
    points.push(p);
  }
  // A diverged run's later checkpoints are NaN, so a diverged seed is never averaged away.
  for (const step of checkpointSteps(spec.steps, spec.fractions)) {
    if (!points.some((p) => p.step === step)) {
      points.push({ step, flops: flopsAt(step), value: NaN, ci: [NaN, NaN] });
    }
  }
  points.sort((a, b) => a.step - b.step);
  if (!last && !error) last = await evalMode(model, () => ctx.evaluate(model, ctx.finalSet, seed));
  const st = last?.curve.stats;
  const nan = () => Array(ctx.finalSet[0].predPos.length).fill(NaN);
  const final = points[points.length - 1];
  const row: RunRow = {
    cell: cell.id,
    model: arch,
    size: label,
    width: size.width,
    layers: size.layers,
    heads: size.heads,
    seed,
    params: model.numParams(),
    flops: flopsAt(steps),
    steps,
    seconds,
    lr,
    value: error ? NaN : final.value,
    ci: error ? [NaN, NaN] : final.ci,
    points,
    curve,
    best,
    extra: last?.extra,
    byPosition: st
      ? { mean: arr(st.mean), lo: arr(st.lo), hi: arr(st.hi) }
      : { mean: nan(), lo: nan(), hi: nan() },
    backend: backend.description,
    error,
    diverged,
  };
  model.dispose();
  await writeAtomic(`${runDir}/result.json`, toJsonExact(row));
  const bestText = best ? `; best-EMA checkpoint (step ${best.step}) ${fmtV(best.value)}` : "";
  const how = diverged ? `diverged at step ${diverged.step}; ` : "";
  console.log(
    `  ${arch} ${label} seed ${seed}: ${how}${fmtV(row.value)} [${
      row.ci.map(fmtV).join(", ")
    }] after ` +
      `${steps} steps, ${fmtTime(seconds)} (${row.params.toLocaleString("en-US")} params)` +
      bestText,
  );
  return row;
}

/** Loads the best-EMA checkpoint into a fresh model and evaluates it. */
async function evalBest(
  ctx: RunContext,
  cfg: ReturnType<typeof specConfig>,
  runDir: string,
  seed: number,
): Promise<Estimate> {
  const m = makeModel(cfg, { seed, backend: ctx.backend });
  try {
    await loadCheckpoint(`${runDir}/best.safetensors`, { model: m });
    const ev = await evalMode(m, () => ctx.evaluate(m, ctx.finalSet, seed));
    return { value: ev.value, ci: ev.ci };
  } finally {
    m.dispose();
  }
}
