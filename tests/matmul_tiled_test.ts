/**
 * The GPU family's matmul (matmul_tiled.ts, matmul_splitk_gpu.ts) against the f64 reference on
 * whichever runtime drives that family here (the adapter's own on a GPU, the default-limits
 * `other` runtime on llvmpipe): every tile (128, 64, 32, forced through the profile's
 * tiledWorkgroups), vec4 and scalar loads of each operand, every transpose combination, batch
 * strides 0 and non-zero, the bias epilogue, sizes that are multiples of neither the tile, the
 * k-tile nor 4, and split-k (matched against the reference and bit-identical across two runs).
 * On OpenGL llvmpipe (otherBrief: it compiles these kernels very slowly) only the split-k case,
 * the 32-wide tile with vec4 loads (matmul_test.ts's brief case runs it with scalar loads).
 */
import assert from "node:assert/strict";
import { describeMatmul, matmulGpu } from "../core/webgpu/kernels/matmul.ts";
import type { Runtime } from "../core/webgpu/runtime.ts";
import { other, otherBrief, rt } from "./gpu_runtimes.ts";
import {
  type Case,
  check,
  makeArgs,
  operands,
  reference,
  runGpu,
  sw,
  TRANSPOSES,
  upload,
} from "./matmul_util.ts";

const gpu = rt && !sw(rt) ? rt : other && !sw(other) ? other : null;
const brief = gpu === other && otherBrief;

/** The GPU family with a forced tile: tiledWorkgroups 1 takes 128 wherever it can, 10⁹ 32. */
const forced = (workgroups: number) =>
  gpu!.withProfile({ tiledWorkgroups: workgroups, tiledSplitMinK: Infinity });

// 130 × 130 outputs: 4 tiles of 128, 9 of 64, 25 of 32, so 1, 9 and 10⁹ workgroups pick each.
const TILES: [number, RegExp][] = [[1, /_128_/], [9, /_64_/], [1e9, /_32_/]];

const VEC: Case[] = [
  { batch: 1, m: 132, n: 132, k: 36 }, // every operand vec4, k a multiple of 4 but not of TK
  { batch: 2, m: 132, n: 68, k: 44, bcast: "b", bias: true }, // shared B, vec4 stores + bias
  { batch: 3, m: 36, n: 132, k: 20, bcast: "a" }, // A broadcast (stride 0)
];
const SCALAR: Case[] = [
  { batch: 1, m: 130, n: 131, k: 37 }, // nothing a multiple of 4: scalar loads, scalar stores
  { batch: 2, m: 131, n: 130, k: 9, bias: true }, // odd batch strides, scalar bias
  { batch: 2, m: 132, n: 67, k: 36, bcast: "a" }, // mixed: vec4 A (either layout), scalar B
];

Deno.test({
  name: "matmul tiled (GPU family): names its variants (tiles, vec4 or scalar loads, split-k)",
  ignore: !gpu,
  fn: () => {
    for (const [w, tile] of TILES) {
      const r = forced(w);
      for (const [tA, tB] of TRANSPOSES) {
        const vec = describeMatmul(r, makeArgs(VEC[0], tA, tB));
        assert.match(vec, tile);
        assert.match(vec, /_a[NT]4_b[NT]4_c4$/);
        assert.match(describeMatmul(r, makeArgs(SCALAR[0], tA, tB)), /_a[NT]s_b[NT]s$/);
        // n = 67: B is scalar unless stored transposed (then its contiguous dim is k = 36)
        assert.match(
          describeMatmul(r, makeArgs(SCALAR[2], tA, tB)),
          tB ? /_a[NT]4_bT4$/ : /_a[NT]4_bNs$/,
        );
      }
    }
    // Few tiles and a long k: split into slices of k (weight gradients), not otherwise.
    const dW = makeArgs({ batch: 1, m: 36, n: 68, k: 4096 }, true, false);
    assert.match(
      describeMatmul(gpu!, dW),
      /^split-k 16: matmul_tiled_32_aT4_bN4_c4_splitk \+ sum$/,
    );
    assert.doesNotMatch(describeMatmul(gpu!, { ...dW, k: 256 }), /split/);
    assert.doesNotMatch(describeMatmul(gpu!, { ...dW, m: 1024, n: 1024 }), /split/);
    assert.doesNotMatch(
      describeMatmul(gpu!, { ...dW, batch: 2, aBatchStride: 36 * 4096 }),
      /split/,
    );
  },
});

Deno.test({
  name: "matmul tiled (GPU family): every tile, vec4 and scalar loads match the CPU",
  ignore: !gpu,
  fn: async () => {
    // (Not on OpenGL llvmpipe: a cold compile of the 128-wide tile takes ~2 minutes there.)
    if (brief) return;
    for (const [w] of TILES) await runGpu(forced(w), [...VEC, ...SCALAR], `tiled w${w}`);
  },
});

/** C for one case, read back. */
async function product(r: Runtime, c: Case, tA: boolean, tB: boolean) {
  const { a, b } = operands(c);
  const s = makeArgs(c, tA, tB);
  const ga = upload(r, a), gb = upload(r, b);
  const runs: Float32Array[] = [];
  for (let i = 0; i < 2; i++) {
    const gc = matmulGpu(r, ga, gb, s);
    runs.push(new Float32Array(await r.read(gc, 4 * c.batch * c.m * c.n)));
    r.release(gc);
  }
  r.release(ga);
  r.release(gb);
  return { runs, ref: reference(a, b, s) };
}

Deno.test({
  name: "matmul tiled (GPU family): split-k matches the CPU and is deterministic",
  ignore: !gpu,
  fn: async () => {
    const cases: [Case, RegExp][] = [
      [{ batch: 1, m: 36, n: 68, k: 4096 }, /^split-k 16: \S+_aT4_bN4_c4_splitk/],
      // k = 4100: 16 slices of 272, the last 20 long; k = 4099, n = 67: scalar loads, ragged end
      [{ batch: 1, m: 68, n: 36, k: 4100 }, /^split-k 16:/],
      [{ batch: 1, m: 35, n: 67, k: 4099 }, /^split-k 16: \S+_aTs_bNs_splitk/],
    ];
    for (const [c, name] of brief ? cases.slice(0, 1) : cases) {
      // the weight gradient's layout (Aᵀ·B) always; the other three off the brief path
      const transposes: [boolean, boolean][] = brief ? [[true, false]] : TRANSPOSES;
      for (const [tA, tB] of transposes) {
        const args = makeArgs(c, tA, tB);
        const label = `split-k ${c.m}x${c.n} k ${c.k}${tA ? " tA" : ""}${tB ? " tB" : ""}`;
        if (tA && !tB) assert.match(describeMatmul(gpu!, args), name, label);
        assert.match(describeMatmul(gpu!, args), /^split-k/, label);
        const { runs, ref } = await product(gpu!, c, tA, tB);
        check(runs[0], ref, c.k, label);
        assert.deepEqual(runs[1], runs[0], `${label}: two runs differ`);
      }
    }
  },
});
