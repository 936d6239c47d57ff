/**
 * Interleaved A/B of the training step: this tree against another checkout of iclab (a git
 * worktree of an older commit), both loaded in one process on devices of their own, their steps
 * alternating, so that the shared VM's drift (±40% between hours) cancels. Prints the median and
 * the spread of each side per model and shape.
 *
 *   git worktree add /tmp/iclab-base <commit>
 *   deno run -A bench/ab_step.ts --base /tmp/iclab-base [--steps 20] [--models transformer,mamba]
 *     [--shape quick|bench]
 *
 * "quick" is exp:parity's quick preset (batch 32 × 80 tokens, d = 4, width 64, 2 blocks); "bench"
 * is `deno task bench`'s step (batch 64 × 280 tokens, d = 10).
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

interface Side {
  label: string;
  step(): Promise<number>;
}

const SHAPES = {
  quick: { batch: 32, nPoints: 40, nDims: 4 },
  bench: { batch: 64, nPoints: 140, nDims: 10 },
} as const;

// deno-lint-ignore no-explicit-any
type Mod = any;

/** A model, optimizer and task built from one tree's modules; `step` times one training step. */
async function side(root: string, label: string, arch: string, shape: keyof typeof SHAPES) {
  const url = (p: string) => pathToFileURL(resolve(root, p)).href;
  const { webgpuBackend }: Mod = await import(url("core/device_select.ts"));
  const { makeModel }: Mod = await import(url("nn/mod.ts"));
  const { Adam }: Mod = await import(url("nn/optim.ts"));
  const { SparseParity }: Mod = await import(url("tasks/parity.ts"));
  const { Rng }: Mod = await import(url("core/rng.ts"));
  const { trainStep }: Mod = await import(url("bench/train_step.ts"));
  const backend = await webgpuBackend();
  if (!backend) throw new Error("ab_step: no WebGPU adapter");
  const { batch, nPoints, nDims } = SHAPES[shape];
  const cfg = {
    arch,
    dModel: 64,
    nLayer: 2,
    ...(arch === "transformer" ? { nHead: 4 } : {}),
    tokenDim: nDims,
    outDim: 1,
    maxLen: 2 * nPoints,
  };
  const task = new SparseParity({ nDims, nPoints, k: 2 });
  const model = makeModel(cfg, { seed: 0, backend });
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const rng = new Rng(0);
  return {
    label,
    async step() {
      const b = task.sample(rng, batch);
      const t0 = performance.now();
      const loss = trainStep(model, opt, task, b, backend);
      await loss.item();
      loss.dispose();
      return performance.now() - t0;
    },
  } satisfies Side;
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(0)} ms (min ${s[0].toFixed(0)}, p25–p75 ${q(0.25).toFixed(0)}–${
    q(0.75).toFixed(0)
  })`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      base: { type: "string" },
      steps: { type: "string", default: "20" },
      models: { type: "string", default: "transformer,mamba" },
      shape: { type: "string", default: "quick" },
    },
  });
  const steps = Number(values.steps);
  if (!values.base || !Number.isInteger(steps) || steps < 1 || !(values.shape! in SHAPES)) {
    console.error(
      "usage: bench/ab_step.ts --base DIR [--steps N] [--models a,b] [--shape quick|bench]",
    );
    Deno.exit(2);
  }
  const shape = values.shape as keyof typeof SHAPES;
  const here = resolve(new URL(".", import.meta.url).pathname, "..");
  for (const arch of values.models!.split(",")) {
    const a = await side(resolve(values.base), "base", arch, shape);
    const b = await side(here, "this tree", arch, shape);
    for (let i = 0; i < 3; i++) { // warm-up: pipelines and llvmpipe's JIT
      await a.step();
      await b.step();
    }
    const ta: number[] = [], tb: number[] = [];
    for (let i = 0; i < steps; i++) {
      // Alternate which side goes first, so neither always follows the other's work.
      if (i % 2 === 0) {
        ta.push(await a.step());
        tb.push(await b.step());
      } else {
        tb.push(await b.step());
        ta.push(await a.step());
      }
    }
    console.log(`${arch} (${shape}): base ${stats(ta)} | this tree ${stats(tb)}`);
  }
}
