/**
 * The first-step check of a run on WebGPU: one forward and backward of a small batch on the
 * run's model and on a CPU twin holding the same weights, compared loss for loss and gradient
 * for gradient. A kernel that is wrong on this adapter (a driver bug, a limit we did not plan
 * for) stops the run before it trains on garbage. `--no-check` skips it.
 */
import { backward, zeroGrad } from "../../core/autograd.ts";
import type { Backend } from "../../core/backend.ts";
import { cpuBackend } from "../../core/device_select.ts";
import { Rng } from "../../core/rng.ts";
import { type Tensor, tidy } from "../../core/tensor.ts";
import { assign } from "../../nn/init.ts";
import type { Module } from "../../nn/module.ts";
import type { IclBatch, Task } from "../../tasks/task.ts";
import { batchLoss, type SequenceModel } from "./icl.ts";

type CheckedModel = SequenceModel & Module;

/**
 * Relative L2 error allowed per gradient tensor. The CPU backend computes in f64 where the
 * WebGPU kernels use f32: agreement is ~1e-6 (tests/nn_webgpu_test.ts), a wrong kernel is off by
 * O(1).
 */
export const CHECK_TOLERANCE = 1e-3;

export interface CheckReport {
  loss: [number, number];
  /** The parameter whose gradient disagrees most, and by how much (relative L2). */
  worst: { name: string; error: number };
  ok: boolean;
}

type Loss = (model: CheckedModel, batch: IclBatch, backend: Backend) => Tensor;

/**
 * Copies `model`'s weights into `twin` (the same architecture on the CPU backend), runs one
 * forward and backward of a 2-prompt batch on both and compares. Gradients of both are zeroed
 * afterwards; the model's weights and optimizer are untouched.
 */
export async function checkAgainstCpu(
  model: CheckedModel,
  twin: CheckedModel,
  task: Task,
  backend: Backend,
  loss: Loss = (m, b, be) => batchLoss(m, b, task, be),
): Promise<CheckReport> {
  const mine = model.namedParameters(), theirs = twin.namedParameters();
  if (mine.length !== theirs.length) {
    throw new Error("backend check: the twin has other parameters");
  }
  for (let i = 0; i < mine.length; i++) assign(theirs[i][1], await mine[i][1].floats());
  const batch = task.sample(new Rng(20240101).fork("backend-check"), 2);
  const run = async (m: CheckedModel, be: Backend) => {
    const l = tidy(() => {
      const v = loss(m, batch, be);
      backward(v);
      return v;
    });
    const value = await l.item();
    l.dispose();
    const grads = new Map<string, Float32Array | null>();
    for (const [name, p] of m.namedParameters()) {
      grads.set(name, p.grad ? await p.grad.floats() : null);
    }
    zeroGrad(m.parameters());
    return { value, grads };
  };
  const gpu = await run(model, backend);
  const cpu = await run(twin, cpuBackend());
  let worst = { name: "", error: 0 };
  for (const [name, want] of cpu.grads) {
    const got = gpu.grads.get(name) ?? null;
    const error = !want || !got ? (want === got ? 0 : Infinity) : relativeError(got, want);
    if (!(error <= worst.error)) worst = { name, error };
  }
  const lossError = Math.abs(gpu.value - cpu.value) / Math.max(1e-6, Math.abs(cpu.value));
  return {
    loss: [gpu.value, cpu.value],
    worst,
    ok: lossError <= CHECK_TOLERANCE && worst.error <= CHECK_TOLERANCE,
  };
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let d = 0, n = 0;
  for (let i = 0; i < want.length; i++) {
    d += (got[i] - want[i]) ** 2;
    n += want[i] ** 2;
  }
  if (!Number.isFinite(d)) return Infinity;
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-12);
}

/** One line for the log, and an error that stops the run when the check failed. */
export function reportCheck(label: string, r: CheckReport, adapter: string): string {
  const line = `${label}: first-step check against the CPU backend: loss ${
    r.loss[0].toPrecision(6)
  } vs ${r.loss[1].toPrecision(6)}, largest gradient difference ${
    r.worst.error.toExponential(1)
  } (${r.worst.name || "none"})`;
  if (!r.ok) {
    throw new Error(
      `${line}: beyond ${CHECK_TOLERANCE}. The WebGPU kernels disagree with the CPU on ${adapter}; ` +
        "this run would train on wrong numbers. Please report it with this line; --backend cpu " +
        "runs on the CPU, --no-check skips the check.",
    );
  }
  return `${line}: ok`;
}
