/**
 * iclab: a laboratory for in-context learning on WebGPU.
 *
 * ```ts
 * import { initBackend, Rng, randn, matmul, tidy } from "https://.../iclab/mod.ts";
 * await initBackend(); // WebGPU when an adapter exists, else the CPU backend
 * const rng = new Rng(0);
 * const y = tidy(() => matmul(randn([2, 3], rng), randn([3, 4], rng)));
 * console.log(await y.data());
 * ```
 *
 * @module
 */
export { liveTensorCount, memory, Tensor, tidy } from "./core/tensor.ts";
export type { GradFn } from "./core/tensor.ts";
export { backward, isGradEnabled, noGrad, zeroGrad } from "./core/autograd.ts";
export {
  arange,
  fromArray,
  fromInts,
  full,
  ones,
  rand,
  randn,
  scalar,
  zeros,
} from "./core/create.ts";
export { Rng } from "./core/rng.ts";
export type { RngState } from "./core/rng.ts";
export {
  type BackendKind,
  cpuBackend,
  getBackend,
  initBackend,
  setBackend,
  webgpuBackend,
} from "./core/device_select.ts";
export type { Backend, DeviceBuffer, DType, MemoryInfo } from "./core/backend.ts";
export * from "./core/ops/mod.ts";

// Models, optimizers and checkpoints.
export * from "./nn/mod.ts";

// Tasks, curricula, baselines and evaluation statistics.
export { isTaskName, makeTask, TASK_NAMES } from "./tasks/registry.ts";
export type { TaskName, TaskOptions } from "./tasks/registry.ts";
export type { IclBatch, LossKind, MetricKind, SampleOptions, Task } from "./tasks/task.ts";
export {
  type Curriculum,
  curriculumAt,
  defaultCurriculum,
  type Schedule as CurriculumSchedule,
} from "./tasks/curriculum.ts";
export { parityNoContextChance, sampleSparseParity, SparseParity } from "./tasks/parity.ts";
export { baselineInput, BASELINES, BASELINES_FOR_TASK } from "./tasks/baselines.ts";
export { pointwiseErrors, positionStats } from "./tasks/metrics.ts";
