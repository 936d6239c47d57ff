import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { cachedTokens } from "../experiments/lib/token_cache.ts";
import { pretrainingStream } from "../tasks/ginc.ts";
import { buildGincFamily } from "../tasks/ginc_hmm.ts";

Deno.test("token cache: generated once, read back equal, regenerated when stale", async () => {
  const dir = await Deno.makeTempDir({ prefix: "iclab_tokens_" });
  try {
    const family = buildGincFamily(new Rng(1).fork("family"));
    let made = 0;
    const make = () => {
      made++;
      return pretrainingStream(new Rng(1).fork("train"), family, 3, 100);
    };
    const desc = { generator: "ginc", seed: 1, docs: 3, docLength: 100 };
    const lines: string[] = [];
    const a = await cachedTokens(dir, "train", desc, make, (l) => lines.push(l));
    assert.equal(a.cached, false);
    const b = await cachedTokens(dir, "train", desc, make);
    assert.equal(b.cached, true);
    assert.deepEqual(b.tokens, a.tokens);
    assert.equal(made, 1);
    // Other settings, or a damaged token file, regenerate.
    const c = await cachedTokens(dir, "train", { ...desc, seed: 2 }, make, (l) => lines.push(l));
    assert.equal(c.cached, false);
    const bytes = await Deno.readFile(`${dir}/train.i32`);
    bytes[5] ^= 1;
    await Deno.writeFile(`${dir}/train.i32`, bytes);
    const d = await cachedTokens(dir, "train", { ...desc, seed: 2 }, make, (l) => lines.push(l));
    assert.equal(d.cached, false);
    assert.deepEqual(d.tokens, a.tokens);
    assert.deepEqual(lines, [
      "train: generating (not cached yet)",
      "train: generating (made with other settings)",
      "train: generating (token file does not match its manifest)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
