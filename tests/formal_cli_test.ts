/**
 * exp:ginc and exp:regbench end to end on the CPU backend with two training steps: each writes
 * its summary with one row per model; a bad flag exits 2 before a run folder exists.
 */
import assert from "node:assert/strict";
import { exists, run } from "./cells_util.ts";

for (
  const [script, model] of [["ginc", "lstm"], ["regbench", "mamba"]]
) {
  Deno.test(`exp:${script}: two steps write a summary; a bad flag writes nothing`, async () => {
    const dir = await Deno.makeTempDir();
    const args = ["--steps=2", `--models=${model}`, "--backend=cpu"];
    const ok = await run(script, [...args, `--out=${dir}/run`]);
    assert.equal(ok.code, 0, ok.stderr);
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/run/summary.json`));
    assert.deepEqual(summary.steps, { [model]: 2 });
    assert.deepEqual(summary.rows.map((r: { model: string }) => r.model), [model]);
    const bad = await run(script, [...args, "--preset=huge", `--out=${dir}/bad`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--preset must be quick or paper/);
    assert.ok(!(await exists(`${dir}/bad`)), "no run folder");
    await Deno.remove(dir, { recursive: true });
  });
}
