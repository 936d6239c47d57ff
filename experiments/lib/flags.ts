/**
 * The one flag vocabulary of the experiment scripts: the flags every script takes, the task
 * flags a script opts into, and their validation (a bad value exits 2 naming the flag before
 * anything is written).
 */
import { ARCH_NAMES, type ArchName, type ModelSize } from "./archs.ts";
import { choiceFlag, decimal, fail, type FlagSpec, intFlag, intListFlag, numFlag } from "./cli.ts";
import { parseSizes } from "./sizes.ts";
import { type ScheduleKind, SCHEDULES } from "./trainer.ts";
// Run folders and scale-out (issue 16): their own block, parsed in sweep_flags.ts.
import { parseSweep, SWEEP_FLAGS, type SweepOptions } from "./sweep_flags.ts";

/** Flags every script accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  preset: {
    type: "string",
    default: "quick",
    help: "quick (sized for a 2-core CPU machine; every departure from the paper is printed) or " +
      "paper (the paper's sizes, N, curricula, 500k steps, checkpoints every 1000 steps; for a GPU)",
  },
  protocol: {
    type: "string",
    help:
      "park (constant lr, clip 10, LayerNorm Mamba, Park's models) or grazzi (cosine, Grazzi's " +
      "lr 1e-4 and S4 1e-3, no clip, RMSNorm Mamba, GPT-2 without positions, seeds 1,2,3) " +
      "(default: the task's paper)",
  },
  tasks: { type: "string", help: "comma-separated subset of this script's tasks (default: all)" },
  models: {
    type: "string",
    help: `comma-separated architectures from ${ARCH_NAMES.join(", ")} (default: the preset's)`,
  },
  sizes: {
    type: "string",
    help: "model sizes to sweep: quick (16x1, 32x2, 64x4), paper (Park's Table 2: tiny 64x3, " +
      "small 128x6, standard 256x12), or a list of tiny/small/standard and WIDTHxLAYERS[xHEADS]",
  },
  width: { type: "string", help: "model width d_model (one size; not with --sizes)" },
  layers: {
    type: "string",
    help:
      "paper layers: 1 layer = 1 GPT-2 block = 2 Mamba, S4 or attention blocks (not with --sizes)",
  },
  heads: { type: "string", help: "attention heads (must divide every width)" },
  norm: { type: "string", help: "norm of the Mamba-family blocks: layer (Park) or rms (Grazzi)" },
  steps: { type: "string", help: "training steps per run (default: the preset's)" },
  batch: { type: "string", help: "prompts per training step" },
  lr: { type: "string", help: "Adam learning rate, for every architecture" },
  schedule: { type: "string", help: `learning-rate schedule: ${SCHEDULES.join(", ")}` },
  warmup: { type: "string", help: "linear warm-up steps before the schedule" },
  optimizer: { type: "string", help: "adam (the papers') or adamw (decoupled weight decay)" },
  "weight-decay": {
    type: "string",
    help: "weight decay (default: adam 0, adamw 0.01); with adam an L2 penalty, as PyTorch's",
  },
  clip: { type: "string", help: "global gradient-norm clip; 0 turns clipping off" },
  seeds: {
    type: "string",
    help: "comma-separated seeds (weights, training data and test prompts); the spread over " +
      "seeds is reported",
  },
  fractions: {
    type: "string",
    help: "fractions of the steps at which checkpoints are evaluated (the FLOPs figure's points; " +
      "the paper's 100k/300k/500k are 0.2,0.6,1)",
  },
  "ema-span": {
    type: "string",
    help: "keep the best checkpoint by a moving average of the last-point loss over about this " +
      "many steps (Grazzi's criterion); 0 turns it off",
  },
  "eval-prompts": { type: "string", help: "test prompts shared by every model and baseline" },
  "eval-every": { type: "string", help: "steps between learning-curve evaluations" },
  "baseline-prompts": {
    type: "string",
    help: "prompts for the slow baselines (2-layer NN GD, XGBoost-style boosting, trees, lasso)",
  },
  "no-baselines": { type: "boolean", default: false, help: "skip the classical baselines" },
  backend: { type: "string", default: "auto", help: "auto (WebGPU, else CPU), webgpu, or cpu" },
  "no-check": {
    type: "boolean",
    default: false,
    help: "skip the first-step check of each model on WebGPU against the CPU backend",
  },
  out: { type: "string", help: "run folder (default runs/<experiment>-<timestamp>)" },
  resume: {
    type: "boolean",
    default: false,
    help: "continue the run in --out, an error if it holds none (a folder of the same " +
      "configuration is continued without it too: finished cells reused, others resumed)",
  },
  json: { type: "boolean", default: false, help: "print summary.json as the last line of stdout" },
  ...SWEEP_FLAGS,
};

/** Task flags; each script offers the ones that apply to its tasks. */
export const TASK_FLAGS: Record<string, FlagSpec> = {
  dims: { type: "string", help: "input dimension d of every selected task" },
  points: { type: "string", help: "in-context examples N per prompt" },
  k: { type: "string", help: "sparse parity: size of the hidden subset" },
  p: { type: "string", help: "outlier probability (Park: 0.5 orthogonal, 0.9 many; tests 0.2)" },
  hidden: { type: "string", help: "CoT-I/O hidden width h (Park sweeps 4, 8, 16)" },
};

/** The flags of a script: the common ones plus the named task flags and its own. */
export function scriptFlags(
  task: (keyof typeof TASK_FLAGS)[],
  own: Record<string, FlagSpec> = {},
): Record<string, FlagSpec> {
  return { ...COMMON_FLAGS, ...Object.fromEntries(task.map((k) => [k, TASK_FLAGS[k]])), ...own };
}

/** The parsed flags (undefined: the preset decides). */
export interface CommonOptions {
  preset: "quick" | "paper";
  protocol?: "park" | "grazzi";
  tasks?: string[];
  models?: ArchName[];
  sizes?: ModelSize[];
  width?: number;
  layers?: number;
  heads?: number;
  norm?: "layer" | "rms";
  steps?: number;
  batch?: number;
  lr?: number;
  schedule?: ScheduleKind;
  warmup?: number;
  optimizer?: "adam" | "adamw";
  weightDecay?: number;
  clip?: number;
  seeds?: number[];
  fractions?: number[];
  emaSpan?: number;
  evalPrompts?: number;
  evalEvery?: number;
  heavyPrompts?: number;
  noBaselines: boolean;
  backend: "auto" | "webgpu" | "cpu";
  /** Skip the first-step check against the CPU backend (experiments/lib/backend_check.ts). */
  noCheck: boolean;
  out?: string;
  resume: boolean;
  json: boolean;
  sweep: SweepOptions;
  dims?: number;
  points?: number;
  k?: number;
  p?: number;
  hidden?: number;
}

/** Heads given to WIDTHxLAYERS sizes until the preset's are known (spec building fills them). */
export const HEADS_UNSET = 0;

/** Validates the flags (exit 2 with a message naming the flag; nothing is written). */
export function parseCommon(
  name: string,
  f: Record<string, string | boolean | undefined>,
  taskKeys: readonly string[],
): CommonOptions {
  const s = (k: string) => f[k] as string | undefined;
  const opt = <T>(
    k: string,
    parse: (v: string) => T,
  ) => (s(k) === undefined ? undefined : parse(s(k)!));
  const int = (k: string, min = 1) => opt(k, (v) => intFlag(name, k, v, min));
  const list = (k: string) => s(k)?.split(",").map((x) => x.trim()).filter(Boolean);
  const preset = choiceFlag(name, "preset", s("preset") ?? "quick", ["quick", "paper"] as const);
  const tasks = list("tasks")?.map((t) => choiceFlag(name, "tasks", t, taskKeys));
  if (tasks && !tasks.length) fail(name, "--tasks must name at least one task");
  const models = list("models")?.map((m) => choiceFlag(name, "models", m, ARCH_NAMES));
  if (models && !models.length) fail(name, "--models must name at least one architecture");
  const heads = int("heads");
  let sizes: ModelSize[] | undefined;
  if (s("sizes") !== undefined) {
    for (const k of ["width", "layers"]) {
      if (s(k) !== undefined) fail(name, `--${k} and --sizes both set the model size; use one`);
    }
    try {
      sizes = parseSizes(s("sizes")!, heads ?? HEADS_UNSET);
    } catch (e) {
      fail(name, `--sizes ${(e as Error).message}`);
    }
  }
  const fractions = opt("fractions", (v) => {
    const fs = v.split(",").map(decimal);
    if (!fs.length || fs.some((x) => !(x > 0 && x <= 1))) {
      fail(name, `--fractions must be numbers in (0, 1], got "${v}"`);
    }
    return [...new Set([...fs, 1])].sort((a, b) => a - b);
  });
  const p = opt("p", (v) => {
    const x = decimal(v);
    if (!(x > 0 && x < 1)) fail(name, `--p must be a probability in (0, 1), got "${v}"`);
    return x;
  });
  const clip = opt("clip", (v) => {
    const x = decimal(v);
    if (!(x >= 0) || !Number.isFinite(x)) fail(name, `--clip must be a number ≥ 0, got "${v}"`);
    return x;
  });
  const seeds = opt("seeds", (v) => intListFlag(name, "seeds", v));
  return {
    preset,
    protocol: opt("protocol", (v) => choiceFlag(name, "protocol", v, ["park", "grazzi"] as const)),
    tasks,
    models,
    sizes,
    width: int("width"),
    layers: int("layers"),
    heads,
    norm: opt("norm", (v) => choiceFlag(name, "norm", v, ["layer", "rms"] as const)),
    steps: int("steps"),
    batch: int("batch"),
    lr: opt("lr", (v) => numFlag(name, "lr", v)),
    schedule: opt("schedule", (v) => choiceFlag(name, "schedule", v, SCHEDULES)),
    warmup: int("warmup", 0),
    optimizer: opt(
      "optimizer",
      (v) => choiceFlag(name, "optimizer", v, ["adam", "adamw"] as const),
    ),
    weightDecay: opt("weight-decay", (v) => {
      const x = decimal(v);
      if (!(x >= 0) || !Number.isFinite(x)) {
        fail(name, `--weight-decay must be a number ≥ 0, got "${v}"`);
      }
      return x;
    }),
    clip,
    seeds,
    fractions,
    emaSpan: int("ema-span", 0),
    evalPrompts: int("eval-prompts"),
    evalEvery: int("eval-every"),
    heavyPrompts: int("baseline-prompts"),
    noBaselines: f["no-baselines"] === true,
    backend: choiceFlag(
      name,
      "backend",
      s("backend") ?? "auto",
      ["auto", "webgpu", "cpu"] as const,
    ),
    noCheck: f["no-check"] === true,
    out: s("out"),
    resume: f.resume === true,
    json: f.json === true,
    sweep: parseSweep(name, f),
    dims: int("dims"),
    points: int("points", 2),
    k: int("k"),
    p,
    hidden: int("hidden"),
  };
}
