/**
 * Bad command lines exit 2 with a one-line message and write nothing: empty values, garbage
 * numbers, repeated seeds, impossible model sizes (experiments/lib/budget.ts), and an unwritable
 * `bench --json` (checked before any benchmark runs).
 */
import assert from "node:assert/strict";
import { webgpuBackend } from "../core/device_select.ts";

const root = new URL("..", import.meta.url).pathname;
const hasGpu = (await webgpuBackend()) !== null;

async function run(script: string, args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, stdout: text(r.stdout), stderr: text(r.stderr) };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Runs exp:parity with `args`, expecting exit 2, `message` as stderr's first line, no folder. */
async function rejects(args: string[], message: string | RegExp) {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/run`;
  const r = await run("experiments/parity.ts", [...args, "--out", out]);
  // Past the adapter line (and, on OpenGL, its hint line).
  const first = r.stderr.split("\n").filter((l) => !l.startsWith("iclab: "))[0];
  const what = `${args.join(" ")}: ${r.stderr}`;
  assert.equal(r.code, 2, what);
  if (typeof message === "string") assert.equal(first, `exp:parity: ${message}`, what);
  else assert.match(first, message, what);
  assert.equal(r.stdout, "", `nothing on stdout: ${what}`);
  assert.ok(!(await exists(out)), `no run folder: ${what}`);
  await Deno.remove(dir, { recursive: true });
}

Deno.test("flags: empty values are errors, not the preset's defaults", async () => {
  await rejects(["--steps", ""], `--steps needs a value, got ""`);
  await rejects(["--models", ""], `--models needs a value, got ""`);
  await rejects(["--seeds="], `--seeds needs a value, got ""`);
  await rejects(["--backend", " "], `--backend needs a value, got " "`);
});

Deno.test("flags: numbers reject garbage, negatives, fractions and repeats", async () => {
  const cases: [string[], string][] = [
    [["--steps", "abc"], `--steps must be an integer ≥ 1, got "abc"`],
    [["--steps=-3"], `--steps must be an integer ≥ 1, got "-3"`],
    [
      ["--steps", "-3"],
      `--steps needs a value; one starting with "-" must be written --steps=VALUE`,
    ],
    [["--steps", "1.5"], `--steps must be an integer ≥ 1, got "1.5"`],
    [["--steps", "0x10"], `--steps must be an integer ≥ 1, got "0x10"`],
    [["--batch", "0"], `--batch must be an integer ≥ 1, got "0"`],
    [["--warmup", "1e400"], `--warmup must be an integer ≥ 0, got "1e400"`],
    [["--lr", "abc"], `--lr must be a number > 0, got "abc"`],
    [["--lr", "Infinity"], `--lr must be a number > 0, got "Infinity"`],
    [["--lr=-1"], `--lr must be a number > 0, got "-1"`],
    [["--clip", "0x1"], `--clip must be a number ≥ 0, got "0x1"`],
    [["--seeds", "1,1"], `--seeds names 1 twice ("1,1")`],
    [["--seeds", "3,1,3"], `--seeds names 3 twice ("3,1,3")`],
    [
      ["--seeds", "1,,2"],
      `--seeds must be a comma-separated list of non-negative integers, got "1,,2"`,
    ],
    [
      ["--seeds", "-1"],
      `--seeds needs a value; one starting with "-" must be written --seeds=VALUE`,
    ],
    [["--converge", "abc"], `--converge must be a number > 0, got "abc"`],
  ];
  for (const [args, message] of cases) await rejects(args, message);
});

Deno.test("sizes: impossible widths are rejected before a folder exists", async () => {
  const cpu =
    /^exp:parity: transformer at width (\d+), (\d+) layer\(s\), batch 32 of 80 tokens \(sparse_parity\) cannot run: it needs about [\d.]+ GiB \([\d.]+M parameters: .* more than the [\d.]+ GiB of this machine; choose a smaller --width, --layers or --batch$/;
  await rejects(["--width", "100000", "--backend", "cpu"], cpu);
  await rejects(["--width", "16384", "--layers", "64", "--backend", "cpu"], cpu);
  if (hasGpu) {
    await rejects(
      ["--width", "16384", "--backend", "webgpu"],
      /^exp:parity: transformer at width 16384, .* cannot run: its largest tensor needs 4\.0 GiB, more than the .* one buffer binding may have on /,
    );
  }
});

Deno.test("bench: empty flags and an unwritable --json fail before anything is measured", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/file`;
  await Deno.writeTextFile(file, "x");
  const cases: [string[], string][] = [
    [["--only", ""], `bench: --only needs a value, got ""`],
    [["--json="], `bench: --json needs a value, got ""`],
    [
      ["--only", "matmul,"],
      `bench: unknown section "" in --only (expected overhead, matmul, scan, attention, train)`,
    ],
    [
      ["--json", `${dir}/missing/b.json`],
      `bench: cannot write --json ${dir}/missing/b.json: its folder does not exist`,
    ],
    [
      ["--json", `${file}/b.json`],
      `bench: cannot write --json ${file}/b.json: Not a directory (os error 20)`,
    ],
    [["--json", dir], `bench: --json ${dir} is a directory`],
  ];
  for (const [args, message] of cases) {
    const r = await run("bench/bench.ts", args);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.equal(r.stderr.trim(), message);
    assert.equal(r.stdout, "", "no benchmark ran");
  }
  assert.equal(await Deno.readTextFile(file), "x");
  // A writable one still works (the probe's file is the one the bench then writes).
  const ok = `${dir}/ok.json`;
  const r = await run("bench/bench.ts", ["--quick", "--only", "overhead", "--json", ok]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok("adapter" in JSON.parse(await Deno.readTextFile(ok)));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resume: a corrupted checkpoint of an unfinished cell exits 2 naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const args = [
    "--preset=quick",
    "--models=mamba",
    "--steps=4",
    "--checkpoint-every=2",
    "--backend=cpu",
    "--no-baselines",
    "--width=16",
    "--layers=1",
    "--batch=8",
    "--eval-prompts=32",
    "--fractions=1",
    `--out=${dir}/run`,
  ];
  assert.equal((await run("experiments/parity.ts", args)).code, 0);
  const [cell] = [...Deno.readDirSync(`${dir}/run/sparse_parity`)].filter((e) => e.isDirectory);
  const cellDir = `${dir}/run/sparse_parity/${cell.name}`;
  await Deno.remove(`${cellDir}/result.json`); // unfinished: the rerun resumes from the checkpoint
  const ckpt = `${cellDir}/checkpoint.safetensors`;
  const bytes = await Deno.readFile(ckpt);
  bytes[bytes.length - 5] ^= 0xff; // a byte of tensor data (the header comes first)
  await Deno.writeFile(ckpt, bytes);
  const r = await run("experiments/parity.ts", args);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /exp:parity: .*checkpoint\.safetensors: the tensor data does not match/);
  assert.ok(!r.stderr.includes("    at "), `no stack trace: ${r.stderr}`);
  await Deno.remove(dir, { recursive: true });
});
