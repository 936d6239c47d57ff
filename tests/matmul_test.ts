/**
 * Batched matmul: the CPU kernel against a naive f64 triple loop, and the WebGPU kernels (both
 * the software register-block family and the hardware shared-memory family, on whatever adapter
 * runs this) against the same loop, on sizes that are not multiples of any block or tile (1, 3,
 * 17, 33, 257 and m != n != k mixes), all four transpose combinations, and batches that
 * broadcast A or B (stride 0). GPU parts are skipped when no adapter exists.
 * Tolerance and reference: matmul_util.ts. The GPU family's own variants (tiles, vec4 and
 * scalar loads, split-k): matmul_tiled_test.ts.
 */
import assert from "node:assert/strict";
import { matmulCpu } from "../core/cpu/matmul.ts";
import { describeMatmul, matmulActGpu } from "../core/webgpu/kernels/matmul.ts";
import type { Runtime } from "../core/webgpu/runtime.ts";
import { limited, other, otherBrief, rt } from "./gpu_runtimes.ts";
import {
  type Case,
  check,
  makeArgs,
  operands,
  reference,
  runGpu,
  sw,
  tag,
  TRANSPOSES,
  upload,
} from "./matmul_util.ts";

Deno.test("matmul cpu: matches an f64 triple loop (odd sizes, transposes, broadcast)", () => {
  const cases: Case[] = [
    { batch: 1, m: 1, n: 1, k: 1 },
    { batch: 1, m: 3, n: 5, k: 7 },
    { batch: 2, m: 6, n: 3, k: 9 },
    { batch: 3, m: 17, n: 33, k: 5, bcast: "a" },
    { batch: 3, m: 9, n: 4, k: 33, bcast: "b" },
    { batch: 2, m: 5, n: 7, k: 0 },
    { batch: 1, m: 33, n: 17, k: 65 },
    { batch: 2, m: 3, n: 5, k: 0, bias: true },
    { batch: 3, m: 9, n: 4, k: 33, bcast: "b", bias: true },
  ];
  for (const c of cases) {
    for (const [tA, tB] of TRANSPOSES) {
      const { a, b, bias } = operands(c);
      const s = makeArgs(c, tA, tB);
      check(matmulCpu(a, b, s, bias), reference(a, b, s, bias), c.k, `cpu ${tag(c, tA, tB)}`);
    }
  }
});

// Shapes picking every block size of the software family (8, 16, 32), vec4 and scalar loads,
// k with and without a multiple of 4, broadcast on either side, and m or n tiny.
const GPU_CASES: Case[] = [
  { batch: 1, m: 1, n: 1, k: 1 },
  { batch: 1, m: 3, n: 3, k: 3 },
  { batch: 1, m: 17, n: 17, k: 17 },
  { batch: 1, m: 33, n: 33, k: 33 },
  { batch: 1, m: 257, n: 257, k: 257 },
  { batch: 1, m: 33, n: 17, k: 65 },
  { batch: 3, m: 17, n: 33, k: 7, bcast: "a" },
  { batch: 3, m: 20, n: 12, k: 36, bcast: "b" },
  { batch: 2, m: 1, n: 68, k: 40 },
  { batch: 2, m: 260, n: 132, k: 68 },
  { batch: 3, m: 68, n: 196, k: 12, bcast: "b" },
  // narrow C: lanes along m (n = 1, 4, 36: every lane along m; n = 64: 8 lanes of 8 columns)
  { batch: 1, m: 2052, n: 4, k: 8 },
  { batch: 1, m: 2050, n: 1, k: 8 },
  { batch: 1, m: 2050, n: 36, k: 20 },
  { batch: 2, m: 517, n: 64, k: 12, bcast: "b" },
  // tall narrow C: computed as Cᵀ and transposed back (one matrix, and batches folded)
  { batch: 1, m: 1028, n: 12, k: 132 },
  { batch: 2, m: 520, n: 16, k: 128, bcast: "b" },
  { batch: 2, m: 520, n: 16, k: 128, bcast: "b", bias: true },
  // long k with few outputs: Aᵀ·B splits k into slices (both orientations of the output)
  { batch: 1, m: 36, n: 68, k: 4096 },
  { batch: 1, m: 68, n: 36, k: 4096 },
  { batch: 1, m: 66, n: 10, k: 4096 },
  // bias epilogue: scalar and vec4 stores, a clamped tail block, k = 0 (the bias alone)
  { batch: 1, m: 33, n: 17, k: 65, bias: true },
  { batch: 2, m: 517, n: 64, k: 12, bcast: "b", bias: true },
  { batch: 1, m: 3, n: 5, k: 0, bias: true },
];

Deno.test({
  name:
    "matmul webgpu: software adapters split long k, put narrow outputs along m, compute tall narrow ones as Cᵀ",
  ignore: !rt || !sw(rt),
  fn: () => {
    for (const [m, n] of [[36, 68], [68, 36]]) {
      const args = makeArgs({ batch: 1, m, n, k: 4096 }, true, false);
      assert.match(describeMatmul(rt!, args), /^split-k 32/); // slices of 128
      assert.doesNotMatch(describeMatmul(rt!, { ...args, transA: false }), /split/);
    }
    // the quick Transformer's qkv weight gradient (2,560 tokens): enough slices for 32-wide blocks
    assert.match(
      describeMatmul(rt!, makeArgs({ batch: 1, m: 64, n: 192, k: 2560 }, true, false)),
      /^split-k 16: Aᵀ copy \+ matmul_sw_32x24/,
    );
    // many output blocks but 2^19 tokens: slices of 2^16 at most (llvmpipe's loop limit)
    assert.match(
      describeMatmul(rt!, makeArgs({ batch: 1, m: 512, n: 512, k: 2 ** 19 }, true, false)),
      /^split-k 8:/,
    );
    // n = 10 is not a multiple of 4: the slices still split (k was not split here before)
    assert.match(
      describeMatmul(rt!, makeArgs({ batch: 1, m: 64, n: 10, k: 4096 }, true, false)),
      /^split-k/,
    );
    // narrow C: every lane of the workgroup along m
    assert.match(
      describeMatmul(rt!, makeArgs({ batch: 1, m: 2052, n: 4, k: 8 }, false, false)),
      /_mx$/,
    );
    assert.match(
      describeMatmul(rt!, makeArgs({ batch: 1, m: 2050, n: 1, k: 8 }, false, true)),
      /_mx$/,
    );
    const tall = makeArgs({ batch: 2, m: 520, n: 16, k: 128, bcast: "b" }, false, true);
    assert.match(describeMatmul(rt!, tall), /^as Cᵀ/);
    assert.doesNotMatch(describeMatmul(rt!, { ...tall, k: 64 }), /Cᵀ/);
  },
});

Deno.test({
  name: "matmul webgpu: default kernels match the CPU",
  ignore: !rt,
  fn: () => runGpu(rt!, GPU_CASES, "gpu"),
});

Deno.test({
  name: "matmul webgpu: default kernels within WebGPU's default limits match the CPU",
  ignore: !limited,
  fn: () => runGpu(limited!, GPU_CASES, "gpu, default limits"),
});

Deno.test({
  name: "matmul webgpu: texture operands (software family) match the CPU",
  ignore: !rt || !sw(rt),
  fn: async () => {
    const big = makeArgs({ batch: 1, m: 1024, n: 1024, k: 1024 }, false, false);
    assert.match(describeMatmul(rt!, big), /_tex$/); // large products take textures by default
    assert.doesNotMatch(describeMatmul(rt!, { ...big, m: 64, n: 64, k: 64 }), /_tex/);
    await runGpu(
      rt!.withProfile({ matmulTextureFlop: 0 }),
      [
        { batch: 1, m: 33, n: 36, k: 20 },
        // A spans several texture rows (2048 texels each) and ends inside one
        { batch: 1, m: 257, n: 132, k: 68, bias: true },
        { batch: 3, m: 37, n: 68, k: 12, bcast: "b" },
        { batch: 3, m: 21, n: 8, k: 36, bcast: "a" },
        { batch: 2, m: 260, n: 40, k: 132 },
        { batch: 2, m: 520, n: 16, k: 128, bcast: "b", bias: true }, // as Cᵀ, row bias
      ],
      "gpu-tex",
    );
  },
});

const geluRef = (x: number) =>
  0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));

Deno.test({
  name: "matmul webgpu: GELU epilogue (fused and unfused paths) matches the CPU",
  ignore: !rt,
  fn: async () => {
    const cases: [Case, boolean, boolean, Runtime][] = [
      [{ batch: 1, m: 33, n: 36, k: 20, bias: true }, false, true, rt!], // fused, vec4 stores
      [{ batch: 2, m: 37, n: 17, k: 9, bcast: "b" }, false, false, rt!], // fused, scalar stores
      [{ batch: 1, m: 257, n: 132, k: 68, bias: true }, false, true, rt!], // + textures below
      [{ batch: 1, m: 1028, n: 12, k: 132 }, false, true, rt!], // as Cᵀ: unfused
      [{ batch: 1, m: 19, n: 24, k: 40 }, true, false, rt!], // Aᵀ copy: unfused
      [{ batch: 1, m: 70, n: 37, k: 19, bias: true }, false, true, other!], // other family
    ];
    for (const [c, tA, tB, r0] of cases) {
      // (textures for the 257-row case, which would not take them by default)
      const r = c.m === 257 && sw(r0) ? r0.withProfile({ matmulTextureFlop: 0 }) : r0;
      for (const keepPre of [false, true]) {
        const { a, b, bias } = operands(c);
        const s = makeArgs(c, tA, tB);
        const ga = upload(r, a), gb = upload(r, b), gbias = bias && upload(r, bias);
        const label = `gelu ${tag(c, tA, tB)}${keepPre ? " keepPre" : ""}`;
        if (c.m === 257 && sw(r)) assert.match(describeMatmul(r, s), /_tex$/);
        const before = r.dispatches;
        const [gy, gpre] = matmulActGpu(r, ga, gb, s, { act: "gelu", keepPre }, gbias);
        // The plain register-block path fuses the activation: one dispatch, no elementwise pass.
        const fused = sw(r) && c.m < 1000 && !tA;
        assert.equal(r.dispatches - before === 1, fused, `${label}: fused`);
        const size = c.batch * c.m * c.n;
        const y = new Float32Array(await r.read(gy, 4 * size));
        const pre = gpre && new Float32Array(await r.read(gpre, 4 * size));
        assert.equal(pre !== null, keepPre, `${label}: pre-activation kept`);
        const ref = reference(a, b, s, bias);
        if (pre) check(pre, ref, c.k, `${label} (pre)`);
        const scale = 1.2e-6 * Math.sqrt(c.k);
        for (let i = 0; i < size; i++) {
          const want = geluRef(ref.c[i]);
          if (!(Math.abs(y[i] - want) <= scale * ref.mag[i] + 2e-6 * (1 + Math.abs(want)))) {
            assert.fail(`${label}: element ${i} got ${y[i]}, want ${want}`);
          }
        }
        for (const x of [ga, gb, gy, ...(gpre ? [gpre] : []), ...(gbias ? [gbias] : [])]) {
          r.release(x);
        }
      }
    }
  },
});

Deno.test({
  name: "matmul webgpu: the other kernel family (default limits) matches the CPU",
  ignore: !other,
  fn: () =>
    runGpu(
      other!,
      otherBrief // one shape: every transpose, a bias, tails on every side
        ? [{ batch: 2, m: 70, n: 37, k: 19, bcast: "b", bias: true }]
        : [
          { batch: 1, m: 1, n: 1, k: 1 },
          { batch: 1, m: 33, n: 17, k: 65 },
          { batch: 3, m: 17, n: 33, k: 7, bcast: "a" },
          { batch: 2, m: 257, n: 129, k: 19, bcast: "b" },
          { batch: 2, m: 70, n: 37, k: 19, bcast: "b", bias: true },
          // 64-wide tiles on hardware need many output tiles.
          { batch: 1, m: 1100, n: 1000, k: 3 },
        ],
      "gpu-other",
    ),
});
