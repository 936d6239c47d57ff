/**
 * exp:parity: in-context sparse parity (Park et al. 2024, Fig. 1a / 3a). Trains Transformer,
 * Mamba and MambaFormer (optionally S4-Mamba and the Standard Hybrid) on prompts
 * (x_1, y_1, ..., x_N, y_N) with y = Π_{j∈S} x_j for a hidden k-subset S per prompt, and
 * reports late-position accuracy with a bootstrap interval next to the no-context chance level.
 */
import { initBackend } from "../core/device_select.ts";
import { makeModel, type ModelConfig, trainingFlops } from "../nn/mod.ts";
import { constantSchedule } from "../nn/optim.ts";
import { parityNoContextChance, SparseParity } from "../tasks/parity.ts";
import { errorCurveSvg } from "./plot.ts";
import { choiceFlag, fail, intFlag, intListFlag, numFlag, parseCli } from "./lib/cli.ts";
import { evalBatches, evaluateModel, rangeMean } from "./lib/evaluate.ts";
import { timestamp, writeAtomic } from "./lib/files.ts";
import { fmtTime } from "./lib/progress.ts";
import { NonFiniteLossError, train } from "./lib/trainer.ts";

const NAME = "exp:parity";
const ARCHS = ["transformer", "mamba", "mambaformer", "s4mamba", "hybrid"] as const;
type Arch = typeof ARCHS[number];

interface Preset {
  description: string;
  nDims: number;
  k: number;
  nPoints: number;
  width: number;
  layers: number;
  heads: number;
  batch: number;
  lr: number;
  steps: number;
  evalEvery: number;
  evalPrompts: number;
  curvePrompts: number;
  checkpointEvery: number;
  models: Arch[];
}

/** Quick: chosen by experiment to show the finding on a 2-core machine in ≤ 15 minutes (see README). */
const PRESETS: Record<string, Preset> = {
  quick: {
    description:
      "d=4, k=2, N=40 (smaller than the paper's d=10, N=140 so it fits 15 minutes on a 2-core CPU), 2 layers, width 64, 1000 steps",
    nDims: 4,
    k: 2,
    nPoints: 40,
    width: 64,
    layers: 2,
    heads: 4,
    batch: 32,
    lr: 1e-3,
    steps: 1000,
    evalEvery: 100,
    evalPrompts: 1280,
    curvePrompts: 256,
    checkpointEvery: 0,
    models: ["transformer", "mamba", "mambaformer"],
  },
  paper: {
    description:
      "the paper's settings: d=10, k=2, N=140, width 256, 12 layers, batch 64, lr 4e-4, 500k steps",
    nDims: 10,
    k: 2,
    nPoints: 140,
    width: 256,
    layers: 12,
    heads: 8,
    batch: 64,
    lr: 4e-4,
    steps: 500_000,
    evalEvery: 5000,
    evalPrompts: 1280,
    curvePrompts: 640,
    checkpointEvery: 1000,
    models: ["transformer", "mamba", "mambaformer"],
  },
};

const flags = parseCli(
  NAME,
  "train sequence models on in-context sparse parity and compare accuracy",
  {
    preset: {
      type: "string",
      default: "quick",
      help: `preset: ${Object.keys(PRESETS).join(", ")}`,
    },
    models: {
      type: "string",
      help: `comma-separated models from ${ARCHS.join(", ")} (default: the preset's)`,
    },
    seeds: {
      type: "string",
      default: "1",
      help: "comma-separated seeds; the spread over seeds is reported",
    },
    steps: { type: "string", help: "training steps per model (default: the preset's)" },
    dims: { type: "string", help: "bits per input d" },
    k: { type: "string", help: "size of the hidden subset" },
    points: { type: "string", help: "in-context examples N per prompt" },
    width: { type: "string", help: "model width (d_model)" },
    layers: { type: "string", help: "layers (Mamba/attention blocks each count as one)" },
    batch: { type: "string", help: "prompts per training step" },
    lr: { type: "string", help: "Adam learning rate" },
    "eval-prompts": { type: "string", help: "fresh test prompts for the final accuracy" },
    "eval-every": { type: "string", help: "steps between learning-curve evaluations" },
    backend: { type: "string", default: "auto", help: "auto (WebGPU, else CPU), webgpu, or cpu" },
    out: { type: "string", help: "run folder (default runs/parity-<timestamp>)" },
    resume: {
      type: "boolean",
      default: false,
      help: "continue the runs found in --out from their checkpoints",
    },
    json: {
      type: "boolean",
      default: false,
      help: "print summary.json as the last line of stdout",
    },
    control: {
      type: "boolean",
      default: false,
      help: "also train every model on the k=1 control (y = one hidden bit) and report it",
    },
  },
);

const preset = PRESETS[flags.preset] ??
  fail(NAME, `--preset must be one of ${Object.keys(PRESETS).join(", ")}, got "${flags.preset}"`);
const p: Preset = { ...preset };
if (flags.models) {
  p.models = flags.models.split(",").map((m) => choiceFlag(NAME, "models", m.trim(), ARCHS));
}
if (flags.steps) p.steps = intFlag(NAME, "steps", flags.steps);
if (flags.dims) p.nDims = intFlag(NAME, "dims", flags.dims);
if (flags.k) p.k = intFlag(NAME, "k", flags.k);
if (flags.points) p.nPoints = intFlag(NAME, "points", flags.points, 2);
if (flags.width) p.width = intFlag(NAME, "width", flags.width);
if (flags.layers) p.layers = intFlag(NAME, "layers", flags.layers);
if (flags.batch) p.batch = intFlag(NAME, "batch", flags.batch);
if (flags.lr) p.lr = numFlag(NAME, "lr", flags.lr);
if (flags["eval-prompts"]) p.evalPrompts = intFlag(NAME, "eval-prompts", flags["eval-prompts"]);
if (flags["eval-every"]) p.evalEvery = intFlag(NAME, "eval-every", flags["eval-every"]);
if (p.k > p.nDims) fail(NAME, `--k (${p.k}) must not exceed --dims (${p.nDims})`);
if (p.width % p.heads !== 0) {
  fail(NAME, `--width (${p.width}) must be a multiple of the ${p.heads} attention heads`);
}
const seeds = intListFlag(NAME, "seeds", flags.seeds);
const backendKind = choiceFlag(NAME, "backend", flags.backend, ["auto", "webgpu", "cpu"] as const);
const custom = JSON.stringify(p) !== JSON.stringify(preset);
const outDir = flags.out ?? `runs/parity-${timestamp()}`;

const backend = await initBackend(backendKind);
await Deno.mkdir(outDir, { recursive: true });
const chance = parityNoContextChance(p.nDims, p.k);
const lateFrom = Math.floor(p.nPoints * 0.75);
const paperSize = p.nDims === 10 && p.k === 2 && p.nPoints === 140;
console.log(
  `${NAME}: preset ${flags.preset}${custom ? " (modified by flags)" : ""}: ${p.description}`,
);
if (!paperSize) {
  console.log(
    `  note: d=${p.nDims}, k=${p.k}, N=${p.nPoints} departs from the paper's d=10, k=2, N=140`,
  );
}
console.log(`  backend ${backend.name} (${backend.description}); run folder ${outDir}`);
console.log(
  `  no-context chance level: accuracy ${chance.accuracy.toFixed(3)} (BCE ${
    chance.bce.toFixed(3)
  })`,
);

interface Row {
  model: string;
  seed: number;
  params: number;
  flops: number;
  steps: number;
  seconds: number;
  metric: string;
  value: number;
  ci: [number, number];
  curve: { step: number; accuracy: number }[];
  perPosition: number[];
  error?: string;
}

const rows: Row[] = [];
const controlRows: Row[] = [];
const variants = [{ k: p.k, out: rows, tag: "" }];
if (flags.control) variants.push({ k: 1, out: controlRows, tag: "-k1" });
for (const { k, out, tag } of variants) {
  for (const seed of seeds) {
    const task = new SparseParity({ nDims: p.nDims, nPoints: p.nPoints, k });
    const curveSet = evalBatches(task, { prompts: p.curvePrompts, seed: 10_000 + seed });
    const finalSet = evalBatches(task, { prompts: p.evalPrompts, seed: 20_000 + seed });
    for (const arch of p.models) {
      const cfg: ModelConfig = {
        arch,
        dModel: p.width,
        nLayer: p.layers,
        nHead: arch === "mamba" || arch === "s4mamba" ? undefined : p.heads,
        tokenDim: task.tokenDim,
        outDim: 1,
        maxLen: 2 * p.nPoints,
      };
      const model = makeModel(cfg, { seed, backend });
      const label = `${arch}${tag ? " k=1 control" : ""} seed ${seed}`;
      const runDir = `${outDir}/${arch}${tag}-seed${seed}`;
      await Deno.mkdir(runDir, { recursive: true });
      await writeAtomic(
        `${runDir}/config.json`,
        JSON.stringify({ experiment: NAME, preset: flags.preset, ...p, model: cfg }, null, 2),
      );
      const curve: { step: number; accuracy: number }[] = [];
      let error: string | undefined;
      let steps = 0, seconds = 0;
      try {
        const res = await train(model, task, backend, {
          steps: p.steps,
          batch: p.batch,
          lr: p.lr,
          schedule: constantSchedule(p.lr),
          clip: 10,
          seed,
          logEvery: 25,
          evalEvery: p.evalEvery,
          onEval: async (step) => {
            const r = await evaluateModel(model, task, curveSet, backend);
            const acc = rangeMean(r, lateFrom, p.nPoints).value;
            curve.push({ step, accuracy: acc });
            return { accuracy: acc };
          },
          runDir,
          checkpointEvery: p.checkpointEvery,
          resume: flags.resume,
          label,
          config: { model: cfg },
        });
        steps = res.steps;
        seconds = res.seconds;
      } catch (e) {
        if (!(e instanceof NonFiniteLossError)) throw e;
        error = e.message;
        console.error(e.message);
      }
      const final = await evaluateModel(model, task, finalSet, backend, seed);
      const late = rangeMean(final, lateFrom, p.nPoints, seed);
      out.push({
        model: arch,
        seed,
        params: model.numParams(),
        flops: trainingFlops(cfg, 2 * p.nPoints) * p.batch * steps,
        steps,
        seconds,
        metric: `accuracy (positions ${lateFrom + 1}-${p.nPoints})`,
        value: late.value,
        ci: late.ci,
        curve,
        perPosition: Array.from(final.stats.mean),
        error,
      });
      model.dispose();
      const last = out[out.length - 1];
      console.log(
        `  ${label}: late accuracy ${last.value.toFixed(3)} [${
          last.ci.map((v) => v.toFixed(3)).join(", ")
        }] after ${steps} steps, ${fmtTime(seconds)}`,
      );
    }
  }
}

// Tables, aggregated over seeds.
function aggregate(rs: Row[]) {
  const byModel = new Map<string, Row[]>();
  for (const r of rs) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  return [...byModel.entries()].map(([model, rs]) => {
    const vals = rs.map((r) => r.value);
    return {
      model,
      params: rs[0].params,
      flops: rs[0].flops,
      steps: rs[0].steps,
      seconds: rs.reduce((s, r) => s + r.seconds, 0) / rs.length,
      metric: rs[0].metric,
      value: vals.reduce((s, v) => s + v, 0) / vals.length,
      ci: rs.length === 1 ? rs[0].ci : [Math.min(...vals), Math.max(...vals)] as [number, number],
      seeds: rs.map((r) => ({ seed: r.seed, value: r.value, ci: r.ci })),
    };
  });
}

function printTable(title: string, agg: ReturnType<typeof aggregate>): void {
  console.log(`\n${title}`);
  console.log("| model | params | train FLOPs | steps | wall time | late accuracy | interval |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const a of agg) {
    const interval = a.ci.map((v) => v.toFixed(3)).join(", ");
    const kind = seeds.length > 1 ? "min-max over seeds" : "bootstrap 5-95%";
    console.log(
      `| ${a.model} | ${a.params.toLocaleString("en-US")} | ${
        a.flops.toExponential(2)
      } | ${a.steps} | ` +
        `${fmtTime(a.seconds)} | ${a.value.toFixed(3)} | [${interval}] (${kind}) |`,
    );
  }
}

const agg = aggregate(rows);
printTable(`sparse parity d=${p.nDims}, k=${p.k}, N=${p.nPoints}`, agg);
const controlAgg = aggregate(controlRows);
if (controlAgg.length) {
  const c1 = parityNoContextChance(p.nDims, 1).accuracy.toFixed(3);
  printTable(`control: k=1 (y is one hidden bit), no-context chance ${c1}`, controlAgg);
}
const acc = (m: string) => agg.find((a) => a.model === m)?.value;
const mamba = acc("mamba"), transformer = acc("transformer"), mf = acc("mambaformer");
// "Near chance" is judged against the no-context level, which depends on d and k: it is
// 0.555 at the paper's d=10, k=2 (where the 0.60 bar sits 0.045 above it) but 0.625
// at d=4, k=2, above any fixed 0.60 bar. So the bar is max(0.60, chance + 0.05).
const nearChanceBar = Math.max(0.6, chance.accuracy + 0.05);
let verdict: string;
if (mamba === undefined || transformer === undefined) {
  verdict = "incomplete: the verdict needs both mamba and transformer";
} else {
  const mambaLearns = mamba >= 0.95, tfChance = transformer <= nearChanceBar;
  const mfPart = mf === undefined
    ? ""
    : `, MambaFormer ${mf.toFixed(3)} (${mf >= 0.95 ? "learns" : "does not learn"})`;
  verdict = (mambaLearns && tfChance ? "REPRODUCED" : "NOT REPRODUCED") +
    `: Mamba ${mamba.toFixed(3)} (${mambaLearns ? "≥" : "<"} 0.95)${mfPart}, Transformer ${
      transformer.toFixed(3)
    } (${tfChance ? "≤" : ">"} ${nearChanceBar.toFixed(3)} = max(0.60, no-context chance ${
      chance.accuracy.toFixed(3)
    } + 0.05))`;
}
console.log(`\nverdict: ${verdict}`);

// Figures.
const curveSvg = errorCurveSvg({
  title: `Sparse parity d=${p.nDims}, k=${p.k}, N=${p.nPoints}: late-position accuracy`,
  xLabel: "training step",
  yLabel: "accuracy",
  series: [
    ...rows.map((r) => ({
      name: `${r.model} (seed ${r.seed})`,
      x: r.curve.map((c) => c.step),
      y: r.curve.map((c) => c.accuracy),
    })),
    {
      name: "no-context chance",
      x: [0, p.steps],
      y: [chance.accuracy, chance.accuracy],
      dashed: true,
    },
  ],
  yMax: 1.0,
});
await writeAtomic(`${outDir}/learning_curves.svg`, curveSvg);
const posSvg = errorCurveSvg({
  title: `Accuracy by in-context examples (${p.evalPrompts} test prompts)`,
  xLabel: "in-context examples",
  yLabel: "accuracy",
  series: rows.map((r) => ({
    name: `${r.model} (seed ${r.seed})`,
    x: r.perPosition.map((_, i) => i),
    y: r.perPosition,
  })),
  yMax: 1.0,
});
await writeAtomic(`${outDir}/accuracy_by_position.svg`, posSvg);

const summary = {
  experiment: "parity",
  preset: flags.preset,
  settings: p,
  backend: backend.description,
  chance: chance.accuracy,
  models: agg,
  control: controlAgg.length
    ? { k: 1, chance: parityNoContextChance(p.nDims, 1).accuracy, models: controlAgg }
    : null,
  runs: [...rows, ...controlRows].map(({ curve, perPosition: _pp, ...r }) => ({ ...r, curve })),
  verdict,
};
await writeAtomic(`${outDir}/summary.json`, JSON.stringify(summary, null, 2));
console.log(`wrote ${outDir}/summary.json, learning_curves.svg, accuracy_by_position.svg`);
if (flags.json) console.log(JSON.stringify(summary));
