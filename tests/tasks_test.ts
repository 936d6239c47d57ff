import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import {
  curriculumAt,
  curriculumBaselineLoss,
  curriculumEndStep,
  defaultCurriculum,
  scheduleValue,
  validateSchedule,
} from "../tasks/curriculum.ts";
import { parityNoContextChance, sampleSparseParity } from "../tasks/parity.ts";
import { makeTask, TASK_NAMES } from "../tasks/registry.ts";
import type { IclBatch } from "../tasks/task.ts";

/** Solves A z = b (n×n, row-major) by Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const z = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * z[k];
    z[r] = s / m[r][r];
  }
  return z;
}

/** Recovers w of a linear prompt from its rows (x, y) by normal equations. */
function recoverWeights(rows: { x: Float32Array; y: number }[], d: number): number[] {
  const g = Array.from({ length: d }, () => new Array(d).fill(0));
  const c = new Array(d).fill(0);
  for (const { x, y } of rows) {
    for (let j = 0; j < d; j++) {
      c[j] += x[j] * y;
      for (let k = 0; k < d; k++) g[j][k] += x[j] * x[k];
    }
  }
  return solve(g, c);
}

function token(b: IclBatch, prompt: number, t: number): Float32Array {
  const off = (prompt * b.seqLen + t) * b.tokenDim;
  return b.tokens.subarray(off, off + b.tokenDim);
}

function meanSquare(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return s / a.length;
}

Deno.test("every task: same seed gives an identical batch, another seed a different one", () => {
  for (const name of TASK_NAMES) {
    const task = makeTask(name);
    const a = task.sample(new Rng(42).fork("data"), 4);
    const b = task.sample(new Rng(42).fork("data"), 4);
    const c = task.sample(new Rng(43).fork("data"), 4);
    assert.deepEqual(a, b, name);
    assert.notDeepEqual(a.tokens, c.tokens, name);
  }
});

Deno.test("every task: shapes agree with the task description", () => {
  for (const name of TASK_NAMES) {
    const task = makeTask(name);
    const b = task.sample(new Rng(1), 3);
    const p = b.predPos.length;
    assert.equal(b.batch, 3, name);
    assert.equal(b.tokenDim, task.tokenDim, name);
    assert.equal(b.outDim, task.outDim, name);
    assert.equal(b.tokens.length, 3 * b.seqLen * b.tokenDim, name);
    assert.equal(b.targets.length, 3 * p * b.outDim, name);
    assert.ok(b.predPos.every((t) => t >= 0 && t < b.seqLen), name);
    if (b.targetMask) assert.equal(b.targetMask.length, 3 * p, name);
    if (b.xs) {
      assert.equal(b.xs.length, 3 * b.nPoints! * b.nDims!, name);
      assert.equal(b.ys!.length, 3 * b.nPoints!, name);
    }
    assert.ok(b.tokens.every(Number.isFinite) && b.targets.every(Number.isFinite), name);
  }
});

Deno.test("continuing a stream from a saved Rng state reproduces the next batch", () => {
  const task = makeTask("relu_2nn_regression", { nPoints: 11 });
  const rng = new Rng(9);
  task.sample(rng, 2);
  const saved = rng.state();
  const next = task.sample(rng, 2);
  assert.deepEqual(task.sample(Rng.fromState(saved), 2), next);
});

Deno.test("Garg layout: x, [y,0..0] tokens, predictions at x tokens", () => {
  const task = makeTask("linear_regression");
  const b = task.sample(new Rng(2), 2);
  assert.equal(b.seqLen, 82);
  assert.deepEqual([...b.predPos.slice(0, 4)], [0, 2, 4, 6]);
  for (let p = 0; p < 2; p++) {
    for (let i = 0; i < 41; i++) {
      const x = b.xs!.subarray((p * 41 + i) * 20, (p * 41 + i + 1) * 20);
      assert.deepEqual(token(b, p, 2 * i), x);
      const yTok = token(b, p, 2 * i + 1);
      assert.equal(yTok[0], b.targets[p * 41 + i]);
      assert.ok(yTok.subarray(1).every((v) => v === 0));
    }
  }
  // Noise-free linear: w from the first 20 pairs predicts the rest.
  const rows = Array.from({ length: 41 }, (_, i) => ({
    x: b.xs!.subarray(i * 20, (i + 1) * 20),
    y: b.ys![i],
  }));
  const w = recoverWeights(rows.slice(0, 25), 20);
  for (const { x, y } of rows.slice(25)) {
    assert.ok(Math.abs(x.reduce((s, xj, j) => s + xj * w[j], 0) - y) < 1e-3);
  }
});

Deno.test("label moments: E[y²] = d (LR, 2NN, skewed, CoT), k (sparse), 1 (tree)", () => {
  // Tolerances: E[y²|function] varies between prompts (for LR it is ||w||² with variance 2d),
  // so with 400 prompts the standard error of the mean is about sqrt(2d/400) ≈ 0.3 for d=20;
  // 15% of the target is about 10 standard errors for LR and several for the others.
  const cases: [string, number][] = [
    ["linear_regression", 20],
    ["relu_2nn_regression", 20],
    ["skewed_linear_regression", 20],
    ["sparse_linear_regression", 3],
    ["decision_tree", 1],
    ["cot_io", 10],
  ];
  for (const [name, expected] of cases) {
    const b = makeTask(name, { nPoints: 30 }).sample(new Rng(5), 400);
    const m = meanSquare(b.targets);
    assert.ok(Math.abs(m - expected) < 0.15 * expected, `${name}: E[y²] = ${m}`);
  }
});

Deno.test("skewed LR: x covariance has trace d and decaying spectrum", () => {
  const b = makeTask("skewed_linear_regression", { fixedRotationSeed: 3 }).sample(new Rng(4), 300);
  assert.ok(Math.abs(meanSquare(b.xs!) * 20 - 20) < 1.5); // trace = E||x||² = d
  // A fixed rotation is shared by batches; the per-batch default gives a new one each call.
  const fixed = makeTask("skewed_linear_regression", { fixedRotationSeed: 3 });
  const perBatch = makeTask("skewed_linear_regression");
  const rng = new Rng(1);
  assert.notDeepEqual(perBatch.sample(rng, 1).xs, perBatch.sample(rng, 1).xs);
  const x1 = fixed.sample(new Rng(8), 200).xs!;
  let maxVar = 0;
  for (let j = 0; j < 20; j++) {
    let s = 0;
    for (let r = 0; r < 200 * 41; r++) s += x1[r * 20 + j] ** 2;
    maxVar = Math.max(maxVar, s / (200 * 41));
  }
  assert.ok(maxVar > 2, `skewed covariance should have a large direction, max var ${maxVar}`);
});

Deno.test("dims curriculum zeroes coordinates beyond d_cur; points curriculum sets N", () => {
  for (const name of ["linear_regression", "sparse_linear_regression", "decision_tree", "cot_io"]) {
    const b = makeTask(name).sample(new Rng(6), 4, { nDims: 5, nPoints: 13 });
    assert.equal(b.nPoints, 13);
    const d = b.nDims!;
    for (let r = 0; r < 4 * 13; r++) {
      assert.ok(b.xs!.subarray(r * d + 5, (r + 1) * d).every((v) => v === 0), name);
    }
  }
  const b = makeTask("linear_regression").sample(new Rng(6), 2, { nDims: 5, nPoints: 13 });
  assert.equal(b.seqLen, 26);
  // Sparse LR keeps its k coordinates inside the first d_cur ones.
  const sp = makeTask("sparse_linear_regression").sample(new Rng(7), 8, { nDims: 5, nPoints: 30 });
  for (let p = 0; p < 8; p++) {
    const rows = Array.from({ length: 30 }, (_, i) => ({
      x: sp.xs!.subarray((p * 30 + i) * 20, (p * 30 + i) * 20 + 5),
      y: sp.ys![p * 30 + i],
    }));
    const w = recoverWeights(rows, 5);
    assert.equal(w.filter((v) => Math.abs(v) > 1e-4).length, 3);
  }
});

Deno.test("sparse LR: exactly k non-zero weights", () => {
  const b = makeTask("sparse_linear_regression", { k: 3 }).sample(new Rng(8), 6);
  for (let p = 0; p < 6; p++) {
    const rows = Array.from({ length: 101 }, (_, i) => ({
      x: b.xs!.subarray((p * 101 + i) * 20, (p * 101 + i + 1) * 20),
      y: b.ys![p * 101 + i],
    }));
    const w = recoverWeights(rows, 20);
    assert.equal(w.filter((v) => Math.abs(v) > 1e-4).length, 3);
  }
});

Deno.test("decision tree: piecewise constant with at most 16 leaf values per prompt", () => {
  const b = makeTask("decision_tree").sample(new Rng(9), 5);
  for (let p = 0; p < 5; p++) {
    const values = new Set(b.ys!.subarray(p * 101, (p + 1) * 101));
    assert.ok(values.size <= 16 && values.size >= 2);
  }
});

Deno.test("many-outlier regression: p = 0.9 fraction, ones tokens, mask", () => {
  const task = makeTask("many_outlier_regression");
  const b = task.sample(new Rng(10), 8, { nDims: 5 });
  const mask = b.targetMask!;
  const outlierFrac = 1 - mask.reduce((s, v) => s + v, 0) / mask.length;
  // 8·512 Bernoulli(0.9): standard error 0.0047, tolerance about 4 of them.
  assert.ok(Math.abs(outlierFrac - 0.9) < 0.02, `outlier fraction ${outlierFrac}`);
  for (let p = 0; p < 8; p++) {
    for (let i = 0; i < 512; i++) {
      const x = token(b, p, 2 * i), y = token(b, p, 2 * i + 1);
      if (mask[p * 512 + i]) {
        assert.equal(y[0], b.targets[p * 512 + i]);
        assert.ok(x.subarray(5).every((v) => v === 0));
      } else {
        assert.ok(x.every((v) => v === 1)); // all 20 coordinates, despite d_cur = 5
        assert.deepEqual([...y], [1, ...new Array(19).fill(0)]);
      }
    }
  }
  assert.equal(
    makeTask("many_outlier_regression", { p: 0 }).sample(new Rng(1), 2).targetMask!.every((v) =>
      v === 1
    ),
    true,
  );
});

Deno.test("orthogonal outliers: p = 0.5, dummy x and y tokens orthogonal to the prompt's w", () => {
  const b = makeTask("ortho_outlier_regression").sample(new Rng(11), 6);
  const mask = b.targetMask!;
  const frac = 1 - mask.reduce((s, v) => s + v, 0) / mask.length;
  assert.ok(Math.abs(frac - 0.5) < 0.1, `outlier fraction ${frac}`); // 606 draws, SE 0.02
  for (let p = 0; p < 6; p++) {
    const clean = [], dummies = [];
    for (let i = 0; i < 101; i++) {
      const x = token(b, p, 2 * i), y = token(b, p, 2 * i + 1);
      if (mask[p * 101 + i]) clean.push({ x, y: y[0] });
      else dummies.push([x, y]);
    }
    const w = recoverWeights(clean, 20);
    const norm = Math.hypot(...w);
    for (const [x, y] of dummies) {
      for (const v of [x, y]) {
        const cos = v.reduce((s, vj, j) => s + vj * w[j], 0) / (Math.hypot(...v) * norm);
        assert.ok(Math.abs(cos) < 1e-3, `dummy not orthogonal to w: cos ${cos}`);
      }
      assert.ok(y.subarray(1).some((v) => v !== 0)); // a full vector, not a padded scalar
    }
    assert.ok(dummies.length > 0);
  }
});

Deno.test("sparse parity: ±1 inputs, labels are the subset product, BCE targets in {0,1}", () => {
  const { batch: b, subsets } = sampleSparseParity(new Rng(12), 16, {
    nDims: 10,
    nPoints: 140,
    k: 2,
  });
  assert.ok(b.xs!.every((v) => v === 1 || v === -1));
  for (let p = 0; p < 16; p++) {
    assert.equal(new Set(subsets[p]).size, 2);
    for (let i = 0; i < 140; i++) {
      const x = b.xs!.subarray((p * 140 + i) * 10, (p * 140 + i + 1) * 10);
      const y = subsets[p].reduce((s, j) => s * x[j], 1);
      assert.equal(b.ys![p * 140 + i], y);
      assert.equal(token(b, p, 2 * i + 1)[0], y);
      assert.equal(b.targets[p * 140 + i], (y + 1) / 2);
    }
  }
  // One subset per prompt by default, one per batch on request.
  assert.ok(new Set(subsets.map((s) => s.join())).size > 1);
  const shared = sampleSparseParity(new Rng(12), 16, {
    nDims: 10,
    nPoints: 5,
    k: 2,
    subsetPerBatch: true,
  });
  assert.equal(new Set(shared.subsets.map((s) => s.join())).size, 1);
  const task = makeTask("sparse_parity");
  assert.equal(task.loss, "bce");
  assert.equal(task.metric, "accuracy");
  assert.equal(task.sample(new Rng(1), 2).seqLen, 280);
});

Deno.test("sparse parity no-context chance levels (parity-notes.md)", () => {
  assert.equal(parityNoContextChance(10, 2).accuracy.toFixed(3), "0.555");
  assert.equal(parityNoContextChance(6, 2).accuracy.toFixed(3), "0.594");
  assert.equal(parityNoContextChance(10, 1).accuracy.toFixed(3), "0.623");
  assert.equal(parityNoContextChance(10, 2).bce.toFixed(3), "0.681");
  assert.throws(() => parityNoContextChance(3, 4), /k/);
});

Deno.test("CoT-I/O: x, s, y tokens with type flags; intermediate targets are ReLU features", () => {
  const task = makeTask("cot_io");
  const b = task.sample(new Rng(13), 3, { nPoints: 7 });
  const d = 10, h = 8;
  assert.equal(b.tokenDim, d + h + 4);
  assert.equal(b.seqLen, 21);
  assert.deepEqual([...b.predPos], [1, 4, 7, 10, 13, 16, 19]);
  const inter = b.intermediate!;
  assert.deepEqual([...inter.predPos], [0, 3, 6, 9, 12, 15, 18]);
  assert.equal(inter.outDim, h);
  assert.equal(inter.tokenOffset, d);
  for (let p = 0; p < 3; p++) {
    for (let i = 0; i < 7; i++) {
      const [tx, ts, ty] = [0, 1, 2].map((t) => token(b, p, 3 * i + t));
      assert.deepEqual([...tx.subarray(d + h + 1)], [1, 0, 0]);
      assert.deepEqual([...ts.subarray(d + h + 1)], [0, 1, 0]);
      assert.deepEqual([...ty.subarray(d + h + 1)], [0, 0, 1]);
      assert.deepEqual(tx.subarray(0, d), b.xs!.subarray((p * 7 + i) * d, (p * 7 + i + 1) * d));
      const s = ts.subarray(d, d + h);
      assert.deepEqual(s, inter.targets.subarray((p * 7 + i) * h, (p * 7 + i + 1) * h));
      assert.ok(s.every((v) => v >= 0));
      assert.equal(ty[d + h], b.targets[p * 7 + i]);
    }
  }
});

Deno.test("vector MQAR: unit keys and values, queries copy distinct keys, targets their values", () => {
  for (const nQueries of [4, 16]) {
    const task = makeTask("mqar", { nQueries });
    const b = task.sample(new Rng(14), 4);
    assert.equal(b.seqLen, 64 + nQueries);
    assert.equal(b.outDim, 20);
    assert.deepEqual([...b.predPos], Array.from({ length: nQueries }, (_, q) => 64 + q));
    for (let p = 0; p < 4; p++) {
      for (let t = 0; t < 64; t++) assert.ok(Math.abs(Math.hypot(...token(b, p, t)) - 1) < 1e-5);
      const used = new Set<number>();
      for (let q = 0; q < nQueries; q++) {
        const query = token(b, p, 64 + q);
        const key = [...Array(32).keys()].find((k) =>
          token(b, p, 2 * k).every((v, j) => v === query[j])
        );
        assert.ok(key !== undefined);
        used.add(key);
        const target = b.targets.subarray((p * nQueries + q) * 20, (p * nQueries + q + 1) * 20);
        assert.deepEqual(target, token(b, p, 2 * key + 1));
      }
      assert.equal(used.size, nQueries);
    }
  }
});

Deno.test("makeTask: defaults follow the paper's Table 1", () => {
  const sizes = Object.fromEntries(
    TASK_NAMES.map((n) => [n, [makeTask(n).nDims, makeTask(n).nPoints, makeTask(n).normalizer]]),
  );
  assert.deepEqual(sizes, {
    linear_regression: [20, 41, 20],
    sparse_linear_regression: [20, 101, 3],
    relu_2nn_regression: [20, 101, 20],
    decision_tree: [20, 101, 1],
    skewed_linear_regression: [20, 41, 20],
    ortho_outlier_regression: [20, 101, 20],
    many_outlier_regression: [20, 512, 20],
    sparse_parity: [10, 140, 1],
    cot_io: [10, 101, 10],
    mqar: [20, 32, 1],
  });
});

Deno.test("makeTask and sample: bad input errors name the field", () => {
  assert.throws(() => makeTask("linear_regresion"), /unknown task name "linear_regresion"/);
  assert.throws(
    () => makeTask("sparse_linear_regression", { k: 25 }),
    /k \(25\) must not exceed nDims/,
  );
  assert.throws(() => makeTask("sparse_parity", { k: 11 }), /k \(11\)/);
  assert.throws(() => makeTask("linear_regression", { nPoints: 0 }), /nPoints/);
  assert.throws(() => makeTask("decision_tree", { nDims: -3 }), /nDims/);
  assert.throws(() => makeTask("decision_tree", { depth: 1.5 }), /depth/);
  assert.throws(() => makeTask("relu_2nn_regression", { hidden: 0 }), /hidden/);
  assert.throws(() => makeTask("ortho_outlier_regression", { p: 1.5 }), /p must be a probability/);
  assert.throws(() => makeTask("mqar", { nQueries: 40 }), /nQueries/);
  assert.throws(() => makeTask("linear_regression", { k: 3 }), /option "k" does not apply/);
  const lr = makeTask("linear_regression");
  assert.throws(() => lr.sample(new Rng(1), 0), /batch/);
  assert.throws(() => lr.sample(new Rng(1), 2, { nDims: 21 }), /nDims 21 exceeds/);
  assert.throws(() => lr.sample(new Rng(1), 2, { nPoints: -1 }), /nPoints/);
  assert.throws(
    () => makeTask("sparse_parity").sample(new Rng(1), 2, { nDims: 5 }),
    /nDims must stay 10/,
  );
});

Deno.test("curriculum: Garg schedules and the spec's acceptance values", () => {
  const lr = defaultCurriculum("linear_regression");
  assert.deepEqual(curriculumAt(lr, 0), { nDims: 5, nPoints: 11 });
  assert.deepEqual(curriculumAt(lr, 1999), { nDims: 5, nPoints: 11 });
  assert.deepEqual(curriculumAt(lr, 2000), { nDims: 6, nPoints: 13 });
  assert.deepEqual(curriculumAt(lr, 30000), { nDims: 20, nPoints: 41 });
  assert.deepEqual(curriculumAt(lr, 500000), { nDims: 20, nPoints: 41 });
  assert.equal(curriculumEndStep(lr), 30000);
  const many = defaultCurriculum("many_outlier_regression");
  for (const t of [0, 199, 200, 12345, 49999, 50000, 80000]) {
    assert.equal(scheduleValue(many.points, t), Math.min(12 + 2 * Math.floor(t / 200), 512));
  }
  assert.equal(curriculumEndStep(many), 50000);
  assert.deepEqual(curriculumAt(defaultCurriculum("relu_2nn_regression"), 30000), {
    nDims: 20,
    nPoints: 101,
  });
  assert.deepEqual(curriculumAt(defaultCurriculum("sparse_parity"), 7777), {
    nDims: 10,
    nPoints: 140,
  });
  // Every task's curriculum ends at its default sizes.
  for (const name of TASK_NAMES) {
    const task = makeTask(name);
    const c = defaultCurriculum(name);
    assert.deepEqual(curriculumAt(c, 10 ** 6), { nDims: task.nDims, nPoints: task.nPoints }, name);
  }
  assert.equal(curriculumBaselineLoss(20, 41), 210 / 41);
  assert.throws(() => defaultCurriculum("nope"), /unknown task name/);
  assert.throws(() => validateSchedule({ start: 5, end: 20, inc: 1, interval: 0 }), /interval/);
  assert.throws(() => validateSchedule({ start: 5, end: 2, inc: 1, interval: 10 }), /end/);
  assert.throws(() => scheduleValue(lr.dims, -1), /step/);
});
