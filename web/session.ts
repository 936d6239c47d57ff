/**
 * One training run in the page: a task, a model and its optimizer, stepped one batch at a time
 * so the page can draw between steps. DOM-free, so the test hook and the UI drive the same code.
 */
import { backward, zeroGrad } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { Rng } from "../core/rng.ts";
import { tidy } from "../core/tensor.ts";
import type { ModelConfig } from "../nn/config.ts";
import { type ICLModel, makeModel } from "../nn/models.ts";
import { Adam, clipGradNorm } from "../nn/optim.ts";
import { applyCheckpoint, decodeCheckpoint, encodeCheckpoint } from "../nn/checkpoint_bytes.ts";
import { makeTask } from "../tasks/registry.ts";
import type { IclBatch, Task } from "../tasks/task.ts";
import { BASELINES } from "../tasks/baselines.ts";
import { baselineInput } from "../tasks/baselines/types.ts";
import { batchLoss } from "../experiments/lib/icl.ts";
import { evalBatches, evaluateModel, evaluatePredictions } from "../experiments/lib/evaluate.ts";
import { type TaskChoice, TASKS } from "./choices.ts";

export interface RunSpec {
  task: string;
  model: ModelConfig;
  batch: number;
  lr: number;
  seed: number;
}

/** Mean error (or accuracy) per prediction position, for the model and each baseline. */
export interface ErrorCurves {
  step: number;
  metric: "squared_error" | "accuracy";
  model: number[];
  baselines: Record<string, number[]>;
}

/** Evaluation prompts: fixed per run, so successive curves are comparable. */
const EVAL_PROMPTS = 64;
const CLIP = 10;

export class Session {
  readonly task: Task;
  readonly choice: TaskChoice;
  readonly model: ICLModel;
  readonly losses: [number, number][] = [];
  step = 0;
  private opt: Adam;
  private readonly dataRng: Rng;
  private readonly evalSet: IclBatch[];
  private baselineCurves: Record<string, number[]> | null = null;

  constructor(readonly spec: RunSpec, readonly backend: Backend) {
    this.choice = TASKS[spec.task];
    if (!this.choice) throw new Error(`unknown task "${spec.task}"`);
    this.task = makeTask(this.choice.name, this.choice.opts);
    this.model = makeModel(spec.model, { seed: spec.seed, backend });
    this.opt = new Adam(this.model.namedParameters(), { lr: spec.lr });
    this.dataRng = new Rng(spec.seed).fork("data");
    this.evalSet = evalBatches(this.task, { prompts: EVAL_PROMPTS, seed: spec.seed + 1 });
  }

  /** The model config for a task, architecture and size (maxLen fits the task's prompts). */
  static modelConfig(
    task: string,
    base: Omit<ModelConfig, "tokenDim" | "outDim" | "maxLen">,
  ): ModelConfig {
    const t = makeTask(TASKS[task].name, TASKS[task].opts);
    const seqLen = t.sample(new Rng(0), 1).seqLen;
    return { ...base, tokenDim: t.tokenDim, outDim: t.outDim, maxLen: seqLen };
  }

  get parameterCount(): number {
    return this.model.parameters().reduce((s, p) => s + p.size, 0);
  }

  /** One forward, backward, clip and Adam step, as experiments/lib/trainer.ts does it. */
  async trainStep(): Promise<number> {
    const batch = this.task.sample(this.dataRng, this.spec.batch);
    const params = this.model.parameters();
    const loss = tidy(() => {
      const l = batchLoss(this.model, batch, this.task, this.backend);
      backward(l, undefined, { release: true });
      this.opt.step(clipGradNorm(params, CLIP));
      zeroGrad(params);
      return l;
    });
    try {
      const v = await loss.item();
      this.step++;
      this.losses.push([this.step, v]);
      return v;
    } finally {
      loss.dispose();
    }
  }

  /** Error per position on the fixed evaluation prompts; baselines are computed once. */
  async errorCurves(): Promise<ErrorCurves> {
    const r = await evaluateModel(this.model, this.task, this.evalSet, this.backend);
    this.baselineCurves ??= Object.fromEntries(
      this.choice.baselines.map((name) => {
        const fn = BASELINES[name];
        const ev = evaluatePredictions(this.task, this.evalSet, (b) => fn(baselineInput(b)));
        return [name, [...ev.stats.mean]];
      }),
    );
    return {
      step: this.step,
      metric: this.task.metric,
      model: [...r.stats.mean],
      baselines: this.baselineCurves,
    };
  }

  /** The weights as a safetensors file (the format nn/checkpoint.ts reads and writes). */
  save(): Promise<Uint8Array> {
    return encodeCheckpoint({
      model: this.model,
      step: this.step,
      metadata: { web_task: this.spec.task, web_run: JSON.stringify(this.spec) },
    });
  }

  /**
   * A session from a saved file: the same task and architecture, with its weights. Training
   * continues with a fresh optimizer (the page saves weights only).
   */
  static load(bytes: Uint8Array, name: string, backend: Backend): Session {
    const file = decodeCheckpoint(bytes, name);
    const run = file.metadata.web_run;
    if (!run) throw new Error(`${name}: not saved by this page (no "web_run" metadata)`);
    const spec = JSON.parse(run) as RunSpec;
    const s = new Session(spec, backend);
    const loaded = applyCheckpoint(file, name, { model: s.model });
    s.step = loaded.step ?? 0;
    return s;
  }

  dispose(): void {
    this.opt.dispose();
    this.model.dispose();
  }
}
