/**
 * Where a training step's GPU time goes: per-kernel totals from timestamp queries over a few
 * steps at the exp:parity/bench shapes. `deno run -A bench/profile_step.ts [transformer|mamba]
 * [--batch 64] [--points 140] [--d 64]`.
 */
import { parseArgs } from "node:util";
import { webgpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { KernelProfiler } from "../core/webgpu/profiler.ts";
import { makeModel, type ModelConfig } from "../nn/mod.ts";
import { Adam } from "../nn/optim.ts";
import { SparseParity } from "../tasks/parity.ts";
import { trainStep } from "./train_step.ts";

const { values, positionals } = parseArgs({
  options: {
    batch: { type: "string", default: "64" },
    points: { type: "string", default: "140" },
    d: { type: "string", default: "64" },
    dims: { type: "string", default: "10" },
    steps: { type: "string", default: "3" },
    shapes: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const arch = (positionals[0] ?? "transformer") as ModelConfig["arch"];
const gpu = await webgpuBackend();
if (!gpu) throw new Error("profile_step: no WebGPU adapter");
const nPoints = Number(values.points), batch = Number(values.batch);
const cfg = {
  arch,
  dModel: Number(values.d),
  nLayer: 2,
  ...(arch === "mamba" || arch === "s4" || arch === "s4mamba" ? {} : { nHead: 4 }),
  tokenDim: Number(values.dims),
  outDim: 1,
  maxLen: 2 * nPoints,
} as ModelConfig;
const task = new SparseParity({ nDims: cfg.tokenDim, nPoints, k: 2 });
const model = makeModel(cfg, { seed: 0, backend: gpu });
const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
const rng = new Rng(0);
const step = async () => {
  const loss = trainStep(model, opt, task, task.sample(rng, batch), gpu);
  await loss.item();
  loss.dispose();
};
await step();
await step();
const prof = new KernelProfiler(gpu.rt);
gpu.rt.profiler = prof;
if (values.shapes) {
  // Key each dispatch by its grid and uniforms too, to tell the calls of one kernel apart.
  let label = "";
  const dispatch = gpu.rt.dispatch.bind(gpu.rt);
  gpu.rt.dispatch = (kernel, buffers, uniforms, grid) => {
    label = `${kernel.name} [${grid.join("x")}] (${Object.values(uniforms).slice(0, 6).join(",")})`;
    dispatch(kernel, buffers, uniforms, grid);
  };
  const pass = prof.pass.bind(prof);
  prof.pass = (rt, _name) => pass(rt, label);
}
const steps = Number(values.steps);
const t0 = performance.now();
for (let i = 0; i < steps; i++) {
  await step();
  await prof.collect();
}
const wall = (performance.now() - t0) / steps;
gpu.rt.profiler = null;
const rows = prof.report();
const total = rows.reduce((s, r) => s + r.ms, 0) / steps;
console.log(
  `${arch}: wall ${wall.toFixed(0)} ms/step (profiled), kernels ${total.toFixed(0)} ms/step`,
);
for (const r of rows) {
  console.log(
    `${(r.ms / steps).toFixed(1).padStart(8)} ms ${
      (r.count / steps).toFixed(0).padStart(5)
    }x  ${r.kernel}`,
  );
}
