/**
 * Checkpoint metadata and checksum validation (nn/checkpoint_meta.ts): damaged or edited files
 * fail naming the file and the field, a flipped byte in the tensor data is caught, files from
 * before checksums load with a warning, and a resume refuses a checkpoint that is not this run's.
 */
import assert from "node:assert/strict";
import { cpuBackend } from "../core/device_select.ts";
import { Rng } from "../core/rng.ts";
import { makeModel } from "../nn/mod.ts";
import { loadCheckpoint, saveCheckpoint } from "../nn/checkpoint.ts";
import { Adam, constantSchedule } from "../nn/optim.ts";
import { decodeSafetensors, encodeSafetensors } from "../nn/safetensors.ts";
import { SparseParity } from "../tasks/parity.ts";
import { train, type TrainOptions } from "../experiments/lib/trainer.ts";

const be = cpuBackend();
const cfg = { arch: "mamba" as const, dModel: 8, nLayer: 1, tokenDim: 4, outDim: 1 };
const task = new SparseParity({ nDims: 4, nPoints: 6, k: 1 });
const opts = (runDir: string, steps: number, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  steps,
  batch: 4,
  lr: 1e-2,
  schedule: constantSchedule(1e-2),
  clip: 10,
  seed: 3,
  logEvery: 2,
  runDir,
  checkpointEvery: 4,
  quiet: true,
  config: { model: cfg },
  ...extra,
});

/** Rewrites `path` with its metadata changed by `edit` (tensors and checksum kept). */
async function editMetadata(path: string, edit: (m: Record<string, string>) => void) {
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path));
  edit(metadata);
  const entries = [...tensors].map(([name, t]) => ({ name, ...t }));
  await Deno.writeFile(path, encodeSafetensors(entries, metadata));
}

/** Captures console.error while `fn` runs. */
async function stderrOf(fn: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [], orig = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await fn();
  } finally {
    console.error = orig;
  }
  return lines;
}

Deno.test("checkpoint validation: bad metadata fields fail naming the file and the field", async () => {
  const dir = await Deno.makeTempDir();
  const m = makeModel(cfg, { seed: 1, backend: be });
  const opt = new Adam(m.namedParameters());
  const path = `${dir}/checkpoint.safetensors`;
  const rng = { data: new Rng(1).state() };
  await saveCheckpoint(path, { model: m, optimizer: opt, step: 4, rng });
  const ok = await loadCheckpoint(path, { model: m, optimizer: opt });
  assert.equal(ok.step, 4);
  const cases: [string, string | undefined, string][] = [
    ["step", "abc", `metadata field "step" is "abc", expected a non-negative integer`],
    ["step", "-1", `metadata field "step" is "-1", expected a non-negative integer`],
    ["step", "1.5", `metadata field "step" is "1.5", expected a non-negative integer`],
    ["step", "", `metadata field "step" is "", expected a non-negative integer`],
    ["rng", "{not json", `metadata field "rng" is "{not json", expected valid JSON`],
    ["rng", '{"data":{"seed":"x"}}', `metadata field "rng" is`],
    ["rng", '{"data":{"seed":1,"stream":0,"counter":2,"pos":9,"spareNormal":null}}', "pos 9"],
    ["dropout_rng", "[]", `metadata field "dropout_rng" is "[]", expected an RNG state`],
    ["config", "[1]", `metadata field "config" is "[1]", expected a JSON object`],
    ["optim", '{"kind":"sgd"}', `metadata field "optim" is`],
    ["checksum", "md5:00", `metadata field "checksum" is "md5:00", expected sha256:<64 hex>`],
  ];
  for (const [key, value, message] of cases) {
    await saveCheckpoint(path, { model: m, optimizer: opt, step: 4, rng });
    await editMetadata(path, (md) => {
      if (value === undefined) delete md[key];
      else md[key] = value;
    });
    await assert.rejects(
      loadCheckpoint(path, { model: m, optimizer: opt }),
      (e: Error) =>
        e.message.startsWith(`${path}: metadata field "${key}" is `) &&
        e.message.includes(message),
      `${key} = ${value}`,
    );
  }
  opt.dispose();
  m.dispose();
});

Deno.test("checkpoint validation: a flipped byte in the tensor data is caught, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const m = makeModel(cfg, { seed: 1, backend: be });
  const path = `${dir}/checkpoint.safetensors`;
  await saveCheckpoint(path, { model: m, step: 2 });
  const bytes = await Deno.readFile(path);
  const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const target = makeModel(cfg, { seed: 2, backend: be });
  const before = await target.parameters()[0].floats();
  for (const at of [dataStart, dataStart + 5, bytes.length - 1]) {
    const bad = bytes.slice();
    bad[at] ^= 0x01;
    await Deno.writeFile(path, bad);
    await assert.rejects(loadCheckpoint(path, { model: target }), {
      message:
        `${path}: the tensor data does not match the checksum in its metadata (the file is corrupted)`,
    });
  }
  assert.deepEqual(await target.parameters()[0].floats(), before, "a failed load changes nothing");
  // The intact file loads (and the checksum does not depend on tensor order in the file).
  const { tensors, metadata } = decodeSafetensors(bytes);
  const reversed = [...tensors].map(([name, t]) => ({ name, ...t })).reverse();
  await Deno.writeFile(path, encodeSafetensors(reversed, metadata));
  await loadCheckpoint(path, { model: target });
  assert.deepEqual(await target.parameters()[0].floats(), await m.parameters()[0].floats());
  m.dispose();
  target.dispose();
});

Deno.test("checkpoint validation: a file without a checksum loads with a one-line warning", async () => {
  const dir = await Deno.makeTempDir();
  const m = makeModel(cfg, { seed: 1, backend: be });
  const path = `${dir}/old.safetensors`;
  await saveCheckpoint(path, { model: m, step: 2 });
  await editMetadata(path, (md) => delete md.checksum);
  const lines = await stderrOf(() => loadCheckpoint(path, { model: m }));
  assert.deepEqual(lines, [
    `iclab: warning: ${path} has no checksum (saved by an older iclab or another tool); ` +
    `its tensor data is not verified`,
  ]);
  m.dispose();
});

Deno.test("checkpoint validation: resume refuses a checkpoint that is not this run's", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/checkpoint.safetensors`;
  const m = makeModel(cfg, { seed: 1, backend: be });
  await train(m, task, be, opts(dir, 4));
  const good = await Deno.readFile(path);
  const resume = (steps = 8, extra: Partial<TrainOptions> = {}) =>
    train(m, task, be, opts(dir, steps, { resume: true, ...extra }));
  const cases: [(md: Record<string, string>) => void, number, Partial<TrainOptions>, string][] = [
    [
      (md) => delete md.step,
      8,
      {},
      `metadata field "step" is missing, expected a non-negative integer`,
    ],
    [() => {}, 2, {}, `metadata field "step" is "4", expected at most this run's 2 steps`],
    [
      (md) => delete md.rng,
      8,
      {},
      `metadata field "rng" is missing, expected an RNG state under "data"`,
    ],
    [(md) => (md.ema = '{"ema":"x"}'), 8, {}, `metadata field "ema" is "{\\"ema\\":\\"x\\"}"`],
    [() => {}, 8, { config: { model: { ...cfg, dModel: 16 } } }, `metadata field "config" is`],
  ];
  for (const [edit, steps, extra, message] of cases) {
    await Deno.writeFile(path, good);
    await editMetadata(path, edit);
    await assert.rejects(
      resume(steps, extra),
      (e: Error) => e.message.startsWith(`${path}: ${message}`),
      message,
    );
  }
  // The same config with its keys in another order is the same config.
  await Deno.writeFile(path, good);
  const shuffled = Object.fromEntries(Object.entries(cfg).reverse());
  const r = await resume(8, { config: { model: shuffled } });
  assert.equal(r.steps, 8);
  m.dispose();
});
