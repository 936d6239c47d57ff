/**
 * Training-step time (forward + backward + clipping + Adam), dispatches and peak memory per step:
 * at exp:parity's quick shape (batch 32 × 80 tokens of width 4) and at batch 64 × 280 tokens of
 * width 10, the sparse-parity shape PyTorch was measured on (perf-baselines.md §3), on WebGPU
 * and, for the small models, on the CPU backend. The paper-size models (GPT-2 256/12, Mamba
 * 256 × 24 blocks) run in full mode only.
 */
import { backward, zeroGrad } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { cpuBackend, webgpuBackend } from "../core/device_select.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";
import { Rng } from "../core/rng.ts";
import { type Tensor, tidy } from "../core/tensor.ts";
import { type ICLModel, makeModel, type ModelConfig } from "../nn/mod.ts";
import { Adam, clipGradNorm } from "../nn/optim.ts";
import { SparseParity } from "../tasks/parity.ts";
import type { IclBatch, Task } from "../tasks/task.ts";
import { batchLoss } from "../experiments/lib/icl.ts";

export interface TrainStepRow {
  backend: string;
  model: string;
  d_model: number;
  layers: number;
  batch: number;
  tokens: number;
  ms: number;
  tokens_per_s: number;
  /** WebGPU only: dispatches and peak memory of one step (from the runtime's accounting). */
  dispatches?: number;
  peak_in_use_bytes?: number;
  peak_allocated_bytes?: number;
}

type Cfg = Omit<ModelConfig, "tokenDim" | "outDim" | "maxLen">;

/** nLayer counts blocks here (GPT-2 blocks, Mamba blocks), as the engine does. */
const SMALL: { name: string; cfg: Cfg }[] = [
  { name: "transformer", cfg: { arch: "transformer", dModel: 64, nLayer: 2, nHead: 4 } },
  { name: "mamba", cfg: { arch: "mamba", dModel: 64, nLayer: 2 } },
  { name: "mambaformer", cfg: { arch: "mambaformer", dModel: 64, nLayer: 2, nHead: 4 } },
];
const PAPER: { name: string; cfg: Cfg }[] = [
  { name: "transformer", cfg: { arch: "transformer", dModel: 256, nLayer: 12, nHead: 8 } },
  { name: "mamba", cfg: { arch: "mamba", dModel: 256, nLayer: 24 } },
];

/** [batch, points per prompt, input width]: exp:parity's quick shape, then the PyTorch one. */
export const SHAPES = { quick: [32, 40, 4], pytorch: [64, 140, 10] } as const;

/** exp:parity's quick-preset model and task: d64, `nLayer` blocks, batch 32 × 80 tokens. */
export function quickSetup(arch: ModelConfig["arch"], nLayer = 2) {
  const [batch, nPoints, dims] = SHAPES.quick;
  const cfg = {
    arch,
    dModel: 64,
    nLayer,
    ...(arch === "mamba" ? {} : { nHead: 4 }),
    tokenDim: dims,
    outDim: 1,
    maxLen: 2 * nPoints,
  } as ModelConfig;
  return { cfg, task: new SparseParity({ nDims: dims, nPoints, k: 2 }), batch };
}

export interface StepMeasure {
  ms: number;
  dispatches?: number;
  peakInUse?: number;
  peakAllocated?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One forward + backward + clipping + Adam step, recorded (not awaited); returns the loss. */
export function trainStep(
  model: ICLModel,
  opt: Adam,
  task: Task,
  b: IclBatch,
  backend: Backend,
): Tensor {
  return tidy(() => {
    const l = batchLoss(model, b, task, backend);
    backward(l, undefined, { release: true });
    opt.step(clipGradNorm(model.parameters(), 10)); // the trainer's clip
    zeroGrad(model.parameters());
    return l;
  });
}

/** Median step time over `reps` steps after `warm` warm-up steps, syncing once per step. */
export async function timeTrainStep(
  backend: Backend,
  cfg: ModelConfig,
  batch: number,
  nPoints: number,
  reps: number,
  warm = 2,
): Promise<StepMeasure> {
  const task = new SparseParity({ nDims: cfg.tokenDim, nPoints, k: 3 });
  const model = makeModel(cfg, { seed: 0, backend });
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const rng = new Rng(0);
  const rt = backend instanceof WebGpuBackend ? backend.rt : null;
  rt?.trim(); // the pool holds only this model's buffers, so peak allocated is this model's
  const times: number[] = [];
  let last: Omit<StepMeasure, "ms"> = {};
  for (let i = 0; i < warm + reps; i++) {
    const b = task.sample(rng, batch);
    await rt?.sync();
    rt?.resetPeaks();
    const d0 = rt?.dispatches ?? 0;
    const t0 = performance.now();
    const loss = trainStep(model, opt, task, b, backend);
    await loss.item();
    loss.dispose();
    if (i >= warm) times.push(performance.now() - t0);
    if (rt) {
      last = {
        dispatches: rt.dispatches - d0,
        peakInUse: rt.peakInUse,
        peakAllocated: rt.peakAllocated,
      };
    }
  }
  opt.dispose();
  model.dispose();
  return { ms: median(times), ...last };
}

export async function benchTrainStep(quick = false): Promise<TrainStepRow[]> {
  const rows: TrainStepRow[] = [];
  const gpu = await webgpuBackend();
  const backends: Backend[] = [...(gpu ? [gpu] : []), cpuBackend()];
  for (const backend of backends) {
    const onGpu = backend === gpu;
    for (const [shape, [batch, nPoints, dims]] of Object.entries(SHAPES)) {
      // The paper-size models: WebGPU, full mode, the PyTorch shape only.
      const models = [...SMALL, ...(onGpu && !quick && shape === "pytorch" ? PAPER : [])];
      for (const m of models) {
        const large = m.cfg.dModel > 64;
        const cfg = { ...m.cfg, tokenDim: dims, outDim: 1, maxLen: 2 * nPoints } as ModelConfig;
        const reps = large || !onGpu ? 2 : 5;
        const r = await timeTrainStep(backend, cfg, batch, nPoints, reps, large ? 1 : 2);
        const tokens = batch * 2 * nPoints;
        rows.push({
          backend: backend.name,
          model: m.name,
          d_model: m.cfg.dModel,
          layers: m.cfg.nLayer,
          batch,
          tokens,
          ms: r.ms,
          tokens_per_s: tokens / (r.ms / 1000),
          ...(r.dispatches !== undefined
            ? {
              dispatches: r.dispatches,
              peak_in_use_bytes: r.peakInUse,
              peak_allocated_bytes: r.peakAllocated,
            }
            : {}),
        });
      }
    }
  }
  return rows;
}

if (import.meta.main) {
  for (const r of await benchTrainStep(Deno.args.includes("--quick"))) console.log(r);
}
