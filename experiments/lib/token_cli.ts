/**
 * The command line exp:ginc and exp:regbench share: preset, models, steps, seeds, backend, the
 * run folder and the sweep flags of every cell experiment (sweep_flags.ts), all checked before
 * anything is created (a bad flag exits 2), and the preset's departures printed.
 */
import { fail, intFlag, intListFlag, numFlag, parseCli } from "./cli.ts";
import { timestamp } from "./files.ts";
import { parseSweep, SWEEP_FLAGS, type SweepOptions } from "./sweep_flags.ts";
import { TOKEN_ARCHS, type TokenArch } from "./token_train.ts";

export interface TokenRun<P> {
  presetName: "quick" | "paper";
  preset: P;
  /** Training steps of an architecture: `--steps`, else the preset's `stepsFor`, else `steps`. */
  steps: (arch: TokenArch) => number;
  seeds: number[];
  models: TokenArch[];
  backend: "auto" | "webgpu" | "cpu";
  out: string;
  resume: boolean;
  checkpointEvery: number;
  sweep: SweepOptions;
  /** Peak lr of an architecture: `--lr`, else the preset's `lrFor`, else its `lr`. */
  lr: (arch: TokenArch) => number;
}

export function tokenExperimentCli<
  P extends {
    steps: number;
    stepsFor?: Partial<Record<TokenArch, number>>;
    checkpointEvery: number;
    departures: string[];
    lr: number;
    lrFor?: Partial<Record<TokenArch, number>>;
  },
>(
  name: string,
  title: string,
  presets: Record<"quick" | "paper", P>,
): TokenRun<P> {
  const short = name.replace(/^exp:/, "");
  const f = parseCli(name, title, {
    preset: { type: "string", default: "quick", help: "quick (2-core CPU) or paper" },
    models: {
      type: "string",
      default: "lstm,transformer,mamba,mambaformer,hybrid",
      help: `comma-separated, of ${TOKEN_ARCHS.join(", ")}`,
    },
    steps: { type: "string", help: "training steps per model (default: the preset's)" },
    lr: { type: "string", help: "peak Adam lr of every model (default: the preset's per model)" },
    seed: { type: "string", help: "seed of the data and the models (default 1; not with --seeds)" },
    seeds: {
      type: "string",
      help: "comma-separated seeds, each a full replicate (data, prompts and weights): one cell " +
        "per model and seed",
    },
    backend: { type: "string", default: "auto", help: "auto, webgpu or cpu" },
    out: { type: "string", help: `run folder (default runs/${short}-<timestamp>)` },
    resume: {
      type: "boolean",
      default: false,
      help: "continue the run in --out, an error if it holds none (a folder of the same " +
        "configuration is continued without it too: finished cells reused, others resumed)",
    },
    ...SWEEP_FLAGS,
  });
  if (f.preset !== "quick" && f.preset !== "paper") fail(name, `--preset must be quick or paper`);
  const preset = presets[f.preset];
  const stepsFlag = f.steps ? intFlag(name, "steps", f.steps) : undefined;
  if (f.seed !== undefined && f.seeds !== undefined) fail(name, "--seed and --seeds: use one");
  const seeds = f.seeds !== undefined
    ? intListFlag(name, "seeds", f.seeds)
    : [f.seed === undefined ? 1 : intFlag(name, "seed", f.seed, 0)];
  const models = f.models.split(",").map((m) => m.trim()) as TokenArch[];
  for (const m of models) if (!TOKEN_ARCHS.includes(m)) fail(name, `unknown model "${m}"`);
  if (new Set(models).size !== models.length) fail(name, `--models repeats a model`);
  if (!["auto", "webgpu", "cpu"].includes(f.backend)) fail(name, `--backend: auto, webgpu or cpu`);
  const lrFlag = f.lr === undefined ? undefined : numFlag(name, "lr", f.lr);
  const steps = (a: TokenArch) => stepsFlag ?? preset.stepsFor?.[a] ?? preset.steps;
  const lr = (a: TokenArch) => lrFlag ?? preset.lrFor?.[a] ?? preset.lr;
  const sweep = parseSweep(name, f);
  const checkpointEvery = sweep.checkpointEvery ??
    Math.min(preset.checkpointEvery, ...models.map(steps));
  const out = f.out ?? `runs/${short}-${timestamp()}`;
  if (!sweep.listCells && !sweep.emit) {
    console.log(
      `${name}: preset ${f.preset}, seeds ${seeds.join(",")}, ` +
        `checkpoints every ${checkpointEvery || "—"} steps`,
    );
    console.log(
      `  steps and peak lr: ${models.map((m) => `${m} ${steps(m)} @ ${lr(m)}`).join(", ")}`,
    );
    for (const d of preset.departures) console.log(`  departure: ${d}`);
  }
  return {
    presetName: f.preset,
    preset,
    steps,
    seeds,
    models,
    backend: f.backend as TokenRun<P>["backend"],
    out,
    resume: f.resume,
    checkpointEvery,
    sweep,
    lr,
  };
}
