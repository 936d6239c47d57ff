import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { errorCurveSvg } from "../experiments/plot.ts";
import {
  batchErrors,
  concatRows,
  pointwiseErrors,
  positionStats,
  quantile,
} from "../tasks/metrics.ts";
import { makeTask } from "../tasks/registry.ts";

Deno.test("squared error is divided by the normalizer and summed over vector outputs", () => {
  const e = pointwiseErrors(
    { metric: "squared_error", normalizer: 4, outDim: 1 },
    Float32Array.from([1, 2, 3, NaN]),
    Float32Array.from([0, 0, 1, 0]),
    2,
    2,
  );
  assert.deepEqual([...e], [0.25, 1, 1, NaN]);
  const v = pointwiseErrors(
    { metric: "squared_error", normalizer: 1, outDim: 2 },
    Float32Array.from([1, 1, 0, 0]),
    Float32Array.from([0, 0, 0, 1]),
    1,
    2,
  );
  assert.deepEqual([...v], [2, 1]); // ||v̂ − v||² per query
});

Deno.test("accuracy compares the logit's sign with {0,1} labels; a zero logit is wrong", () => {
  const e = pointwiseErrors(
    { metric: "accuracy", normalizer: 1, outDim: 1 },
    Float32Array.from([2, -1, 0.5, -3, 0, 0]),
    Float32Array.from([1, 0, 0, 1, 1, 0]),
    2,
    3,
  );
  assert.deepEqual([...e], [1, 1, 0, 0, 0, 0]);
});

Deno.test("pointwiseErrors: shape and normalizer errors", () => {
  const spec = { metric: "squared_error" as const, normalizer: 1, outDim: 1 };
  assert.throws(
    () => pointwiseErrors(spec, new Float32Array(3), new Float32Array(4), 2, 2),
    /preds/,
  );
  assert.throws(
    () => pointwiseErrors(spec, new Float32Array(4), new Float32Array(3), 2, 2),
    /targets/,
  );
  assert.throws(
    () =>
      pointwiseErrors({ ...spec, normalizer: 0 }, new Float32Array(4), new Float32Array(4), 2, 2),
    /normalizer/,
  );
});

Deno.test("positionStats: mean, unbiased std, mask, deterministic bootstrap", () => {
  // 3 prompts × 2 positions.
  const errors = Float64Array.from([1, 10, 2, 20, 3, 60]);
  const s = positionStats(errors, 3, 2, { seed: 5 });
  assert.deepEqual([...s.mean], [2, 30]);
  assert.deepEqual([...s.std], [1, Math.sqrt(700)]);
  assert.deepEqual([...s.count], [3, 3]);
  assert.ok(s.lo[0] >= 1 && s.lo[0] <= 2 && s.hi[0] >= 2 && s.hi[0] <= 3);
  assert.deepEqual(positionStats(errors, 3, 2, { seed: 5 }), s);
  const many = Float64Array.from({ length: 50 }, (_, i) => (i * 7919) % 13);
  assert.notDeepEqual(positionStats(many, 50, 1, { seed: 6 }).lo, positionStats(many, 50, 1).lo);
  const masked = positionStats(errors, 3, 2, { mask: Float32Array.from([1, 0, 1, 1, 0, 1]) });
  assert.deepEqual([...masked.mean], [1.5, 40]);
  assert.deepEqual([...masked.count], [2, 2]);
  assert.throws(() => positionStats(errors, 3, 3), /errors has 6 values/);
  assert.throws(() => positionStats(errors, 3, 2, { resamples: 0 }), /resamples/);
});

Deno.test("bootstrap 5-95% band matches the normal approximation for many prompts", () => {
  // For B i.i.d. prompts the band of the mean is ≈ mean ± 1.645·std/sqrt(B).
  const rng = new Rng(3);
  const b = 1280;
  const errors = Float64Array.from({ length: b }, () => rng.normal() ** 2);
  const s = positionStats(errors, b, 1, { seed: 1 });
  const half = 1.645 * s.std[0] / Math.sqrt(b);
  assert.ok(Math.abs((s.hi[0] - s.lo[0]) / (2 * half) - 1) < 0.15, `band ${s.lo[0]}..${s.hi[0]}`);
  assert.ok(s.lo[0] < s.mean[0] && s.mean[0] < s.hi[0]);
});

Deno.test("quantile interpolates linearly like numpy", () => {
  assert.ok(Math.abs(quantile([1, 2, 3, 4], 0.05) - 1.15) < 1e-12);
  assert.ok(Math.abs(quantile([1, 2, 3, 4], 0.95) - 3.85) < 1e-12);
  assert.equal(quantile([7], 0.5), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.throws(() => quantile([1], 2), /q must be/);
});

Deno.test("batchErrors on an outlier task uses its mask; the zero predictor scores ≈ 1", () => {
  const task = makeTask("many_outlier_regression", { nPoints: 64 });
  const b = task.sample(new Rng(4), 200);
  const { errors, mask } = batchErrors(task, b, new Float32Array(b.targets.length));
  assert.equal(mask, b.targetMask);
  const s = positionStats(errors, 200, 64, { mask, resamples: 10 });
  const total = [...s.count].reduce((a, c) => a + c, 0);
  assert.ok(Math.abs(total / (200 * 64) - 0.1) < 0.02);
  const overall = [...s.mean].reduce((a, m, i) => a + m * s.count[i], 0) / total;
  assert.ok(Math.abs(overall - 1) < 0.2, `zero predictor ${overall}`); // E[y²]/d = 1
});

Deno.test("concatRows joins per-batch errors", () => {
  const joined = concatRows([Float64Array.from([1, 2]), Float64Array.from([3])]);
  assert.ok(joined instanceof Float64Array);
  assert.deepEqual([...joined], [1, 2, 3]);
  assert.throws(() => concatRows([]), /empty/);
});

Deno.test("errorCurveSvg draws lines, bands, dashes, legend and axis labels", () => {
  const x = [0, 1, 2, 3];
  const svg = errorCurveSvg({
    title: "LR <d=20>",
    xLabel: "in-context examples",
    yLabel: "squared error",
    series: [
      {
        name: "Least squares",
        x,
        y: [1, 0.5, NaN, 0],
        lo: [0.9, 0.4, NaN, 0],
        hi: [1.1, 0.6, NaN, 0],
      },
      { name: "Zero", x, y: [1, 1, 1, 1], dashed: true },
    ],
    yMax: 1.25,
  });
  assert.ok(svg.startsWith("<svg") && svg.trim().endsWith("</svg>"));
  assert.ok(svg.includes("LR &#60;d=20&#62;")); // escaped title
  assert.ok(svg.includes("Least squares") && svg.includes("in-context examples"));
  assert.ok(svg.includes('stroke-dasharray="6 4"'));
  assert.ok(svg.includes('fill-opacity="0.18"'));
  assert.ok(!svg.includes("NaN"));
  const log = errorCurveSvg({
    title: "log",
    xLabel: "x",
    yLabel: "y",
    series: [{ name: "a", x, y: [1, 1e-3, 1e-6, 0] }],
    logY: true,
  });
  assert.ok(!log.includes("NaN") && log.includes("1e-6"));
  assert.throws(
    () => errorCurveSvg({ title: "", xLabel: "", yLabel: "", series: [{ name: "a", x, y: [1] }] }),
    /has 1 y for 4 x/,
  );
});
