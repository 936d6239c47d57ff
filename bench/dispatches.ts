/**
 * Dispatches per training step (forward, backward, clipping, Adam) at exp:parity's quick shape,
 * in both kernel families on this adapter: the software family is what llvmpipe runs, the GPU
 * family what a real GPU would (its kernels run here too, only slower). `--kernels` lists them
 * by kernel name. Counts, not times: the same on every machine for the same code.
 *
 *   deno run -A bench/dispatches.ts [--models transformer,mamba,mambaformer] [--kernels]
 */
import { parseArgs } from "node:util";
import { webgpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";
import { otherFamily } from "../core/webgpu/profile.ts";
import { makeModel, type ModelConfig } from "../nn/mod.ts";
import { Adam } from "../nn/optim.ts";
import { quickSetup, trainStep } from "./train_step.ts";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "transformer,mamba,mambaformer" },
    kernels: { type: "boolean", default: false },
  },
});
const gpu = await webgpuBackend();
if (!gpu) {
  console.error("dispatches: no WebGPU adapter");
  Deno.exit(2);
}

async function count(be: WebGpuBackend, arch: ModelConfig["arch"]) {
  const { cfg, task, batch } = quickSetup(arch);
  const model = makeModel(cfg, { seed: 0, backend: be });
  const opt = new Adam(model.namedParameters());
  const rng = new Rng(0);
  const names = new Map<string, number>();
  const dispatch = be.rt.dispatch.bind(be.rt);
  let n = 0;
  // The second step is the one counted: the first also creates the optimizer state.
  for (let i = 0; i < 2; i++) {
    const d0 = be.rt.dispatches;
    if (i === 1) {
      be.rt.dispatch = (k, b, u, g) => {
        names.set(k.name, (names.get(k.name) ?? 0) + 1);
        dispatch(k, b, u, g);
      };
    }
    const loss = trainStep(model, opt, task, task.sample(rng, batch), be);
    await loss.item();
    loss.dispose();
    n = be.rt.dispatches - d0;
  }
  be.rt.dispatch = dispatch;
  opt.dispose();
  model.dispose();
  return { n, names };
}

const families: [string, WebGpuBackend][] = [
  [gpu.rt.profile.family, gpu],
  [
    otherFamily(gpu.rt.profile).family,
    new WebGpuBackend(gpu.rt.withProfile(otherFamily(gpu.rt.profile))),
  ],
];
console.log(
  `${gpu.description}; dispatches per quick-preset step (batch 32 × 80 tokens, d64, 2 blocks)`,
);
console.log(`| model | ${families.map(([f]) => `${f} family`).join(" | ")} |`);
console.log(`| --- | ${families.map(() => "---:").join(" | ")} |`);
for (const arch of values.models.split(",") as ModelConfig["arch"][]) {
  const rows = [];
  for (const [, be] of families) rows.push(await count(be, arch));
  console.log(`| ${arch} | ${rows.map((r) => r.n).join(" | ")} |`);
  if (values.kernels) {
    rows.forEach((r, i) => {
      console.log(`  ${families[i][0]} family:`);
      for (const [k, c] of [...r.names].sort((a, b) => b[1] - a[1])) console.log(`    ${c} ${k}`);
    });
  }
}
