/**
 * The training loop: fresh batches from a task (with an optional curriculum), Adam with a
 * schedule and on-device gradient clipping, the loss read from the device only every
 * `logEvery` steps, periodic evaluation, JSONL metrics, atomic checkpoints, resume, and a clear
 * stop on a non-finite loss that leaves the last good checkpoint intact.
 */
import { backward, zeroGrad } from "../../core/autograd.ts";
import type { Backend } from "../../core/backend.ts";
import { stack } from "../../core/ops/stack.ts";
import { Rng } from "../../core/rng.ts";
import { type Tensor, tidy } from "../../core/tensor.ts";
import { type Curriculum, curriculumAt } from "../../tasks/curriculum.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import { Adam, clipGradNorm, type Schedule as LrSchedule } from "../../nn/optim.ts";
import { loadCheckpoint, saveCheckpoint } from "../../nn/checkpoint.ts";
import type { Module } from "../../nn/module.ts";
import { appendLine } from "./files.ts";
import { batchLoss, type SequenceModel } from "./icl.ts";
import { Progress } from "./progress.ts";

export interface TrainOptions {
  steps: number;
  batch: number;
  lr: number;
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
  resume?: boolean;
  label?: string;
  quiet?: boolean;
  /** Extra metadata stored in checkpoints (e.g. the model config). */
  config?: Record<string, unknown>;
  /** Replaces the default batch loss (e.g. CoT-I/O's two teacher-forced heads). */
  loss?: (batch: IclBatch) => Tensor;
}

export interface TrainResult {
  steps: number;
  seconds: number;
  /** [step, mean loss over the last logEvery steps] */
  losses: [number, number][];
  evals: { step: number; [k: string]: number }[];
}

export class NonFiniteLossError extends Error {}

export async function train(
  model: SequenceModel & Module,
  task: Task,
  backend: Backend,
  o: TrainOptions,
): Promise<TrainResult> {
  const params = model.parameters();
  const opt = new Adam(model.namedParameters(), { lr: o.lr });
  let dataRng = new Rng(o.seed).fork("data");
  let start = 0;
  const ckptPath = o.runDir ? `${o.runDir}/checkpoint.safetensors` : undefined;
  if (o.resume && ckptPath && (await exists(ckptPath))) {
    const meta = await loadCheckpoint(ckptPath, { model, optimizer: opt });
    start = meta.step ?? 0;
    if (meta.rng?.data) dataRng = Rng.fromState(meta.rng.data);
    if (!o.quiet) console.error(`${o.label ?? "train"}: resumed from ${ckptPath} at step ${start}`);
  }
  const metricsPath = o.runDir ? `${o.runDir}/metrics.jsonl` : undefined;
  const result: TrainResult = { steps: start, seconds: 0, losses: [], evals: [] };
  const progress = o.quiet ? null : new Progress(o.label ?? "train", o.steps);
  const t0 = performance.now();
  let pending: Tensor[] = [];
  let lastLoss = NaN;

  const readLosses = async (step: number) => {
    if (!pending.length) return;
    const all = tidy(() => stack(pending));
    const vals = await all.floats();
    all.dispose();
    pending.forEach((t) => t.dispose());
    pending = [];
    const bad = vals.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new NonFiniteLossError(
        `${o.label ?? "train"}: loss became ${vals[bad]} near step ${
          step - vals.length + bad + 1
        }; ` +
          `stopping (the last checkpoint, if any, is from before this point). Try a lower --lr or --clip.`,
      );
    }
    lastLoss = vals.reduce((s, v) => s + v, 0) / vals.length;
    result.losses.push([step, lastLoss]);
    if (metricsPath) {
      await appendLine(metricsPath, {
        step,
        loss: lastLoss,
        seconds: (performance.now() - t0) / 1000,
      });
    }
  };

  for (let step = start; step < o.steps; step++) {
    const cur = o.curriculum ? curriculumAt(o.curriculum, step) : undefined;
    const batch: IclBatch = task.sample(dataRng, o.batch, cur);
    const loss = tidy(() => {
      const l = o.loss ? o.loss(batch) : batchLoss(model, batch, task, backend);
      backward(l);
      const scale = o.clip > 0 ? clipGradNorm(params, o.clip) : null;
      opt.lr = o.schedule(step);
      opt.step(scale);
      zeroGrad(params);
      return l;
    });
    pending.push(loss);
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
        await appendLine(metricsPath, { ...ev, seconds: (performance.now() - t0) / 1000 });
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
      });
    }
    result.steps = done;
  }
  await readLosses(result.steps);
  progress?.done();
  result.seconds = (performance.now() - t0) / 1000;
  opt.dispose();
  return result;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
