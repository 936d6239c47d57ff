/**
 * The experiment pipeline: the ✓/▲/✗ criteria on hand-made numbers (each boundary from both
 * sides), the FLOPs frontier and the matched-FLOPs pick on hand-made points, the size grids,
 * the layer convention, and the command-line contract of every script (--help exits 0, an
 * unknown flag or bad value exits 2 naming the flag with nothing written, and a tiny CPU run of
 * every architecture writes summary.json with the contract's fields and the three figures).
 */
import assert from "node:assert/strict";
import {
  assignMarks,
  FIG1A_TASKS,
  fig1aMarkdown,
  type MarkInput,
  normalizeValue,
  PAPER_MARKS,
} from "../experiments/lib/marks.ts";
import { checkpointSteps, heavyPositions, lateRange } from "../experiments/lib/spec.ts";
import { MQAR_LEARN, MQAR_PAPER_MSE } from "../experiments/mqar.ts";
import { ARCH_NAMES, modelConfig } from "../experiments/lib/archs.ts";
import { aggregatePoints, bestWithin, frontier } from "../experiments/lib/frontier.ts";
import { matchedFlops } from "../experiments/lib/marks.ts";
import { parseSizes, QUICK_GRID } from "../experiments/lib/sizes.ts";
import { makeSchedule } from "../experiments/lib/trainer.ts";
import { convergenceStep, medianSteps } from "../experiments/parity.ts";
import { layerPlan, makeModel, resolveConfig } from "../nn/mod.ts";

const row = (model: string, value: number, half = 0.005): MarkInput => ({
  model,
  value,
  ci: [value - half, value + half],
});
const marksOf = (rows: MarkInput[], trivial = 1, higherIsBetter = false, learn?: number) =>
  Object.fromEntries(
    assignMarks(rows, { trivial, higherIsBetter, learn }).map((m) => [m.model, m.mark]),
  );

Deno.test("marks: error scale, ✓/▲/✗ boundaries", () => {
  // best 0.10; par margin 0.05 → ✓ up to 0.15 (tight intervals so overlap does not decide).
  const m = marksOf([
    row("best", 0.10),
    row("par", 0.149),
    row("gap", 0.161),
    row("learns", 0.79),
    row("fails", 0.81),
  ]);
  assert.deepEqual(m, { best: "✓", par: "✓", gap: "▲", learns: "▲", fails: "✗" });
});

Deno.test("marks: overlapping intervals count as on par; reaching trivial is ✗", () => {
  const m = marksOf([
    row("best", 0.10, 0.05),
    { model: "wide", value: 0.20, ci: [0.14, 0.26] }, // lo 0.14 ≤ best hi 0.15
    { model: "noisy", value: 0.70, ci: [0.40, 1.01] }, // upper end reaches the trivial level
    { model: "nan", value: NaN, ci: [NaN, NaN] },
  ]);
  assert.deepEqual(m, { best: "✓", wide: "✓", noisy: "✗", nan: "✗" });
});

Deno.test("marks: trivial level other than 1 scales the margins", () => {
  // Zero predictor measured at 2.0: par margin is 0.1 in raw units, learning needs < 1.6.
  const m = marksOf([row("best", 0.2), row("par", 0.29), row("gap", 0.32), row("fails", 1.62)], 2);
  assert.deepEqual(m, { best: "✓", par: "✓", gap: "▲", fails: "✗" });
});

Deno.test("marks: accuracy scale against the no-context chance", () => {
  // chance 0.6: e = (1 − acc) / 0.4; best acc 0.99 → e 0.025.
  assert.equal(normalizeValue(0.6, { higherIsBetter: true, trivial: 0.6 }), 1);
  const m = marksOf(
    [
      row("best", 0.99),
      row("par", 0.971), // e 0.0725 ≤ 0.075
      row("gap", 0.965), // e 0.0875
      row("chance", 0.62, 0.03), // interval reaches 0.59 < chance
      row("barely", 0.67), // e 0.825 > 0.8
    ],
    0.6,
    true,
  );
  assert.deepEqual(m, { best: "✓", par: "✓", gap: "▲", chance: "✗", barely: "✗" });
});

Deno.test("marks: the paper's MQAR numbers give its marks under the MQAR rule", () => {
  for (const [setting, values] of Object.entries(MQAR_PAPER_MSE)) {
    const rows = Object.entries(values).map(([model, v]) => row(model, v, 0));
    const m = marksOf(rows, 1, false, MQAR_LEARN);
    assert.equal(m.mamba, "✗", setting);
    assert.equal(m.transformer, "✓", setting);
    assert.equal(m.mambaformer, "✓", setting);
  }
  // The default rule would only give Mamba ▲ at d_model 128 (error 0.15 removes 85%).
  assert.equal(marksOf([row("mamba", 0.15, 0), row("transformer", 2.46e-7, 0)]).mamba, "▲");
});

Deno.test("marks: Fig. 1a table counts agreements", () => {
  const rows = FIG1A_TASKS.map((task) => ({ task, marks: { ...PAPER_MARKS[task] } }));
  rows[0].marks.mamba = "▲";
  const t = fig1aMarkdown(rows);
  assert.equal(t.compared, 27);
  assert.equal(t.agree, 26);
  assert.deepEqual(t.mismatches, ["Linear regression / Mamba: ▲ vs ✓"]);
  assert.match(t.table, /\| Sparse parity \| ✗ \(✗\) \| ✓ \(✓\) \| ✓ \(✓\) \| 3\/3 \|/);
});

Deno.test("suite: late range and slow-baseline positions", () => {
  assert.deepEqual(lateRange(41), [30, 41]);
  assert.deepEqual(lateRange(4), [3, 4]);
  const pos = heavyPositions(101, [75, 101]);
  assert.ok(pos.includes(0) && pos.includes(100) && pos.includes(75), pos.join(","));
  assert.ok(pos.every((p, i) => i === 0 || p > pos[i - 1]));
});

Deno.test("frontier: best at equal FLOPs on hand-made points", () => {
  const pt = (flops: number, value: number, name = `${flops}`) => ({ flops, value, name });
  // Sorted by FLOPs: 1 (0.9), 2 (0.95: worse, dropped), 2 (0.7: kept, ties take the better),
  // 4 (NaN: never), 5 (0.5), 8 (0.6: worse than 0.5, dropped), 9 (0.2).
  const pts = [
    pt(5, 0.5),
    pt(2, 0.95, "2b"),
    pt(1, 0.9),
    pt(8, 0.6),
    pt(2, 0.7),
    pt(4, NaN),
    pt(9, 0.2),
  ];
  const f = frontier(pts, false);
  assert.deepEqual(f.map((p) => [p.flops, p.value]), [[1, 0.9], [2, 0.7], [5, 0.5], [9, 0.2]]);
  assert.equal(bestWithin(f, 0.5), undefined);
  assert.equal(bestWithin(f, 4.9)!.value, 0.7);
  assert.equal(bestWithin(f, 5)!.value, 0.5);
  assert.equal(bestWithin(f, 100)!.value, 0.2);
  // Accuracy: higher is better.
  const acc = frontier([pt(1, 0.6), pt(2, 0.55), pt(3, 0.9)], true);
  assert.deepEqual(acc.map((p) => p.value), [0.6, 0.9]);
});

Deno.test("frontier: matched budget = the smallest top budget; picks within it", () => {
  const p = (model: string, flops: number, value: number) => ({ model, flops, value });
  const { budget, picks } = matchedFlops(
    [
      p("a", 1, 0.8),
      p("a", 3, 0.4),
      p("a", 10, 0.1), // a reaches 10
      p("b", 2, 0.6),
      p("b", 4, 0.3), // b reaches only 4: the budget
      p("c", 5, 0.2),
      p("c", 6, 0.1), // c's cheapest point is above the budget
      p("d", 1, NaN),
      p("d", 2, NaN), // d diverged everywhere
    ],
    false,
  );
  assert.equal(budget, 4);
  const by = Object.fromEntries(picks.map((k) => [k.model, k]));
  assert.deepEqual([by.a.point.flops, by.a.point.value, by.a.overshoot], [3, 0.4, 1]);
  assert.deepEqual([by.b.point.flops, by.b.point.value], [4, 0.3]);
  assert.deepEqual([by.c.point.flops, by.c.overshoot], [5, 1.25]);
  assert.ok(Number.isNaN(by.d.point.value));
});

Deno.test("frontier: seeds average into one point with a min–max interval", () => {
  const base = {
    model: "m",
    size: "s",
    width: 8,
    layers: 1,
    params: 10,
    step: 5,
    fraction: 1,
    flops: 100,
  };
  const pts = aggregatePoints([
    { ...base, seed: 1, value: 0.2, ci: [0.1, 0.3] },
    { ...base, seed: 2, value: 0.4, ci: [0.3, 0.5] },
    { ...base, step: 1, fraction: 0.2, flops: 20, seed: 1, value: 0.9, ci: [0.8, 1] },
  ]);
  const last = pts.find((p) => p.step === 5)!;
  assert.ok(Math.abs(last.value - 0.3) < 1e-12);
  assert.deepEqual([last.ci, last.interval, last.seeds.length], [[0.2, 0.4], "seeds", 2]);
  const first = pts.find((p) => p.step === 1)!;
  assert.deepEqual([first.ci, first.interval], [[0.8, 1], "bootstrap"]);
});

Deno.test("pipeline: checkpoint steps, size grids, schedules, parity convergence", () => {
  assert.deepEqual(checkpointSteps(500_000, [0.2, 0.6, 1]), [100_000, 300_000, 500_000]);
  assert.deepEqual(checkpointSteps(2, [0.2, 0.6, 1]), [1, 2]);
  assert.deepEqual(parseSizes("quick", 4), QUICK_GRID);
  assert.deepEqual(parseSizes("64x2, tiny,32x1x8", 4).map((s) => [s.width, s.layers, s.heads]), [
    [32, 1, 8],
    [64, 2, 4],
    [64, 3, 2],
  ]);
  assert.throws(() => parseSizes("64", 4), /not a size/);
  assert.throws(() => parseSizes("8x1,8x1", 4), /twice/);
  const cos = makeSchedule("cosine", 1, 10, 2);
  assert.deepEqual([cos(0), cos(1), cos(2)], [0.5, 1, 1]);
  assert.ok(Math.abs(cos(6) - 0.5) < 1e-12 && cos(10) === 0);
  const lin = makeSchedule("linear", 1, 10);
  assert.deepEqual([lin(0), lin(5)], [1, 0.5]);
  assert.equal(makeSchedule("constant", 0.3, 10, 4)(1), 0.15);
  const curve = [{ step: 10, value: 0.6 }, { step: 20, value: 0.96 }, { step: 30, value: 0.99 }];
  assert.equal(convergenceStep(curve, 0.95), 20);
  assert.equal(convergenceStep(curve, 0.999), null);
  // Non-converged seeds count as later than any converged one.
  assert.equal(medianSteps([100, null, 300]), 300);
  assert.equal(medianSteps([100, null, null]), null);
  assert.equal(medianSteps([100, 200]), 150);
});

Deno.test("archs: every architecture builds; L paper layers = L GPT-2 blocks = 2L mixers", () => {
  const io = { tokenDim: 5, outDim: 1 };
  const blocks = (name: typeof ARCH_NAMES[number], layers: number) =>
    layerPlan(resolveConfig(modelConfig(name, { width: 16, layers, heads: 2 }, io, 22, "rms")));
  for (const name of ARCH_NAMES) {
    const m = makeModel(modelConfig(name, { width: 16, layers: 2, heads: 2 }, io, 22));
    assert.ok(m.numParams() > 0, name);
    m.dispose();
  }
  assert.equal(blocks("transformer", 3).join(), "gpt2,gpt2,gpt2");
  assert.equal(blocks("mamba", 3).length, 6);
  assert.equal(blocks("s4_postnorm", 3).length, 6);
  assert.equal(blocks("mambaformer", 2).join(), "mamba,attn,mamba,attn,mamba");
  assert.equal(blocks("hybrid", 2).join(), "attn,mamba,attn,mamba");
  assert.equal(blocks("transformer_mamba", 2).join(), "mamba,gpt2,gpt2");
  assert.equal(blocks("mamba_hybrid", 2).join(), "mamba,attn,mamba,mamba");
  assert.equal(modelConfig("mamba", { width: 16, layers: 1, heads: 2 }, io, 22, "rms").norm, "rms");
  assert.equal(
    modelConfig("transformer", { width: 16, layers: 1, heads: 2 }, io, 22, "rms").norm,
    undefined,
  );
});

// ---- Command-line contract of the scripts ----

const SCRIPTS = ["table1", "regression", "outliers", "cot", "mqar", "parity"] as const;
const ALL = ARCH_NAMES.join(",");
const W8 = ["--width", "8", "--heads", "2"];
/** Smallest runs that still touch every code path (baselines included, few prompts). */
const TINY: Record<string, string[]> = {
  table1: [...W8, "--tasks", "sparse_parity,mqar", "--models", ALL],
  regression: [
    "--tasks",
    "decision_tree,skewed_linear_regression",
    "--models",
    ALL,
    "--sizes",
    "8x1x2,16x1x2",
    "--seeds",
    "1,2",
    "--ema-span",
    "2",
    "--schedule",
    "cosine",
    "--warmup",
    "1",
    // Short prompts, so the compressed points curriculum ends (and the EMA starts) at step 1.
    "--points",
    "4",
  ],
  outliers: [
    ...W8,
    ...["--tasks", "ortho_outlier_regression", "--p", "0.2", "--models", ALL],
    ...["--optimizer", "adamw", "--weight-decay", "0.1"],
  ],
  cot: [...W8, "--hidden", "3", "--models", ALL],
  mqar: ["--sizes", "8x1x2", "--queries", "2", "--models", ALL],
  parity: [...W8, "--control", "--models", ALL],
};
const TINY_COMMON = [
  "--backend",
  "cpu",
  "--steps",
  "2",
  "--eval-every",
  "2",
  "--eval-prompts",
  "16",
  "--baseline-prompts",
  "16",
];

/** Bad flags every script rejects, with the flag the message must name. */
const BAD_COMMON: [string[], string][] = [
  [["--bogus"], "bogus"],
  [["--steps", "0"], "--steps"],
  [["--preset", "huge"], "--preset"],
  [["--models", "lstm"], "--models"],
  [["--width", "30", "--heads", "4"], "--heads"],
];
/** More bad values, tried on exp:regression (the parsing is shared). */
const BAD_MORE: [string[], string][] = [
  [["--sizes", "32x"], "--sizes"],
  [["--sizes", "30x1x4"], "--sizes"],
  [["--width", "32", "--sizes", "quick"], "--width"],
  [["--schedule", "exp"], "--schedule"],
  [["--clip", "-1"], "--clip"],
  [["--seeds", "1,x"], "--seeds"],
  [["--fractions", "0.5,1.5"], "--fractions"],
  [["--norm", "batch"], "--norm"],
  [["--protocol", "garg"], "--protocol"],
  [["--optimizer", "sgd"], "--optimizer"],
  [["--weight-decay", "-1"], "--weight-decay"],
  [["--warmup", "5", "--steps", "5"], "--warmup"],
  [["--p", "0.2"], "p"],
];
const BAD_OWN: Record<string, [string[], string][]> = {
  regression: BAD_MORE,
  outliers: [[["--p", "1.5"], "--p"]],
  cot: [[["--hidden", "0"], "--hidden"]],
  parity: [[["--k", "5", "--dims", "4"], "--k"], [["--converge", "2"], "--converge"]],
  mqar: [[["--queries", "0"], "--queries"]],
  table1: [[["--tasks", "sorting"], "--tasks"]],
};

async function run(script: string, args: string[]) {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `experiments/${script}.ts`, ...args],
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const o = await cmd.output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

for (const script of SCRIPTS) {
  Deno.test(`${script}: --help, bad flags exit 2 naming the flag, every architecture trains`, async () => {
    const help = await run(script, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (
      const flag of [
        "--preset",
        "--out",
        "--resume",
        "--json",
        "--backend",
        "--steps",
        "--sizes",
        "--seeds",
        "--schedule",
        "--clip",
      ]
    ) {
      assert.ok(help.stdout.includes(flag), `${script} --help lacks ${flag}`);
    }
    const tmp = await Deno.makeTempDir({ prefix: `iclab-${script}-` });
    try {
      for (const [bad, flag] of [...BAD_COMMON, ...(BAD_OWN[script] ?? [])]) {
        const r = await run(script, [...bad, "--out", `${tmp}/bad`]);
        assert.equal(r.code, 2, `${script} ${bad.join(" ")}: ${r.stderr}`);
        assert.ok(
          r.stderr.includes(flag),
          `${script} ${bad.join(" ")}: "${r.stderr}" lacks ${flag}`,
        );
        assert.equal(await exists(`${tmp}/bad`), false, `${script} ${bad.join(" ")} wrote files`);
      }
      const out = `${tmp}/run`;
      const r = await run(script, [...TINY_COMMON, ...TINY[script], "--out", out, "--json"]);
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.deepEqual(last, summary);
      assert.equal(typeof summary.verdict, "string");
      for (const t of summary.tasks) {
        // Every architecture trained every size and seed for the 2 steps, with finite numbers.
        const sizes = t.settings.sizes.length, seeds = t.settings.seeds.length;
        assert.equal(t.runs.length, t.settings.models.length * sizes * seeds, t.dir);
        for (const m of t.settings.models) {
          assert.ok(t.runs.some((r: { model: string }) => r.model === m), `${t.dir} lacks ${m}`);
        }
        for (const run of t.runs) {
          assert.equal(run.steps, 2, `${t.dir} ${run.model}`);
          assert.ok(run.params > 0 && run.flops > 0);
          assert.ok(Number.isFinite(run.value), `${t.dir} ${run.model}: ${run.value}`);
          assert.deepEqual(run.points.map((p: { step: number }) => p.step), [1, 2]);
        }
        assert.equal(t.points.length, t.settings.models.length * sizes * 2);
        assert.equal(t.models.length, t.settings.models.length);
        for (const m of t.models) {
          for (
            const k of ["model", "size", "params", "flops", "steps", "seconds", "metric", "value"]
          ) {
            assert.ok(k in m, `${script}: models[] lacks ${k}`);
          }
          assert.ok(m.flops <= t.budget * (1 + 1e-9) || m.overshoot > 1);
          assert.equal(m.ci.length, 2);
        }
        for (const f of ["error_vs_examples.svg", "learning_curves.svg", "flops_vs_error.svg"]) {
          assert.ok(await exists(`${out}/${t.dir}/${f}`), `${t.dir}/${f}`);
        }
        const svg = await Deno.readTextFile(`${out}/${t.dir}/flops_vs_error.svg`);
        assert.ok((svg.match(/<circle cx/g)?.length ?? 0) >= t.points.length, t.dir);
      }
      assert.equal(
        summary.models.length,
        summary.tasks.reduce((s: number, t: { models: unknown[] }) => s + t.models.length, 0),
      );
      if (script === "table1") assert.ok(await exists(`${out}/report.md`));
      if (script === "mqar") assert.match(summary.mqarTable, /size, queries/);
      if (script === "outliers") {
        assert.equal(summary.tasks[0].settings.optimizer, "adamw");
        assert.ok(summary.tasks[0].departures.some((d: string) => d.startsWith("AdamW")));
      }
      if (script === "parity") {
        assert.ok(await exists(`${out}/learning_curves.svg`));
        assert.ok(await exists(`${out}/accuracy_by_position.svg`));
        assert.equal(summary.convergence.length, ARCH_NAMES.length);
        assert.equal(summary.control.k, 1);
      }
      if (script === "regression") {
        const skewed = summary.tasks.find((t: { task: string }) =>
          t.task === "skewed_linear_regression"
        );
        assert.equal(skewed.protocol, "grazzi");
        assert.equal(skewed.runs[0].points.length, 2);
        assert.ok(
          skewed.runs.every((r: { best?: { step: number } }) => r.best && r.best.step >= 1),
        );
        assert.equal(skewed.points[0].interval, "seeds");
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
