/**
 * exp:parity: in-context sparse parity (Park et al. 2024, Fig. 1a / 3a / 5) on the common
 * pipeline. Prompts (x_1, y_1, ..., x_N, y_N) with y = Π_{j∈S} x_j for a hidden k-subset S per
 * prompt; late-position accuracy with an interval next to the no-context chance level, the
 * verdict (Mamba learns, the Transformer stays near chance), the median step at which each
 * architecture first reaches `--converge` accuracy over seeds (Fig. 5: seeds that never get
 * there are counted as such), and optionally the k=1 control.
 *
 *   deno task exp:parity                                   # quick: d=4, k=2, N=40
 *   deno task exp:parity --models transformer_mamba,mamba,transformer_nope --seeds 1,2,3,4,5
 *   deno task exp:parity --preset paper --out runs/parity-paper [--resume]
 */
import { parityNoContextChance, SparseParity } from "../tasks/parity.ts";
import { errorCurveSvg } from "./plot.ts";
import { ARCH_COLOR, type ArchName } from "./lib/archs.ts";
import { fail, numFlag, parseCli } from "./lib/cli.ts";
import { type FamilySummary, finishFamily, runFamily } from "./lib/family.ts";
import { type CommonOptions, parseCommon, scriptFlags } from "./lib/flags.ts";
import { writeAtomic } from "./lib/files.ts";
import { FIG1A_MODELS, FIG1A_TITLES } from "./lib/marks.ts";
import { buildSpecs, makeSpec, type TaskPart } from "./lib/presets.ts";
import type { RunRow } from "./lib/run.ts";
import type { SuiteSpec } from "./lib/spec.ts";
import type { SuiteSummary } from "./lib/suite.ts";

/**
 * Quick: d=4, k=2, N=40, width 64, 1 layer (Mamba: 2 blocks), batch 32, lr 1e-3, 1000 steps:
 * chosen by experiment to show the finding on a 2-core machine in about 10 minutes (README).
 */
const QUICK = { nDims: 4, k: 2, nPoints: 40 };
/** The paper: d=10, k=2, N=140; width 256, depth 12 (Fig. 3a), the [MF] config's lr 4e-4. */
const PAPER = { nDims: 10, k: 2, nPoints: 140 };

/** Fig. 3a's model, [MF]'s lr, and Fig. 5's five seeds. */
const PAPER_RECIPE = {
  sizes: [{ width: 256, layers: 12, heads: 8 }],
  lr: 4e-4,
  curvePrompts: 640,
  seeds: [1, 2, 3, 4, 5],
};

/** The sparse parity part (k overridable, for the k=1 control). */
export function parityPart(o: CommonOptions, k = o.k): TaskPart {
  const base = o.preset === "paper" ? PAPER : QUICK;
  const t = { nDims: o.dims ?? base.nDims, k: k ?? base.k, nPoints: o.points ?? base.nPoints };
  if (t.k > t.nDims) throw new Error(`--k (${t.k}) must not exceed --dims (${t.nDims})`);
  const chance = parityNoContextChance(t.nDims, t.k).accuracy;
  const control = k === 1 && (o.k ?? base.k) !== 1;
  const text = `d=${t.nDims}, k=${t.k}, N=${t.nPoints}`;
  return {
    key: control ? "sparse_parity_k1" : "sparse_parity",
    title: control ? "Control: k=1 (y is one hidden bit)" : FIG1A_TITLES.sparse_parity,
    task: new SparseParity(t),
    models: [...FIG1A_MODELS],
    // Park's Figs. 3a and 5, with the Transformer that starts with a Mamba block.
    paperModels: ["transformer", "mamba", "s4mamba", "mambaformer", "hybrid", "transformer_mamba"],
    baselines: [],
    metricName: "accuracy",
    trivial: { name: "no-context chance", value: chance },
    description: `${text}, one subset per prompt, BCE loss`,
    departures: text === "d=10, k=2, N=140" || control
      ? []
      : [`task sizes ${text} (paper: d=10, k=2, N=140)`],
    recipe: {
      sizes: [{ width: 64, layers: 1, heads: 4 }],
      batch: 32,
      lr: 1e-3,
      curvePrompts: 256,
    },
    paperRecipe: PAPER_RECIPE,
  };
}

/** The sparse parity spec (table1's parity row too). */
export function paritySpec(o: CommonOptions, k?: number): SuiteSpec {
  return makeSpec(parityPart(o, k), o);
}

/** A seed's first learning-curve step at or above `threshold` (null: never). */
export function convergenceStep(
  curve: { step: number; value: number }[],
  threshold: number,
): number | null {
  return curve.find((c) => c.value >= threshold)?.step ?? null;
}

/** Median over seeds with the seeds that never converge counted as later than any that do. */
export function medianSteps(steps: (number | null)[]): number | null {
  const s = steps.map((v) => v ?? Infinity).sort((a, b) => a - b);
  if (!s.length) return null;
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return Number.isFinite(mid) ? mid : null;
}

/** Per architecture at the reference size: convergence step of each seed and their median. */
export function convergence(t: SuiteSummary, threshold: number) {
  const ref = t.equalSteps.models.map((r) => ({ model: r.model, size: r.size }));
  return ref.map(({ model, size }) => {
    const runs = t.runs.filter((r) => r.model === model && r.size === size);
    const steps = runs.map((r) => convergenceStep(r.curve, threshold));
    return {
      model,
      threshold,
      seeds: runs.map((r) => r.seed),
      steps,
      converged: steps.filter((s) => s !== null).length,
      median: medianSteps(steps),
    };
  });
}

/** The old exp:parity verdict: Mamba ≥ 0.95 and the Transformer near the no-context level. */
export function parityVerdict(t: SuiteSummary, chance: number): string {
  const acc = (m: string) => t.equalSteps.models.find((r) => r.model === m)?.value;
  const mamba = acc("mamba"), transformer = acc("transformer"), mf = acc("mambaformer");
  // "Near chance" is judged against the no-context level, which depends on d and k: it is
  // 0.555 at the paper's d=10, k=2 (where the issue's 0.60 bar sits 0.045 above it) but 0.625
  // at d=4, k=2, above any fixed 0.60 bar. So the bar is max(0.60, chance + 0.05).
  const bar = Math.max(0.6, chance + 0.05);
  if (mamba === undefined || transformer === undefined) {
    return "incomplete: the verdict needs both mamba and transformer";
  }
  const mambaLearns = mamba >= 0.95, tfChance = transformer <= bar;
  const mfPart = mf === undefined
    ? ""
    : `, MambaFormer ${mf.toFixed(3)} (${mf >= 0.95 ? "learns" : "does not learn"})`;
  return (mambaLearns && tfChance ? "REPRODUCED" : "NOT REPRODUCED") +
    `: Mamba ${mamba.toFixed(3)} (${mambaLearns ? "≥" : "<"} 0.95)${mfPart}, Transformer ${
      transformer.toFixed(3)
    } (${tfChance ? "≤" : ">"} ${bar.toFixed(3)} = max(0.60, no-context chance ${
      chance.toFixed(3)
    } + 0.05)) at equal steps`;
}

/** exp:parity's two figures: per-seed learning curves and accuracy by position. */
function parityFigures(t: SuiteSummary, chance: number, steps: number): [string, string] {
  const ref = new Set(t.equalSteps.models.map((r) => `${r.model}/${r.size}`));
  const runs = t.runs.filter((r: RunRow) => ref.has(`${r.model}/${r.size}`));
  const name = (r: RunRow) => `${r.model} (seed ${r.seed})`;
  const color = (r: RunRow) =>
    (t.settings.seeds as number[]).length > 1 ? undefined : ARCH_COLOR[r.model as ArchName];
  const curves = errorCurveSvg({
    title: `${t.title}: late-position accuracy`,
    xLabel: "training step",
    yLabel: "accuracy",
    series: [
      ...runs.map((r) => ({
        name: name(r),
        color: color(r),
        x: r.curve.map((c) => c.step),
        y: r.curve.map((c) => c.value),
      })),
      { name: "no-context chance", x: [0, steps], y: [chance, chance], dashed: true },
    ],
    yMax: 1,
  });
  const byPos = errorCurveSvg({
    title: `Accuracy by in-context examples (${t.settings.evalPrompts} test prompts)`,
    xLabel: "in-context examples",
    yLabel: "accuracy",
    series: runs.map((r) => ({
      name: name(r),
      color: color(r),
      x: r.byPosition.mean.map((_, i) => i),
      y: r.byPosition.mean,
    })),
    yMax: 1,
  });
  return [curves, byPos];
}

if (import.meta.main) {
  const NAME = "exp:parity";
  const flags = parseCli(
    NAME,
    "train sequence models on in-context sparse parity and compare accuracy",
    scriptFlags(["dims", "points", "k"], {
      control: {
        type: "boolean",
        default: false,
        help: "also train every model on the k=1 control (y = one hidden bit) and report it",
      },
      converge: {
        type: "string",
        default: "0.95",
        help:
          "accuracy at which a run counts as converged (the median step over seeds is reported)",
      },
    }),
  );
  const o = parseCommon(NAME, flags, ["sparse_parity"]);
  const threshold = numFlag(NAME, "converge", flags.converge as string);
  if (threshold > 1) fail(NAME, `--converge must be an accuracy in (0, 1], got ${threshold}`);
  const specs = buildSpecs(NAME, () => [
    paritySpec(o),
    ...(flags.control ? [paritySpec(o, 1)] : []),
  ]);
  const { summary, outDir } = await runFamily("parity", specs, o);
  const main = summary.tasks[0];
  const chance = main.trivial.value;
  const conv = convergence(main, threshold);
  summary.verdict = parityVerdict(main, chance);
  summary.chance = chance;
  summary.convergence = conv;
  const ctl = summary.tasks[1];
  summary.control = ctl ? { k: 1, chance: ctl.trivial.value, models: ctl.equalSteps.models } : null;
  const [curves, byPos] = parityFigures(main, chance, specs[0].steps);
  await writeAtomic(`${outDir}/learning_curves.svg`, curves);
  await writeAtomic(`${outDir}/accuracy_by_position.svg`, byPos);
  console.log(
    `\nconvergence: first evaluation at ≥ ${threshold} late accuracy (every ${
      specs[0].evalEvery
    } steps, ${specs[0].curvePrompts} prompts)`,
  );
  for (const c of conv) {
    const per = c.steps.map((s, i) => `seed ${c.seeds[i]}: ${s ?? "never"}`).join(", ");
    console.log(
      `  ${c.model}: median ${
        c.median ?? `not reached (≤ ${specs[0].steps})`
      } over ${c.steps.length} seed(s), ` +
        `${c.converged} converged (${per})`,
    );
  }
  console.log(`wrote ${outDir}/learning_curves.svg, accuracy_by_position.svg`);
  await finishFamily(outDir, summary as FamilySummary, o.json);
}
