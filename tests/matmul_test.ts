/**
 * Batched matmul: the CPU kernel against a naive f64 triple loop, and the WebGPU kernels (both
 * the software register-block family and the hardware shared-memory family, on whatever adapter
 * runs this) against the same loop, on sizes that are not multiples of any block or tile (1, 3,
 * 17, 33, 257 and m != n != k mixes), all four transpose combinations, and batches that
 * broadcast A or B (stride 0). GPU parts are skipped when no adapter exists.
 *
 * Tolerance, per element: |got − want| <= 1e-6 · sqrt(k) · Σ_p |a_ip · b_pj| (+ 1e-30).
 * Why: an f32 dot product of k terms rounds once per add, each rounding at most u = 2^-24 ≈ 6e-8
 * times the running sum, which is bounded by Σ|a·b|. With random-sign data the roundings add
 * like a random walk, so the error grows as sqrt(k)·u·Σ|a·b|; 1e-6 ≈ 17u leaves room for the
 * walk's tail and for the different summation orders of the kernels, while an indexing or
 * masking bug (a wrong or missing term) gives errors of order |a·b| ~ Σ|a·b| / k, hundreds of
 * times larger at every k tested. The CPU kernel accumulates in f64 and rounds once, so
 * against the f64 loop it is far inside this bound. GPU results are compared with the same f64
 * loop.
 */
import assert from "node:assert/strict";
import type { MatmulArgs } from "../core/backend.ts";
import { matmulCpu } from "../core/cpu/matmul.ts";
import { Rng } from "../core/rng.ts";
import { describeMatmul, matmulActGpu, matmulGpu } from "../core/webgpu/kernels/matmul.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import { limited, other, otherBrief, rt } from "./gpu_runtimes.ts";

const rng = new Rng(11);

function rand(n: number): Float32Array {
  return rng.fillUniform(new Float32Array(n), -1, 1);
}

/** Reference: f64 triple loop; also returns Σ|a·b| per element for the tolerance. */
function naive(
  a: Float32Array,
  b: Float32Array,
  s: MatmulArgs,
): { c: Float64Array; mag: Float64Array } {
  const { batch, m, n, k } = s;
  const c = new Float64Array(batch * m * n), mag = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = t * s.aBatchStride, bo = t * s.bBatchStride;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0, abs = 0;
        for (let p = 0; p < k; p++) {
          const x = a[ao + (s.transA ? p * m + i : i * k + p)];
          const y = b[bo + (s.transB ? j * k + p : p * n + j)];
          sum += x * y;
          abs += Math.abs(x * y);
        }
        c[(t * m + i) * n + j] = sum;
        mag[(t * m + i) * n + j] = abs;
      }
    }
  }
  return { c, mag };
}

function check(
  got: Float32Array,
  ref: { c: Float64Array; mag: Float64Array },
  k: number,
  label: string,
) {
  assert.equal(got.length, ref.c.length, `${label}: length`);
  const scale = 1e-6 * Math.sqrt(Math.max(k, 1));
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref.c[i]);
    if (!(err <= scale * ref.mag[i] + 1e-30)) {
      assert.fail(`${label}: element ${i} got ${got[i]}, want ${ref.c[i]} (Σ|ab| ${ref.mag[i]})`);
    }
  }
}

/** A case: sizes, transposes, and which operand (if any) is broadcast over the batch. */
interface Case {
  batch: number;
  m: number;
  n: number;
  k: number;
  bcast?: "a" | "b";
  /** Add a bias row (the linear layer's epilogue). */
  bias?: boolean;
}

function makeArgs(c: Case, transA: boolean, transB: boolean): MatmulArgs {
  return {
    batch: c.batch,
    m: c.m,
    n: c.n,
    k: c.k,
    transA,
    transB,
    aBatchStride: c.bcast === "a" ? 0 : c.m * c.k,
    bBatchStride: c.bcast === "b" ? 0 : c.k * c.n,
  };
}

function operands(c: Case): { a: Float32Array; b: Float32Array; bias?: Float32Array } {
  return {
    a: rand((c.bcast === "a" ? 1 : c.batch) * c.m * c.k),
    b: rand((c.bcast === "b" ? 1 : c.batch) * c.k * c.n),
    bias: c.bias ? rand(c.n) : undefined,
  };
}

/** The f64 reference with the bias row added (and counted in the magnitude). */
function reference(a: Float32Array, b: Float32Array, s: MatmulArgs, bias?: Float32Array) {
  const ref = naive(a, b, s);
  if (bias) {
    for (let i = 0; i < ref.c.length; i++) {
      ref.c[i] += bias[i % s.n];
      ref.mag[i] += Math.abs(bias[i % s.n]);
    }
  }
  return ref;
}

const TRANSPOSES: [boolean, boolean][] = [[false, false], [false, true], [true, false], [
  true,
  true,
]];
const tag = (c: Case, tA: boolean, tB: boolean) =>
  `${c.batch}x(${c.m}x${c.k})·(${c.k}x${c.n})${tA ? " tA" : ""}${tB ? " tB" : ""}` +
  `${c.bcast ? ` bcast ${c.bcast}` : ""}${c.bias ? " +bias" : ""}`;

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

const sw = (r: Runtime) => r.profile.matmul === "software";

function upload(r: Runtime, data: Float32Array): GpuBuffer {
  const buf = r.alloc(Math.max(16, data.byteLength));
  if (data.length) r.write(buf, data);
  return buf;
}

async function runGpu(r: Runtime, cases: Case[], label: string): Promise<void> {
  for (const c of cases) {
    for (const [tA, tB] of TRANSPOSES) {
      const { a, b, bias } = operands(c);
      const s = makeArgs(c, tA, tB);
      const ga = upload(r, a), gb = upload(r, b), gbias = bias && upload(r, bias);
      const gc = matmulGpu(r, ga, gb, s, gbias);
      // (a WebGPU error in the dispatches would throw here, naming the kernel)
      const got = new Float32Array(await r.read(gc, 4 * c.batch * c.m * c.n));
      // Against the f64 loop directly (the CPU kernel agrees with it to one rounding, see
      // above), so the whole tolerance is the GPU's.
      check(got, reference(a, b, s, bias), c.k, `${label} ${tag(c, tA, tB)}`);
      for (const x of [ga, gb, gc, ...(gbias ? [gbias] : [])]) r.release(x);
    }
  }
}

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
      assert.match(describeMatmul(rt!, args), /^split-k 8/); // slices of 512
      assert.doesNotMatch(describeMatmul(rt!, { ...args, transA: false }), /split/);
    }
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
