/**
 * The command line exp:ginc and exp:regbench share: preset, models, steps, seed, backend and the
 * run folder, checked before anything is created, and the preset's departures printed.
 */
import type { Backend } from "../../core/backend.ts";
import { initBackend } from "../../core/device_select.ts";
import { fail, intFlag, parseCli } from "./cli.ts";
import { timestamp } from "./files.ts";
import { TOKEN_ARCHS, type TokenArch } from "./token_train.ts";

export interface TokenRun<P> {
  presetName: "quick" | "paper";
  preset: P;
  steps: number;
  seed: number;
  models: TokenArch[];
  backend: Backend;
  dir: string;
}

export async function tokenExperimentCli<P extends { steps: number; departures: string[] }>(
  name: string,
  title: string,
  presets: Record<"quick" | "paper", P>,
): Promise<TokenRun<P>> {
  const short = name.replace(/^exp:/, "");
  const f = parseCli(name, title, {
    preset: { type: "string", default: "quick", help: "quick (2-core CPU) or paper" },
    models: {
      type: "string",
      default: "lstm,transformer,mamba,mambaformer,hybrid",
      help: `comma-separated, of ${TOKEN_ARCHS.join(", ")}`,
    },
    steps: { type: "string", help: "training steps per model (default: the preset's)" },
    seed: { type: "string", default: "1", help: "seed of the data and the models" },
    backend: { type: "string", default: "auto", help: "auto, webgpu or cpu" },
    out: { type: "string", help: `run folder (default runs/${short}-<timestamp>)` },
  });
  if (f.preset !== "quick" && f.preset !== "paper") fail(name, `--preset must be quick or paper`);
  const preset = presets[f.preset];
  const steps = f.steps ? intFlag(name, "steps", f.steps) : preset.steps;
  const seed = intFlag(name, "seed", f.seed, 0);
  const models = f.models.split(",").map((m) => m.trim()) as TokenArch[];
  for (const m of models) if (!TOKEN_ARCHS.includes(m)) fail(name, `unknown model "${m}"`);
  if (!["auto", "webgpu", "cpu"].includes(f.backend)) fail(name, `--backend: auto, webgpu or cpu`);
  const backend = await initBackend(f.backend as "auto" | "webgpu" | "cpu");
  const dir = f.out ?? `runs/${short}-${timestamp()}`;
  await Deno.mkdir(dir, { recursive: true });
  console.log(
    `${name}: preset ${f.preset}, ${steps} steps per model, seed ${seed}, run folder ${dir}`,
  );
  for (const d of preset.departures) console.log(`  departure: ${d}`);
  return { presetName: f.preset, preset, steps, seed, models, backend, dir };
}
