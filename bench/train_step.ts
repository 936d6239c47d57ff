/**
 * Training-step time (forward + backward + Adam) at batch 64 × 280 tokens of width 10, the
 * sparse-parity shape PyTorch was measured on (perf-baselines.md §3), on WebGPU and, for the
 * small models, on the CPU backend.
 */
import { backward, zeroGrad } from "../core/autograd.ts";
import type { Backend } from "../core/backend.ts";
import { cpuBackend, webgpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { type Tensor, tidy } from "../core/tensor.ts";
import { type ICLModel, makeModel, type ModelConfig } from "../nn/mod.ts";
import { Adam } from "../nn/optim.ts";
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
}

const MODELS: { name: string; cfg: Omit<ModelConfig, "tokenDim" | "outDim" | "maxLen"> }[] = [
  { name: "transformer", cfg: { arch: "transformer", dModel: 64, nLayer: 2, nHead: 4 } },
  { name: "mamba", cfg: { arch: "mamba", dModel: 64, nLayer: 2 } },
  { name: "transformer", cfg: { arch: "transformer", dModel: 256, nLayer: 12, nHead: 8 } },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One forward + backward + Adam step, recorded (not awaited); returns the loss. */
export function trainStep(
  model: ICLModel,
  opt: Adam,
  task: Task,
  b: IclBatch,
  backend: Backend,
): Tensor {
  return tidy(() => {
    const l = batchLoss(model, b, task, backend);
    backward(l);
    opt.step();
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
): Promise<number> {
  const task = new SparseParity({ nDims: cfg.tokenDim, nPoints, k: 3 });
  const model = makeModel(cfg, { seed: 0, backend });
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const rng = new Rng(0);
  const times: number[] = [];
  for (let i = 0; i < warm + reps; i++) {
    const b = task.sample(rng, batch);
    const t0 = performance.now();
    const loss = trainStep(model, opt, task, b, backend);
    await loss.item();
    loss.dispose();
    if (i >= warm) times.push(performance.now() - t0);
  }
  opt.dispose();
  model.dispose();
  return median(times);
}

export async function benchTrainStep(quick = false): Promise<TrainStepRow[]> {
  const rows: TrainStepRow[] = [];
  const batch = 64, nPoints = 140, tokens = batch * 2 * nPoints;
  const gpu = await webgpuBackend();
  const targets: [Backend, boolean][] = [...(gpu ? [[gpu, true] as [Backend, boolean]] : []), [
    cpuBackend(),
    false,
  ]];
  for (const [backend, big] of targets) {
    for (const m of MODELS) {
      const large = m.cfg.dModel > 64;
      if (large && (quick || !big)) continue; // the paper-size model only on WebGPU, full mode
      const cfg = { ...m.cfg, tokenDim: 10, outDim: 1, maxLen: 2 * nPoints } as ModelConfig;
      const ms = await timeTrainStep(
        backend,
        cfg,
        batch,
        nPoints,
        large || !big ? 2 : 5,
        large ? 1 : 2,
      );
      rows.push({
        backend: backend.name,
        model: m.name,
        d_model: m.cfg.dModel,
        layers: m.cfg.nLayer,
        batch,
        tokens,
        ms,
        tokens_per_s: tokens / (ms / 1000),
      });
    }
  }
  return rows;
}

if (import.meta.main) {
  for (const r of await benchTrainStep(Deno.args.includes("--quick"))) console.log(r);
}
