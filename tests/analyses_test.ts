/**
 * The analyses (exp:probe, exp:ood, exp:length) on tiny CPU models: probing's last-layer decode
 * is the model's output, the per-prompt scale-and-shift fit is exact where it should be, the
 * OOD samplers have their stated statistics, a learned-position model past its table fails
 * clearly (or repeats its last position by option), GD reaches least squares, and a run folder
 * written like run.ts's loads back.
 */
import assert from "node:assert/strict";
import { fromArray } from "../core/create.ts";
import { cpuBackend, setBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { modelConfig } from "../experiments/lib/archs.ts";
import { findRuns, loadModel } from "../experiments/lib/load_run.ts";
import { decodeLayers, probeModel, scaleShiftFit } from "../experiments/lib/probing.ts";
import { maxPointsOf, truncate } from "../experiments/length.ts";
import { makeModel, saveCheckpoint } from "../nn/mod.ts";
import { leastSquaresBaseline } from "../tasks/baselines.ts";
import { gdCurve, symmetricEigenvalues, tuneGamma } from "../tasks/gd.ts";
import { OodLinearRegression } from "../tasks/ood.ts";
import { LinearRegression } from "../tasks/regression.ts";

const backend = setBackend(cpuBackend());
const io = { tokenDim: 3, outDim: 1 };
const tiny = { width: 8, layers: 1, heads: 2 };

Deno.test("probing: the last layer decoded is the model's output, every block is decoded", async () => {
  for (const arch of ["transformer", "mamba"] as const) {
    const model = makeModel(modelConfig(arch, tiny, io, 16), { seed: 3, backend });
    const b = new LinearRegression({ nDims: 3, nPoints: 8 }).sample(new Rng(1), 2);
    const dec = await decodeLayers(model, b.tokens, [2, b.seqLen, 3], backend);
    const blocks = arch === "transformer" ? 1 : 2;
    assert.equal(dec.layers.length, blocks + 1, `${arch}: read-in + one per block`);
    const out = await model.forward(fromArray(b.tokens, [2, b.seqLen, 3], backend)).floats();
    const last = dec.layers[blocks];
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(last[i] - out[i]) < 1e-6);
    assert.ok(dec.layers[0].some((v, i) => Math.abs(v - out[i]) > 1e-4), "layer 0 differs");
    const xs = new LinearRegression({ nDims: 3, nPoints: 9 }).sample(new Rng(2), 3);
    const r = await probeModel(
      model,
      { xs: xs.xs!, ys: xs.ys!, batch: 3, d: 3, context: 6, queries: 3 },
      backend,
      { window: 4, norm: 3, chunk: 4 },
    );
    assert.ok(r.lastLayerGap < 1e-6, `${arch}: gap ${r.lastLayerGap}`);
    assert.deepEqual(r.depth, blocks === 1 ? [0, 1] : [0, 0.5, 1]);
    assert.ok(r.probed.every(Number.isFinite) && r.raw.every(Number.isFinite));
    model.dispose();
  }
});

Deno.test("probing: the scale-and-shift fit is exact on an affine decode", () => {
  const x = [0.3, -1.2, 2.5, 0.9, -0.4];
  const f = scaleShiftFit(x, x.map((v) => -2.5 * v + 0.75));
  assert.ok(Math.abs(f.scale + 2.5) < 1e-12 && Math.abs(f.shift - 0.75) < 1e-12);
  // A constant decode carries nothing: the fit predicts the window's mean.
  const c = scaleShiftFit([1, 1, 1], [2, 4, 9]);
  assert.equal(c.scale, 0);
  assert.ok(Math.abs(c.shift - 5) < 1e-12);
  // Least squares: residuals are orthogonal to 1 and to x.
  const y = [1, 0, 3, -2, 5];
  const g = scaleShiftFit(x, y);
  const res = y.map((v, i) => v - g.scale * x[i] - g.shift);
  assert.ok(Math.abs(res.reduce((s, v) => s + v, 0)) < 1e-12);
  assert.ok(Math.abs(res.reduce((s, v, i) => s + v * x[i], 0)) < 1e-12);
});

/** Sample covariance [d×d] of all xs of a batch (mean zero by construction). */
function covariance(xs: Float32Array, d: number): Float64Array {
  const n = xs.length / d, c = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) c[i * d + j] += (xs[r * d + i] * xs[r * d + j]) / n;
    }
  }
  return c;
}

Deno.test("OOD samplers: skewed, half subspace, scale and noise have the stated statistics", () => {
  const d = 6, rng = new Rng(5);
  const sk = new OodLinearRegression({ kind: "skewed", nDims: d, nPoints: 50, rotationSeed: 1 });
  const ev = symmetricEigenvalues(covariance(sk.sample(rng, 400).xs!, d), d).reverse();
  const lam = Array.from({ length: d }, (_, i) => 1 / (i + 1) ** 2);
  const norm = d / lam.reduce((s, v) => s + v, 0);
  ev.forEach((v, i) => assert.ok(Math.abs(v / (lam[i] * norm) - 1) < 0.05, `skewed λ${i} ${v}`));
  assert.ok(Math.abs(ev.reduce((s, v) => s + v, 0) / d - 1) < 0.03, "trace d");
  const half = new OodLinearRegression({ kind: "half_subspace", nDims: d, nPoints: 50 });
  const hv = symmetricEigenvalues(covariance(half.sample(rng, 400).xs!, d), d);
  for (const v of hv.slice(0, 3)) assert.ok(Math.abs(v) < 1e-6, `null direction ${v}`);
  for (const v of hv.slice(3)) assert.ok(Math.abs(v - 2) < 0.1, `subspace eigenvalue ${v}`);
  for (const s of [1 / 3, 3]) {
    const b = new OodLinearRegression({ kind: "scale_x", scale: s, nDims: d, nPoints: 50 })
      .sample(rng, 200);
    const m2 = b.xs!.reduce((a, v) => a + v * v, 0) / (b.xs!.length / d);
    assert.ok(Math.abs(m2 / (s * s * d) - 1) < 0.03, `E|x|² at scale ${s}: ${m2}`);
  }
  const noisy = new OodLinearRegression({ kind: "noisy_y", nDims: d, nPoints: 50 }).sample(
    rng,
    400,
  );
  const y2 = noisy.ys!.reduce((a, v) => a + v * v, 0) / noisy.ys!.length;
  assert.ok(Math.abs(y2 / d - 1) < 0.08, `E[y²] = d: ${y2}`);
  // Counter-based seeding: the same seed draws the same prompts.
  const again = (seed: number) => half.sample(new Rng(seed), 2).tokens;
  assert.deepEqual(again(9), again(9));
  assert.notDeepEqual(again(9), again(10));
});

Deno.test("OOD samplers: the query is orthogonal to the context's subspace, only it is scored", () => {
  const d = 6, n = 12;
  const t = new OodLinearRegression({ kind: "orthogonal_query", nDims: d, nPoints: n });
  const b = t.sample(new Rng(3), 20);
  for (let p = 0; p < 20; p++) {
    const x = (i: number) => b.xs!.subarray((p * n + i) * d, (p * n + i + 1) * d);
    const q = x(n - 1);
    for (let i = 0; i < n - 1; i++) {
      const dot = x(i).reduce((s, v, j) => s + v * q[j], 0);
      assert.ok(Math.abs(dot) < 1e-4, `prompt ${p} point ${i}: x·query = ${dot}`);
    }
    const mask = b.targetMask!.subarray(p * n, (p + 1) * n);
    assert.deepEqual([...mask], [...Array(n - 1).fill(0), 1]);
  }
  // The context spans d/2 dimensions: least squares can say nothing about the query.
  const ls = leastSquaresBaseline({ xs: b.xs!, ys: b.ys!, batch: 20, nPoints: n, nDims: d });
  for (let p = 0; p < 20; p++) assert.ok(Math.abs(ls[p * n + n - 1]) < 1e-3);
});

Deno.test("learned positions past their table: a clear error, or the last position repeated", async () => {
  const model = makeModel(modelConfig("transformer", tiny, io, 8), { seed: 1, backend });
  const b = new LinearRegression({ nDims: 3, nPoints: 6 }).sample(new Rng(1), 2);
  const x = fromArray(b.tokens, [2, 12, 3], backend);
  assert.throws(
    () => model.forward(x),
    /sequence length 12 exceeds maxLen 8 \(learned positions\)/,
  );
  model.setPositionsBeyond("repeat");
  const long = await model.forward(x).floats();
  model.setPositionsBeyond("error");
  const short = truncate(b, 4);
  const out = await model.forward(fromArray(short.tokens, [2, 8, 3], backend)).floats();
  // Causal: the first 8 tokens' outputs do not change when positions repeat after them.
  for (let p = 0; p < 2; p++) {
    for (let t = 0; t < 8; t++) assert.ok(Math.abs(long[p * 12 + t] - out[p * 8 + t]) < 1e-5);
  }
  model.dispose();
});

Deno.test("GD with step 2/(L+μ) converges to least squares; GD++ too", () => {
  const rng = new Rng(4), d = 3, n = 40, m = 10;
  const w = [1.5, -0.5, 2];
  const draw = (k: number) => {
    const xs = Array.from({ length: k * d }, () => rng.normal());
    const ys = Array.from(
      { length: k },
      (_, i) => w.reduce((s, v, j) => s + v * xs[i * d + j], 0) + 0.3 * rng.normal(),
    );
    return { xs, ys };
  };
  const ctx = draw(n), test = draw(m);
  const p = { xs: ctx.xs, ys: ctx.ys, n, d, testXs: test.xs, testYs: test.ys };
  // Least squares on the context, scored on the test points (LS baseline at position n).
  const all = new Float32Array([...ctx.xs, ...test.xs.slice(0, d)]);
  const allY = new Float32Array([...ctx.ys, test.ys[0]]);
  const ls = leastSquaresBaseline({ xs: all, ys: allY, batch: 1, nPoints: n + 1, nDims: d });
  const gd = gdCurve({ ...p, testXs: test.xs.slice(0, d), testYs: [test.ys[0]] }, {
    iterations: 300,
  });
  assert.ok(Math.abs(gd[300] - (ls[n] - test.ys[0]) ** 2) < 1e-6, `${gd[300]} vs LS`);
  const curve = gdCurve(p, { iterations: 300 });
  assert.ok(curve[1] < curve[0], "the first step helps");
  const { gamma } = tuneGamma([p], 5);
  const pp = gdCurve(p, { iterations: 300, gamma });
  assert.ok(Math.abs(pp[300] - curve[300]) < 1e-6, "GD++ reaches the same minimum");
  assert.deepEqual(symmetricEigenvalues([2, 1, 1, 2], 2).map((v) => Number(v.toFixed(9))), [1, 3]);
});

Deno.test("run folders: a run written like run.ts's loads back; its position limit is known", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/linear_regression/transformer-w8l1h2-seed1`;
  await Deno.mkdir(dir, { recursive: true });
  const cfg = modelConfig("transformer", tiny, io, 12);
  const model = makeModel(cfg, { seed: 1, backend });
  await saveCheckpoint(`${dir}/checkpoint.safetensors`, { model, step: 5 });
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ task: "linear_regression", description: "d=3, N=6", seed: 1, model: cfg }),
  );
  const [run] = await findRuns(root);
  assert.equal(run.name, "transformer");
  assert.deepEqual(run.taskOptions, { nDims: 3, nPoints: 6 });
  assert.equal(maxPointsOf(run), 6);
  const loaded = await loadModel(run, backend);
  assert.deepEqual(await loaded.parameters()[0].floats(), await model.parameters()[0].floats());
  await Deno.remove(`${dir}/checkpoint.safetensors`);
  await assert.rejects(findRuns(root), /no checkpoint\.safetensors or best\.safetensors/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("exp:length on a PE model: a clear note past its length, exit 0, no stack trace", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/linear_regression/transformer-w8l1h2-seed1`;
  await Deno.mkdir(dir, { recursive: true });
  const cfg = modelConfig("transformer", tiny, io, 12);
  await saveCheckpoint(`${dir}/checkpoint.safetensors`, {
    model: makeModel(cfg, { seed: 1, backend }),
  });
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ task: "linear_regression", description: "d=3, N=6", seed: 1, model: cfg }),
  );
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "experiments/length.ts", ...args],
      env: { NO_COLOR: "1" },
    }).output();
  const ok = await run(["--run", root, "--backend", "cpu", "--prompts", "8", "--out", `${root}/o`]);
  const text = new TextDecoder().decode(ok.stdout) + new TextDecoder().decode(ok.stderr);
  assert.equal(ok.code, 0, text);
  assert.match(text, /learned positions for 6 points .* cannot be evaluated past N=6/);
  assert.doesNotMatch(text, /^\s+at .*:\d+:\d+/m); // no stack trace
  const bad = await run(["--run", root, "--factor", "x", "--out", `${root}/bad`]);
  assert.equal(bad.code, 2);
  await assert.rejects(Deno.stat(`${root}/bad`));
  await Deno.remove(root, { recursive: true });
});

Deno.test("exp:probe, exp:ood, exp:length: --help documents --run, a bad flag exits 2", async () => {
  for (const script of ["probe", "ood", "length"]) {
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `experiments/${script}.ts`, ...args],
        env: { NO_COLOR: "1" },
      }).output();
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    assert.match(new TextDecoder().decode(help.stdout), /--run VALUE\n.*exp:\* command/);
    const bad = await run(["--prompts", "0"]);
    assert.equal(bad.code, 2, script);
    assert.match(new TextDecoder().decode(bad.stderr), /--prompts must be an integer ≥ 1/);
  }
});
