/**
 * iclab's training step against PyTorch's on this machine's CPU, interleaved: rounds of iclab's
 * step (bench/train_step.ts, on the default adapter) and bench/pytorch_step.py (same models,
 * same shape) alternate, so the shared VM's drift hits both; the ratio of the medians is printed.
 *
 *   deno run -A bench/vs_pytorch.ts [--models transformer,mamba] [--shape quick|pytorch]
 *     [--rounds 3] [--reps 10]
 *
 * PyTorch is Debian's python3-torch; where it is missing and this runs as root with apt-get, the
 * script installs it (and OpenBLAS: without it Debian's torch links the reference BLAS, 4x slower
 * matmuls). PyTorch runs with the tuned glibc malloc of ../shared/spec/perf-baselines.md.
 */
import { parseArgs } from "node:util";
import { webgpuBackend } from "../core/device_select.ts";
import type { ModelConfig } from "../nn/mod.ts";
import { SHAPES, timeTrainStep } from "./train_step.ts";

const TUNED_MALLOC = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736";

async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output()
    .catch(() => null);
  const text = (b?: Uint8Array) => new TextDecoder().decode(b);
  return { ok: r?.success ?? false, out: text(r?.stdout), err: text(r?.stderr) };
}

/** A python3 that imports torch, installing Debian's where allowed; null if none. */
async function torchPython(): Promise<string | null> {
  const find = async () => {
    for (const py of ["/usr/bin/python3", "python3"]) {
      if ((await sh(py, ["-c", "import torch"])).ok) return py;
    }
    return null;
  };
  const found = await find();
  if (found || Deno.uid?.() !== 0) return found;
  console.error("vs_pytorch: installing Debian's python3-torch and OpenBLAS (apt-get) ...");
  await sh("apt-get", ["install", "-y", "-qq", "python3-torch", "libopenblas0-pthread"], {
    DEBIAN_FRONTEND: "noninteractive",
  });
  return await find();
}

function fail(msg: string): never {
  console.error(`vs_pytorch: ${msg}`);
  Deno.exit(2);
}

const { values: f } = parseArgs({
  options: {
    models: { type: "string", default: "transformer,mamba" },
    shape: { type: "string", default: "quick" },
    rounds: { type: "string", default: "3" },
    reps: { type: "string", default: "10" },
  },
});
const models = f.models!.split(",");
for (const m of models) if (m !== "transformer" && m !== "mamba") fail(`unknown model "${m}"`);
if (!(f.shape! in SHAPES)) fail(`--shape must be quick or pytorch, got "${f.shape}"`);
const rounds = Number(f.rounds), reps = Number(f.reps);
if (!(Number.isInteger(rounds) && rounds > 0)) fail(`--rounds must be an integer ≥ 1`);
if (!(Number.isInteger(reps) && reps > 0)) fail(`--reps must be an integer ≥ 1`);

const gpu = await webgpuBackend();
if (!gpu) fail("no WebGPU adapter (iclab's side of the comparison runs on WebGPU)");
const py = await torchPython();
if (!py) fail("no python3 with torch: apt-get install python3-torch libopenblas0-pthread");
const cpu = (await sh("lscpu", [])).out.match(/Model name:\s*(.+)/)?.[1] ?? "unknown CPU";
console.log(`cpu: ${cpu}; iclab on ${gpu.description}; PyTorch via ${py}`);

const [batch, nPoints, dims] = SHAPES[f.shape as keyof typeof SHAPES];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows: string[] = [];
for (const m of models) {
  const cfg = {
    arch: m,
    dModel: 64,
    nLayer: 2,
    ...(m === "transformer" ? { nHead: 4 } : {}),
    tokenDim: dims,
    outDim: 1,
    maxLen: 2 * nPoints,
  } as ModelConfig;
  const ours: number[] = [], theirs: number[] = [];
  let torchInfo = "";
  for (let r = 0; r < rounds; r++) {
    ours.push((await timeTrainStep(gpu, cfg, batch, nPoints, reps)).ms);
    const args = ["bench/pytorch_step.py", "--model", m, "--batch", `${batch}`];
    args.push("--tokens", `${2 * nPoints}`, "--dims", `${dims}`, "--reps", `${reps}`);
    const p = await sh(py, args, { GLIBC_TUNABLES: TUNED_MALLOC });
    if (!p.ok) fail(`bench/pytorch_step.py failed:\n${p.err}`);
    const j = JSON.parse(p.out);
    theirs.push(j.ms);
    torchInfo = `torch ${j.torch}, ${j.threads} thread(s), ${j.params} params`;
    console.log(
      `  ${m} round ${r + 1}: iclab ${ours.at(-1)!.toFixed(0)} ms, PyTorch ${j.ms.toFixed(0)} ms`,
    );
  }
  const a = median(ours), b = median(theirs);
  rows.push(
    `| ${m} | ${batch} × ${2 * nPoints} | ${a.toFixed(0)} ms | ${b.toFixed(0)} ms | ` +
      `${(a / b).toFixed(2)}× | ${torchInfo} |`,
  );
}
console.log("\n| model (d64, 2 blocks) | batch × tokens | iclab | PyTorch | iclab / PyTorch | |");
console.log("| --- | --- | ---: | ---: | ---: | --- |");
for (const r of rows) console.log(r);
