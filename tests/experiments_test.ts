/**
 * The Fig. 1a experiment scripts: the ✓/▲/✗ criteria on hand-made numbers (each boundary from
 * both sides), and the command-line contract of every script (--help exits 0, an unknown flag
 * or bad value exits 2 with nothing written, and a tiny CPU run writes summary.json with the
 * contract's fields and prints it as the last stdout line with --json).
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
import { heavyPositions, lateRange } from "../experiments/lib/suite.ts";
import { MQAR_LEARN, MQAR_PAPER_MSE } from "../experiments/mqar.ts";

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

// ---- Command-line contract of the scripts ----

const SCRIPTS = ["table1", "regression", "outliers", "cot", "mqar"] as const;
/** Smallest runs that still touch every code path (baselines included, few prompts). */
const TINY: Record<string, string[]> = {
  table1: ["--tasks", "sparse_parity,mqar"],
  regression: ["--tasks", "decision_tree"],
  outliers: ["--tasks", "ortho_outlier_regression"],
  cot: [],
  mqar: ["--widths", "8", "--queries", "4"],
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
  "--width",
  "8",
  "--heads",
  "2",
];

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
  Deno.test(`${script}: --help, bad flags exit 2 without writing, tiny CPU run`, async () => {
    const help = await run(script, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of ["--preset", "--out", "--resume", "--json", "--backend", "--steps"]) {
      assert.ok(help.stdout.includes(flag), `${script} --help lacks ${flag}`);
    }
    const tmp = await Deno.makeTempDir({ prefix: `iclab-${script}-` });
    try {
      for (
        const bad of [
          ["--bogus"],
          ["--steps", "0"],
          ["--preset", "huge"],
          ["--models", "lstm"],
          ["--width", "30", "--heads", "4"],
        ]
      ) {
        const r = await run(script, [...bad, "--out", `${tmp}/bad`]);
        assert.equal(r.code, 2, `${script} ${bad.join(" ")}: ${r.stderr}`);
        assert.ok(r.stderr.length > 0, "a message on stderr");
        assert.equal(await exists(`${tmp}/bad`), false, `${script} ${bad.join(" ")} wrote files`);
      }
      const out = `${tmp}/run`;
      const r = await run(script, [...TINY_COMMON, ...TINY[script], "--out", out, "--json"]);
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.deepEqual(last, summary);
      assert.equal(typeof summary.verdict, "string");
      assert.ok(summary.models.length >= 3);
      for (const m of summary.models) {
        for (const k of ["model", "params", "flops", "steps", "seconds", "metric", "value"]) {
          assert.ok(k in m, `${script}: models[] lacks ${k}`);
        }
        assert.equal(m.steps, 2);
        assert.ok(m.params > 0 && m.flops > 0);
        assert.equal(m.ci.length, 2);
      }
      for (const t of summary.tasks) {
        assert.ok(await exists(`${out}/${t.dir}/error_vs_examples.svg`));
        assert.ok(await exists(`${out}/${t.dir}/learning_curves.svg`));
      }
      if (script === "table1") assert.ok(await exists(`${out}/report.md`));
      if (script === "mqar") assert.match(summary.mqarTable, /d_model, queries/);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
