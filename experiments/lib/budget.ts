/**
 * Memory budget of a training run, estimated from the model config before anything is built or
 * written, so that an impossible size (`--width 100000`) is a one-line message instead of a
 * RangeError deep in the initialiser, or a run that grows until the machine swaps.
 *
 * The estimate is deliberately rough and on the low side: parameters are counted from the
 * layer plan (weights, biases, norms, SSM tables; within a few percent of the built model),
 * training state is parameters + gradients + Adam's m and v, and activations are a per-token,
 * per-block count of the intermediates the backward keeps. It rejects what cannot fit; it does
 * not promise that what passes fits.
 */
import type { Backend } from "../../core/backend.ts";
import type { WebGpuBackend } from "../../core/webgpu/backend.ts";
import { layerPlan, type ModelConfig, resolveConfig, type ResolvedConfig } from "../../nn/mod.ts";
import { seqLenOf, sizesOf, specConfig, type SuiteSpec } from "./spec.ts";

export interface TrainingEstimate {
  params: number;
  /** Weights, gradients, Adam m and v (f32). */
  stateBytes: number;
  /** Intermediates kept for the backward of one step. */
  activationBytes: number;
  /** The largest single tensor (one device buffer binding). */
  largestTensorBytes: number;
  /** All parameters together (the optimizer packs them into one allocation). */
  paramBytes: number;
  totalBytes: number;
}

/** What the device can hold; null where it cannot be known. */
export interface DeviceMemory {
  /** Most bytes one tensor may have (WebGPU: maxStorageBufferBindingSize). */
  maxTensorBytes: number | null;
  /** Most bytes one allocation may have (WebGPU: maxBufferSize). */
  maxBufferBytes: number | null;
  /** Memory for everything (CPU backend and software adapters: the machine's RAM). */
  totalBytes: number | null;
  what: string;
}

/** [parameters, largest weight, kept floats per token] of one block. */
function block(kind: string, c: ResolvedConfig): [number, number, number] {
  const E = c.dModel, Di = c.expand * E, N = c.dState, R = c.dtRank, K = c.dConv;
  const attn = 4 * E * E + 4 * E + 2 * E;
  const mamba = E * 2 * Di + Di * K + Di + Di * (R + 2 * N) + R * Di + Di + Di * N + Di +
    Di * E + 2 * E;
  const s4d = (H: number) => 2 * H * N + 2 * H; // complex A and C (N/2 modes each), dt, D
  switch (kind) {
    case "gpt2":
      return [attn + 8 * E * E + 5 * E + 2 * E, 4 * E * E, 16 * E];
    case "attn":
      return [attn, 3 * E * E, 6 * E];
    case "mamba":
      return [mamba, Math.max(E * 2 * Di, Di * N), 2 * E + 8 * Di];
    case "s4":
      return [2 * E * E + 2 * E + s4d(E) + 2 * E, 2 * E * E, 6 * E];
    default: // s4mamba
      return [E * 2 * Di + Di * E + Di * K + Di + s4d(Di) + 2 * E, 2 * E * Di, 2 * E + 8 * Di];
  }
}

/** Estimate of one training step at `batch` sequences of `seqLen` tokens. */
export function estimateTraining(
  config: ModelConfig,
  seqLen: number,
  batch: number,
): TrainingEstimate {
  const c = resolveConfig(config);
  const E = c.dModel;
  let params = c.tokenDim * E + E + E * c.outDim + c.outDim + 2 * E + (c.maxLen ?? 0) * E;
  let largest = Math.max(c.tokenDim, c.outDim, c.maxLen ?? 0) * E;
  let perToken = 2 * E;
  for (const kind of layerPlan(c)) {
    const [p, w, a] = block(kind, c);
    params += p;
    largest = Math.max(largest, w);
    perToken += a;
  }
  const tokens = batch * seqLen;
  // The widest activation is one buffer too: the MLP's 4E or Mamba's 2·Di per token.
  const widest = tokens * Math.max(4 * E, 2 * c.expand * E);
  const activationBytes = 4 * tokens * perToken;
  const stateBytes = 16 * params;
  return {
    params,
    stateBytes,
    activationBytes,
    largestTensorBytes: 4 * Math.max(largest, widest),
    paramBytes: 4 * params,
    totalBytes: stateBytes + activationBytes,
  };
}

/** The memory limits of a backend. */
export function deviceMemory(backend: Backend): DeviceMemory {
  const ram = Deno.systemMemoryInfo().total;
  if (backend.name !== "webgpu") {
    return { maxTensorBytes: null, maxBufferBytes: null, totalBytes: ram, what: "this machine" };
  }
  const ctx = (backend as WebGpuBackend).rt.ctx;
  return {
    maxTensorBytes: ctx.limits.maxStorageBufferBindingSize,
    maxBufferBytes: ctx.limits.maxBufferSize,
    // A software adapter's memory is the machine's; a GPU's total is not exposed by WebGPU.
    totalBytes: ctx.software ? ram : null,
    what: ctx.software ? "this machine (software adapter)" : "the GPU",
  };
}

const gib = (b: number) =>
  b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Why `est` cannot run on `mem`, in one line, or null when it may. */
export function overBudget(est: TrainingEstimate, mem: DeviceMemory): string | null {
  const p = `${(est.params / 1e6).toFixed(1)}M parameters`;
  if (mem.maxTensorBytes !== null && est.largestTensorBytes > mem.maxTensorBytes) {
    return `its largest tensor needs ${gib(est.largestTensorBytes)}, more than the ` +
      `${gib(mem.maxTensorBytes)} one buffer binding may have on ${mem.what}`;
  }
  if (mem.maxBufferBytes !== null && est.paramBytes > mem.maxBufferBytes) {
    return `its ${p} need ${gib(est.paramBytes)} in one allocation, more than the ` +
      `${gib(mem.maxBufferBytes)} one buffer may have on ${mem.what}`;
  }
  if (mem.totalBytes !== null && est.totalBytes > mem.totalBytes) {
    return `it needs about ${gib(est.totalBytes)} (${p}: ${gib(est.stateBytes)} with ` +
      `gradients and Adam state, ${gib(est.activationBytes)} of activations per step), more ` +
      `than the ${gib(mem.totalBytes)} of ${mem.what}`;
  }
  return null;
}

/** The first architecture and size of `specs` that cannot run on `backend`, in one line. */
export function specsOverBudget(specs: readonly SuiteSpec[], backend: Backend): string | null {
  const mem = deviceMemory(backend);
  for (const spec of specs) {
    const tokens = seqLenOf(spec.task);
    for (const arch of spec.models) {
      for (const size of sizesOf(spec, arch)) {
        const why = overBudget(
          estimateTraining(specConfig(spec, arch, size), tokens, spec.batch),
          mem,
        );
        if (why) {
          return `${arch} at width ${size.width}, ${size.layers} layer(s), batch ${spec.batch} of ` +
            `${tokens} tokens (${spec.key}) cannot run: ${why}; choose a smaller --width, ` +
            `--layers or --batch`;
        }
      }
    }
  }
  return null;
}
