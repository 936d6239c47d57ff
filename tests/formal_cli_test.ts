/**
 * exp:ginc and exp:regbench end to end on the CPU backend with two training steps: each writes
 * its summary with one row per model; a bad flag exits 2 before a run folder exists.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function run(script: string, args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

for (
  const [script, model] of [["experiments/ginc.ts", "lstm"], ["experiments/regbench.ts", "mamba"]]
) {
  Deno.test(`${script}: two steps write a summary; a bad flag writes nothing`, async () => {
    const dir = await Deno.makeTempDir();
    const args = ["--steps=2", `--models=${model}`, "--backend=cpu"];
    const ok = await run(script, [...args, `--out=${dir}/run`]);
    assert.equal(ok.code, 0, ok.stderr);
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/run/summary.json`));
    assert.equal(summary.steps, 2);
    assert.deepEqual(summary.rows.map((r: { model: string }) => r.model), [model]);
    const bad = await run(script, [...args, "--preset=huge", `--out=${dir}/bad`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--preset must be quick or paper/);
    assert.ok(!(await Deno.stat(`${dir}/bad`).then(() => true, () => false)), "no run folder");
    await Deno.remove(dir, { recursive: true });
  });
}
