/**
 * One training run of a suite: an architecture at one size and seed, trained on the spec's
 * task with its recipe, evaluated on the shared test prompts at every checkpoint fraction (the
 * points of the FLOPs figure), on the smaller curve set every `evalEvery` steps (the learning
 * curve), and, with the moving-average criterion on, at its best checkpoint. Everything it
 * measures is written to its run folder as it goes, so `--resume` picks up finished runs and
 * evaluated checkpoints.
 */
import type { Backend } from "../../core/backend.ts";
import { cpuBackend } from "../../core/device_select.ts";
import { type ICLModel, loadCheckpoint, makeModel, type ModelConfig } from "../../nn/mod.ts";
import type { Curriculum } from "../../tasks/curriculum.ts";
import type { IclBatch } from "../../tasks/task.ts";
import type { ArchName, ModelSize } from "./archs.ts";
import { checkAgainstCpu, reportCheck } from "./backend_check.ts";
import { appendLine, writeAtomic } from "./files.ts";
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
  error?: string;
}

/** What every run of one suite shares. */
export interface RunContext {
  spec: SuiteSpec;
  backend: Backend;
  dir: string;
  resume: boolean;
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

async function readLines<T>(path: string): Promise<T[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
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

/** Trains and evaluates one run (or reuses it with `resume`). */
export async function trainRun(
  ctx: RunContext,
  arch: ArchName,
  size: ModelSize,
  seed: number,
): Promise<RunRow> {
  const { spec, backend } = ctx;
  const cfg = specConfig(spec, arch, size);
  const label = sizeLabel(size);
  const runDir = `${ctx.dir}/${arch}-${label}-seed${seed}`;
  await Deno.mkdir(runDir, { recursive: true });
  const cached = ctx.resume ? await readJson<RunRow>(`${runDir}/result.json`) : undefined;
  if (cached && cached.steps === spec.steps && !cached.error) {
    console.log(`  ${arch} ${label} seed ${seed}: finished earlier, reusing ${runDir}/result.json`);
    return cached;
  }
  if (!ctx.resume) {
    // A fresh run in an old folder must not append to, or reuse, the old run's files.
    for (
      const f of [
        "metrics.jsonl",
        "points.jsonl",
        "progress.json",
        "result.json",
        "checkpoint.safetensors",
        "best.safetensors",
      ]
    ) await Deno.remove(`${runDir}/${f}`).catch(() => {});
  }
  const lr = lrOf(spec, arch);
  await writeAtomic(
    `${runDir}/config.json`,
    JSON.stringify(
      { task: spec.key, description: spec.description, seed, lr, size, model: cfg },
      null,
      2,
    ),
  );
  const model = makeModel(cfg, { seed, backend });
  if (ctx.check) await checkOnce(ctx, model, cfg, seed);
  const flopsAt = (step: number) => trainFlops(cfg, spec.task, spec.curriculum, spec.batch, step);
  // A resumed run appends again what it re-evaluates after its last checkpoint: the last wins.
  const points: RunPoint[] = ctx.resume
    ? [...new Map((await readLines<RunPoint>(`${runDir}/points.jsonl`)).map((p) => [p.step, p]))
      .values()]
    : [];
  const curve: { step: number; value: number }[] = [];
  const progress = ctx.resume
    ? await readJson<{ seconds: number }>(`${runDir}/progress.json`)
    : undefined;
  const prior = progress?.seconds ?? 0;
  let last: ModelEval | undefined;
  let error: string | undefined, steps = 0, seconds = 0, best: RunRow["best"];
  const t0 = performance.now();
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
      onEval: async (step) => {
        const ev = await evalMode(model, () => ctx.evaluate(model, ctx.curveSet, seed));
        curve.push({ step, value: ev.value });
        await writeAtomic(
          `${runDir}/progress.json`,
          JSON.stringify({ step, seconds: prior + (performance.now() - t0) / 1000 }),
        );
        return { late: ev.value };
      },
      checkpointAt: checkpointSteps(spec.steps, spec.fractions),
      onCheckpoint: async (step) => {
        const ev = await evalMode(model, () => ctx.evaluate(model, ctx.finalSet, seed));
        const p: RunPoint = { step, flops: flopsAt(step), value: ev.value, ci: ev.ci };
        if (ev.extra) p.extra = ev.extra;
        const i = points.findIndex((q) => q.step === step);
        if (i >= 0) points.splice(i, 1);
        points.push(p);
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
      checkpointEvery: spec.checkpointEvery,
      resume: ctx.resume,
      label: `${spec.dir ?? spec.key}/${arch} ${label} seed ${seed}`,
      config: { model: cfg },
      loss: spec.head ? (b) => spec.head!.loss(model, b, backend) : undefined,
    });
    steps = res.steps;
    seconds = prior + res.seconds;
    if (res.best) best = { ...(await evalBest(ctx, cfg, runDir, seed)), ...res.best };
  } catch (e) {
    if (!(e instanceof NonFiniteLossError)) throw e;
    error = e.message;
    seconds = prior + (performance.now() - t0) / 1000;
    console.error(e.message);
  }
  if (ctx.resume) {
    const have = new Set(curve.map((c) => c.step));
    for (const r of await readLines<{ step: number; late?: number }>(`${runDir}/metrics.jsonl`)) {
      if (typeof r.late === "number" && !have.has(r.step)) {
        curve.push({ step: r.step, value: r.late });
      }
    }
    curve.sort((a, b) => a.step - b.step);
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
    error,
  };
  model.dispose();
  await writeAtomic(`${runDir}/result.json`, JSON.stringify(row));
  const bestText = best ? `; best-EMA checkpoint (step ${best.step}) ${fmtV(best.value)}` : "";
  console.log(
    `  ${arch} ${label} seed ${seed}: ${fmtV(row.value)} [${row.ci.map(fmtV).join(", ")}] after ` +
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
