/**
 * The training loop: fresh batches from a task (with an optional curriculum), Adam with a
 * schedule and on-device gradient clipping, the loss read from the device only every
 * `logEvery` steps, periodic evaluation, evaluations at chosen checkpoint steps, JSONL metrics,
 * atomic checkpoints, resume, Grazzi's best checkpoint by a moving average of the last-point
 * loss, and a clear stop on a non-finite loss that leaves the last good checkpoint intact.
 */
import { backward, zeroGrad } from "../../core/autograd.ts";
import type { Backend } from "../../core/backend.ts";
import { stack } from "../../core/ops/stack.ts";
import { Rng } from "../../core/rng.ts";
import { type Tensor, tidy } from "../../core/tensor.ts";
import { type Curriculum, curriculumAt } from "../../tasks/curriculum.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import {
  Adam,
  AdamW,
  clipGradNorm,
  constantSchedule,
  cosineSchedule,
  type Schedule as LrSchedule,
} from "../../nn/optim.ts";
import { loadCheckpoint, saveCheckpoint } from "../../nn/checkpoint.ts";
import { fieldError, jsonField } from "../../nn/checkpoint_meta.ts";
import type { Module } from "../../nn/module.ts";
import { appendLine, canonicalJson, truncateJsonl } from "./files.ts";
import { batchLosses, type SequenceModel } from "./icl.ts";
import { Progress } from "./progress.ts";

/** Learning-rate schedules a suite offers (`--schedule`). */
export const SCHEDULES = ["constant", "cosine", "linear"] as const;
export type ScheduleKind = typeof SCHEDULES[number];

/**
 * The schedule of a run: an optional linear warm-up lr·(t+1)/warmup, then constant (Park, Garg),
 * cosine annealing to 0 at the last step (Grazzi: CosineAnnealingLR with T_max = the steps), or
 * linear decay to 0. (Grazzi's code also has an option it calls "linear" that is a StepLR,
 * ×0.9 every 100 steps; none of its configs uses it, and it is not this.)
 */
export function makeSchedule(
  kind: ScheduleKind,
  lr: number,
  steps: number,
  warmup = 0,
): LrSchedule {
  if (!(warmup >= 0 && warmup < steps)) {
    throw new Error(`makeSchedule: warmup (${warmup}) must be in [0, steps = ${steps})`);
  }
  if (kind === "cosine") return cosineSchedule({ lr, totalSteps: steps, warmupSteps: warmup });
  if (kind === "constant" && warmup === 0) return constantSchedule(lr);
  return (t) => {
    if (t < warmup) return (lr * (t + 1)) / warmup;
    return kind === "constant" ? lr : lr * (1 - (t - warmup) / (steps - warmup));
  };
}

/**
 * Grazzi's best checkpoint: an exponential moving average of the training loss at the last
 * prediction position, from step `from` on (Grazzi: once the points curriculum is at its end),
 * compared every `every` steps; the weights are saved to `path` when it improves.
 */
export interface BestEmaOptions {
  /** Average over roughly this many steps: weight 2/(span + 1) on each new value. */
  span: number;
  from: number;
  every: number;
  path: string;
}

/** The moving-average state (stored in checkpoints so a resumed run continues it). */
export interface EmaState {
  ema: number | null;
  best: number | null;
  bestStep: number | null;
}

export interface TrainOptions {
  steps: number;
  batch: number;
  lr: number;
  /** Adam (the papers', default) or AdamW (decoupled weight decay). */
  optimizer?: "adam" | "adamw";
  /** Adam: L2 penalty (default 0); AdamW: decoupled decay (default 0.01). */
  weightDecay?: number;
  schedule: LrSchedule;
  /** Global gradient-norm clip (MambaFormer repo: 10), or 0 for none. */
  clip: number;
  seed: number;
  curriculum?: Curriculum;
  /** Read the loss from the device every this many steps. */
  logEvery: number;
  /** Called every `evalEvery` steps (and at the end) to record a learning curve point. */
  evalEvery?: number;
  onEval?: (step: number) => Promise<Record<string, number>>;
  /** Run folder for metrics.jsonl and checkpoints (none: nothing is written). */
  runDir?: string;
  checkpointEvery?: number;
  /** Further JSONL files in runDir with per-step records, cut back to the checkpoint too. */
  records?: string[];
  resume?: boolean;
  label?: string;
  quiet?: boolean;
  /** Extra metadata stored in checkpoints (e.g. the model config). */
  config?: Record<string, unknown>;
  /** Replaces the default batch loss (e.g. CoT-I/O's two teacher-forced heads). */
  loss?: (batch: IclBatch) => Tensor;
  /**
   * Another kind of cell's batch and loss in place of the task's (token models: an id batch
   * drawn from the data stream, and its next-token loss); the task is then null.
   */
  draw?: (rng: Rng, step: number) => Tensor;
  /** Steps after which `onCheckpoint` runs (the evaluated checkpoints of a FLOPs sweep). */
  checkpointAt?: number[];
  onCheckpoint?: (step: number) => Promise<void>;
  /** Track the best checkpoint by the moving average of the last-point loss. */
  bestEma?: BestEmaOptions;
}

export interface TrainResult {
  steps: number;
  /** Training time in seconds, including the time before a resume (carried in checkpoints). */
  seconds: number;
  /** [step, mean loss over the last logEvery steps] */
  losses: [number, number][];
  evals: { step: number; [k: string]: number }[];
  /** The best checkpoint by the moving average (with `bestEma`), if one was saved. */
  best?: { step: number; ema: number };
}

/** A loss went NaN or infinite: where, the last finite loss, and the training time so far. */
export class NonFiniteLossError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly lastLoss: number | null,
    readonly seconds: number,
  ) {
    super(message);
  }
}

export async function train(
  model: Module,
  task: Task | null,
  backend: Backend,
  o: TrainOptions,
): Promise<TrainResult> {
  if (!task && !o.draw) throw new Error("train: a task or a draw is needed");
  const params = model.parameters();
  const Opt = o.optimizer === "adamw" ? AdamW : Adam;
  const opt = new Opt(model.namedParameters(), { lr: o.lr, weightDecay: o.weightDecay });
  let dataRng = new Rng(o.seed).fork("data");
  let start = 0;
  let ema: EmaState = { ema: null, best: null, bestStep: null };
  let prior = 0;
  const ckptPath = o.runDir ? `${o.runDir}/checkpoint.safetensors` : undefined;
  if (o.resume && ckptPath && (await exists(ckptPath))) {
    const meta = await loadCheckpoint(ckptPath, { model, optimizer: opt });
    const r = resumeState(ckptPath, meta, o);
    start = r.step;
    dataRng = r.dataRng;
    ema = r.ema;
    prior = r.seconds;
    if (!o.quiet) console.error(`${o.label ?? "train"}: resumed from ${ckptPath} at step ${start}`);
  }
  const metricsPath = o.runDir ? `${o.runDir}/metrics.jsonl` : undefined;
  // Records past the checkpoint are redone from it: drop them, or they would appear twice.
  if (metricsPath) await truncateJsonl(metricsPath, start);
  for (const f of o.runDir ? o.records ?? [] : []) await truncateJsonl(`${o.runDir}/${f}`, start);
  const result: TrainResult = { steps: start, seconds: 0, losses: [], evals: [] };
  const progress = o.quiet ? null : new Progress(o.label ?? "train", o.steps);
  const t0 = performance.now();
  const seconds = () => prior + (performance.now() - t0) / 1000;
  let pending: Tensor[] = [];
  let pendingLast: { step: number; t: Tensor }[] = [];
  let lastLoss = NaN;
  const alpha = o.bestEma ? 2 / (o.bestEma.span + 1) : 0;

  const readLosses = async (step: number) => {
    if (!pending.length) return;
    const all = tidy(() => stack([...pending, ...pendingLast.map((p) => p.t)]));
    const both = await all.floats();
    all.dispose();
    const vals = both.subarray(0, pending.length);
    const lasts = both.subarray(pending.length);
    pending.forEach((t) => t.dispose());
    pendingLast.forEach((p) => p.t.dispose());
    const lastSteps = pendingLast.map((p) => p.step);
    pending = [];
    pendingLast = [];
    const bad = vals.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const at = step - vals.length + bad + 1;
      throw new NonFiniteLossError(
        `${o.label ?? "train"}: loss became ${vals[bad]} near step ${at}; stopping (the last ` +
          `checkpoint, if any, is from before this point). Try a lower --lr or --clip.`,
        at,
        Number.isFinite(lastLoss) ? lastLoss : null,
        seconds(),
      );
    }
    lastLoss = vals.reduce((s, v) => s + v, 0) / vals.length;
    result.losses.push([step, lastLoss]);
    lasts.forEach((v, i) => {
      if (lastSteps[i] < (o.bestEma?.from ?? 0)) return;
      ema.ema = ema.ema === null ? v : (1 - alpha) * ema.ema + alpha * v;
    });
    if (metricsPath) {
      await appendLine(metricsPath, { step, loss: lastLoss, seconds: seconds() });
    }
  };

  for (let step = start; step < o.steps; step++) {
    const cur = o.curriculum ? curriculumAt(o.curriculum, step) : undefined;
    const batch = task && !o.draw ? task.sample(dataRng, o.batch, cur) : null;
    const tracked = o.bestEma !== undefined && step >= o.bestEma.from;
    const { loss, last } = tidy(() => {
      const ls = !batch
        ? { loss: o.draw!(dataRng, step), last: undefined }
        : o.loss
        ? { loss: o.loss(batch), last: undefined }
        : batchLosses(model as Module & SequenceModel, batch, task!, backend, tracked);
      // The step keeps only the losses: intermediates are freed as the backward consumes them.
      backward(ls.loss, undefined, { release: true });
      const scale = o.clip > 0 ? clipGradNorm(params, o.clip) : null;
      opt.lr = o.schedule(step);
      opt.step(scale);
      zeroGrad(params);
      // Without a task loss at one position (custom heads), the whole loss stands in.
      return { loss: ls.loss, last: tracked ? (ls.last ?? ls.loss) : undefined };
    });
    pending.push(loss);
    if (last) pendingLast.push({ step, t: last });
    backend.flush();
    const done = step + 1;
    if (done % o.logEvery === 0 || done === o.steps) {
      await readLosses(done);
      progress?.update(done, { loss: lastLoss });
    }
    if (o.onEval && o.evalEvery && (done % o.evalEvery === 0 || done === o.steps)) {
      const ev = { step: done, ...(await o.onEval(done)) };
      result.evals.push(ev);
      if (metricsPath) {
        await appendLine(metricsPath, { ...ev, seconds: seconds() });
      }
    }
    if (o.onCheckpoint && o.checkpointAt?.includes(done)) {
      await readLosses(done); // a checkpoint whose loss went non-finite is not evaluated
      await o.onCheckpoint(done);
    }
    const be = o.bestEma;
    if (be && done >= be.from && (done % be.every === 0 || done === o.steps)) {
      await readLosses(done);
      if (ema.ema !== null && (ema.best === null || ema.ema < ema.best)) {
        ema = { ...ema, best: ema.ema, bestStep: done };
        await saveCheckpoint(be.path, { model, step: done, config: o.config });
      }
    }
    if (ckptPath && o.checkpointEvery && (done % o.checkpointEvery === 0 || done === o.steps)) {
      await readLosses(done); // never checkpoint weights that came from a non-finite loss
      await saveCheckpoint(ckptPath, {
        model,
        optimizer: opt,
        step: done,
        rng: { data: dataRng.state() },
        config: o.config,
        metadata: { ema: JSON.stringify(ema), seconds: String(seconds()) },
      });
    }
    result.steps = done;
  }
  await readLosses(result.steps);
  progress?.done();
  result.seconds = seconds();
  if (ema.bestStep !== null && ema.best !== null) {
    result.best = { step: ema.bestStep, ema: ema.best };
  }
  opt.dispose();
  return result;
}

/**
 * What a resumed run takes from its checkpoint, checked against this run: a step within its
 * steps, the data stream, the same model config, and a well-formed moving-average state.
 */
function resumeState(
  path: string,
  meta: Awaited<ReturnType<typeof loadCheckpoint>>,
  o: TrainOptions,
): { step: number; dataRng: Rng; ema: EmaState; seconds: number } {
  const md = meta.metadata;
  if (meta.step === null) throw fieldError(path, "step", md.step, "a non-negative integer");
  if (meta.step > o.steps) {
    throw fieldError(path, "step", md.step, `at most this run's ${o.steps} steps`);
  }
  if (!meta.rng?.data) throw fieldError(path, "rng", md.rng, `an RNG state under "data"`);
  if (o.config && meta.config !== null && canonicalJson(meta.config) !== canonicalJson(o.config)) {
    throw fieldError(path, "config", md.config, `this run's ${JSON.stringify(o.config)}`);
  }
  const e = jsonField(path, "ema", md.ema) as Partial<Record<keyof EmaState, unknown>> | null;
  const num = (x: unknown) => x === null || Number.isFinite(x);
  if (
    e !== null &&
    (typeof e !== "object" || !num(e.ema) || !num(e.best) ||
      !(e.bestStep === null || (Number.isInteger(e.bestStep) && (e.bestStep as number) >= 0)))
  ) {
    throw fieldError(path, "ema", md.ema, "{ema, best, bestStep}: numbers or null");
  }
  // Training seconds so far (absent in checkpoints written before it was recorded).
  const seconds = md.seconds === undefined ? 0 : Number(md.seconds);
  if (!(seconds >= 0 && Number.isFinite(seconds))) {
    throw fieldError(path, "seconds", md.seconds, "a non-negative number");
  }
  return {
    step: meta.step,
    seconds,
    dataRng: Rng.fromState(meta.rng.data),
    ema: (e as EmaState | null) ?? { ema: null, best: null, bestStep: null },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
