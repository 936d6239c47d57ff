/**
 * Selective scan: the CPU f64 scan against an independent naive implementation and against
 * finite differences; every WebGPU variant against the CPU scan (forward and all gradients) on
 * shapes that are not multiples of any tile (channels vs 32/64-wide workgroups, length vs the
 * 16-step chunk and the 8-chunk scan group); and the saved/temporary memory against what a
 * materialised [B, L, D, N] tensor would cost.
 */
import assert from "node:assert/strict";
import type { ScanArgs } from "../core/backend.ts";
import {
  joinBC,
  type ScanArrays,
  type ScanGradArrays,
  selectiveScanCpu,
  selectiveScanF64,
  selectiveScanGradCpu,
} from "../core/cpu/scan.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import {
  type ScanGpuInputs,
  selectiveScanGpu,
  selectiveScanGradGpu,
} from "../core/webgpu/kernels/scan.ts";
import { limited, otherBrief, rt } from "./gpu_runtimes.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** Random inputs in a trained Mamba's ranges; one δ is pushed past softplus's threshold of 20. */
function makeInputs(a: ScanArgs, seed: number): ScanArrays {
  const r = rng(seed);
  const f = (n: number, scale: number, shift = 0) =>
    Float32Array.from({ length: n }, () => r() * scale + shift);
  const bld = a.batch * a.length * a.channels;
  const bln = a.batch * a.length * a.state;
  const delta = f(bld, 2, -1);
  delta[Math.floor(bld / 3)] = 24; // linear branch of softplus
  return {
    x: f(bld, 1),
    delta,
    deltaBias: f(a.channels, 0.5),
    A: f(a.channels * a.state, 2, -2.5), // in (-4.5, -0.5)
    Bm: f(bln, 1),
    Cm: f(bln, 1),
    Dskip: f(a.channels, 1),
    z: a.hasZ ? f(bld, 2) : undefined,
  };
}

/** Textbook scan: materialises Δ and h [B, L, D, N] (fine at test sizes). */
function naiveScan(inp: ScanArrays, a: ScanArgs): Float64Array {
  const { batch: B, length: L, channels: D, state: N } = a;
  const sp = (v: number) => (v > 20 ? v : Math.log(1 + Math.exp(v)));
  const h = new Float64Array(B * L * D * N);
  const out = new Float64Array(B * L * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      for (let d = 0; d < D; d++) {
        const i = (b * L + t) * D + d;
        const dt = sp(inp.delta[i] + inp.deltaBias[d]);
        let y = inp.Dskip[d] * inp.x[i];
        for (let n = 0; n < N; n++) {
          const prev = t === 0 ? 0 : h[((b * L + t - 1) * D + d) * N + n];
          const cur = Math.exp(dt * inp.A[d * N + n]) * prev +
            dt * inp.Bm[(b * L + t) * N + n] * inp.x[i];
          h[((b * L + t) * D + d) * N + n] = cur;
          y += inp.Cm[(b * L + t) * N + n] * cur;
        }
        out[i] = inp.z ? y * inp.z[i] / (1 + Math.exp(-inp.z[i])) : y;
      }
    }
  }
  return out;
}

/** max |got − want| / max(1, max |want|): one scale per tensor, so tiny entries don't dominate. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0, scale = 1;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

const GRAD_KEYS = ["dx", "dDelta", "dDeltaBias", "dA", "dBm", "dCm", "dDskip", "dz"] as const;
const INPUT_OF = {
  dx: "x",
  dDelta: "delta",
  dDeltaBias: "deltaBias",
  dA: "A",
  dBm: "Bm",
  dCm: "Cm",
  dDskip: "Dskip",
  dz: "z",
} as const;

for (const hasZ of [true, false]) {
  Deno.test(`scan cpu: matches the naive scan (hasZ=${hasZ})`, () => {
    for (const [B, L, D, N] of [[2, 37, 5, 3], [1, 70, 4, 16], [3, 1, 2, 1]]) {
      const a: ScanArgs = { batch: B, length: L, channels: D, state: N, hasZ };
      const inp = makeInputs(a, 11 + L);
      // both sides are f64 up to the final rounding of out to f32 (relative 6e-8)
      assert.ok(relErr(selectiveScanCpu(inp, a).out, naiveScan(inp, a)) < 1e-6);
    }
  });

  Deno.test(`scan cpu: every gradient matches central differences (hasZ=${hasZ})`, () => {
    // [1, 70, 2, 2] crosses the backward's 32-step recompute checkpoints twice
    for (const [B, L, D, N] of [[2, 5, 3, 4], [1, 70, 2, 2]]) {
      const a: ScanArgs = { batch: B, length: L, channels: D, state: N, hasZ };
      const inp = makeInputs(a, 3 + L);
      const w = Float64Array.from({ length: B * L * D }, rng(99));
      const grads = selectiveScanGradCpu(inp, [], Float32Array.from(w), a);
      const f64 = Object.fromEntries(
        Object.entries(inp).filter(([, v]) => v).map(([k, v]) => [k, Float64Array.from(v!)]),
      ) as unknown as ScanArrays<Float64Array>;
      const loss = () => selectiveScanF64(f64, a).reduce((s, o, i) => s + o * w[i], 0);
      for (const key of GRAD_KEYS) {
        if (key === "dz" && !hasZ) continue;
        const arr = f64[INPUT_OF[key]]!;
        const an = grads[key]!;
        assert.equal(an.length, arr.length, key);
        for (let i = 0; i < arr.length; i++) {
          // f64 central differences: truncation O(h²·f''') ≈ 1e-10, cancellation ≈ 1e-16/h;
          // the analytic gradient was rounded to f32 (relative 6e-8). 1e-6 + 1e-5·|g| leaves
          // two orders of margin and still catches any wrong term (errors of order |g|).
          const h = 1e-5;
          const v = arr[i];
          arr[i] = v + h;
          const lp = loss();
          arr[i] = v - h;
          const lm = loss();
          arr[i] = v;
          const fd = (lp - lm) / (2 * h);
          assert.ok(
            Math.abs(fd - an[i]) <= 1e-6 + 1e-5 * Math.abs(fd),
            `${key}[${i}] (L=${L}): analytic ${an[i]} vs numeric ${fd}`,
          );
        }
      }
    }
  });
}

/** The GPU's gradients (dB and dC come as one dBC, laid out like BC). */
const GPU_GRAD_KEYS = ["dx", "dDelta", "dDeltaBias", "dA", "dBC", "dDskip", "dz"] as const;

function wantGrad(cg: ScanGradArrays, key: typeof GPU_GRAD_KEYS[number], N: number) {
  return key === "dBC" ? joinBC(cg.dBm, cg.dCm, N) : cg[key];
}

function upload(r: Runtime, a: Float32Array): GpuBuffer {
  const b = r.alloc(a.byteLength);
  r.write(b, a);
  return b;
}

function uploadInputs(r: Runtime, inp: ScanArrays): ScanGpuInputs {
  const u = (a: Float32Array) => upload(r, a);
  return {
    x: u(inp.x),
    delta: u(inp.delta),
    deltaBias: u(inp.deltaBias),
    A: u(inp.A),
    BC: u(joinBC(inp.Bm, inp.Cm, inp.A.length / inp.deltaBias.length)),
    Dskip: u(inp.Dskip),
    z: inp.z ? u(inp.z) : undefined,
  };
}

async function read(r: Runtime, b: GpuBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await r.read(b, n * 4));
}

// B, L, D, N, hasZ. D = 5, 33, 70, 130 straddle the 32- and 64-channel workgroups (and the dB/dC
// kernel's 64 threads over channels: 130 = 2·64 + 2); 68 and 132 (multiples of 4, so the
// sequential kernels' vec4 channel words) leave a workgroup of 32 × 4 channels partly idle. L = 1
// is a single partial chunk, 37/202 end mid-chunk, 1025 = 64·16 + 1 spans nine 8-chunk scan
// groups with a one-step tail. N = 3 pads to one 4-state group, 16 is the training size (vec4
// loads); 4 and 12 are one and three whole groups (dB/dC's software invocations own 1 and 3).
const GPU_CASES: [number, number, number, number, boolean][] = [
  [2, 37, 5, 3, true],
  [3, 1, 70, 3, false],
  [2, 202, 7, 16, true],
  [1, 1025, 33, 3, true],
  [2, 45, 130, 12, false],
  [3, 19, 68, 4, true],
  [2, 21, 132, 16, false],
];

// Both variants on the process device, and both within WebGPU's default limits.
const variants = [
  ["sequential", rt],
  ["chunked", rt],
  ["sequential, default limits", limited],
  ["chunked, default limits", limited],
] as const;
for (const [label, r0] of variants) {
  Deno.test({
    name: `scan webgpu ${label}: forward and all gradients match the CPU scan`,
    ignore: !r0,
    fn: async () => {
      const variant = label.startsWith("chunked") ? "chunked" : "sequential";
      const r = r0!.withProfile({ scan: variant });
      // (otherBrief: the GPU variant once, on one shape with a tail chunk; see gpu_runtimes.ts)
      const brief = variant === "chunked" && otherBrief;
      if (brief && r0 === rt) return;
      for (const [B, L, D, N, hasZ] of brief ? [GPU_CASES[2]] : GPU_CASES) {
        const a: ScanArgs = { batch: B, length: L, channels: D, state: N, hasZ };
        const inp = makeInputs(a, 7 * L + D);
        const dout = Float32Array.from({ length: B * L * D }, rng(5));
        const cpu = selectiveScanCpu(inp, a);
        const cg = selectiveScanGradCpu(inp, [], dout, a);
        const g = uploadInputs(r, inp);
        const gDout = upload(r, dout);
        const { out, saved } = selectiveScanGpu(r, g, a);
        const gg = selectiveScanGradGpu(r, g, saved, gDout, a);
        const tag = `${variant} [${B},${L},${D},${N}] z=${hasZ}`;
        // f32 vs f64: states are convex combinations (exp(ΔA) ≤ 1) so errors stay near the
        // unit roundoff; the longest sums (dA, dD, dbias over B·L ≤ 2050 terms; dB, dC over
        // D ≤ 70) give at most ~1e-5 relative. 1e-4 of the tensor's scale keeps a margin while
        // any indexing or chunk-boundary bug shows up as an O(1) error.
        const tol = 1e-4;
        const e = relErr(await read(r, out, B * L * D), cpu.out);
        assert.ok(e < tol, `${tag} out: ${e}`);
        for (const key of GPU_GRAD_KEYS) {
          const want = wantGrad(cg, key, N);
          if (!want) {
            assert.equal(gg[key], undefined);
            continue;
          }
          const err = relErr(await read(r, gg[key]!, want.length), want);
          assert.ok(err < tol, `${tag} ${key}: ${err}`);
        }
        const all = [...Object.values(g), gDout, out, ...saved, ...Object.values(gg)];
        for (const b of all) if (b) r.release(b as GpuBuffer);
        r.flush();
      }
    },
  });
}

// Every sum (dB, dC over channels; dA, dD, dbias over rows) has a fixed order: two runs of the
// backward give the same bits, in both variants.
for (const variant of ["sequential", "chunked"] as const) {
  Deno.test({
    name: `scan webgpu ${variant}: the backward is deterministic (two runs, same bits)`,
    ignore: !rt || (variant === "chunked" && otherBrief),
    fn: async () => {
      const r = rt!.withProfile({ scan: variant });
      const a: ScanArgs = { batch: 2, length: 45, channels: 132, state: 16, hasZ: true };
      const inp = makeInputs(a, 17);
      const g = uploadInputs(r, inp);
      const gDout = upload(r, Float32Array.from({ length: 2 * 45 * 132 }, rng(8)));
      const runs: Float32Array[][] = [];
      for (let run = 0; run < 2; run++) {
        const { out, saved } = selectiveScanGpu(r, g, a);
        const gg = selectiveScanGradGpu(r, g, saved, gDout, a);
        const bld = 2 * 45 * 132;
        const sizes = [bld, bld, 132, 132 * 16, 2 * 45 * 32, 132, bld]; // GPU_GRAD_KEYS' order
        runs.push(await Promise.all(GPU_GRAD_KEYS.map((k, i) => read(r, gg[k]!, sizes[i]))));
        for (const b of [out, ...saved, ...Object.values(gg) as GpuBuffer[]]) r.release(b);
        r.flush();
      }
      runs[0].forEach((x, i) => assert.deepEqual(x, runs[1][i], `${variant} gradient ${i}`));
      for (const b of [...Object.values(g), gDout]) if (b) r.release(b as GpuBuffer);
    },
  });
}

Deno.test({
  name:
    "scan webgpu: memory does not grow like a materialised [B, L, D, N] tensor (N = 64 checked)",
  ignore: !rt,
  fn: async () => {
    const r = rt!;
    const [B, L, D] = [2, 256, 64];
    const growth: number[] = [];
    // N = 16 reuses the pipelines compiled above; N = 64 is the largest d_state supported, so
    // its results are checked against the CPU scan here too (default variant).
    for (const N of [16, 64]) {
      const a: ScanArgs = { batch: B, length: L, channels: D, state: N, hasZ: true };
      const inp = makeInputs(a, 1);
      const g = uploadInputs(r, inp);
      const dout = upload(r, inp.x);
      r.flush();
      r.trim(); // empty pool: from here every allocation is new memory
      const before = r.bytesAllocated;
      const { out, saved } = selectiveScanGpu(r, g, a);
      const materialised = B * L * D * N * 4;
      const savedBytes = saved.reduce((s, b) => s + b.bytes, 0);
      // one state per 16-step chunk; the pool may round a buffer up to twice its size
      assert.ok(savedBytes <= materialised / 8, `N=${N}: saved ${savedBytes} B`);
      const gg = selectiveScanGradGpu(r, g, saved, dout, a);
      await read(r, gg.dA, 1);
      growth.push(r.bytesAllocated - before);
      if (N === 64) {
        const cg = selectiveScanGradCpu(inp, [], inp.x, a);
        // same tolerance and reasoning as the variant tests above
        assert.ok(relErr(await read(r, out, B * L * D), selectiveScanCpu(inp, a).out) < 1e-4);
        for (const key of GPU_GRAD_KEYS) {
          const want = wantGrad(cg, key, N)!;
          const err = relErr(await read(r, gg[key]!, want.length), want);
          assert.ok(err < 1e-4, `N=64 ${key}: ${err}`);
        }
      }
      for (const b of [...Object.values(g), dout, out, ...saved, ...Object.values(gg)]) {
        if (b) r.release(b as GpuBuffer);
      }
      r.flush();
    }
    // N 16 → 64 adds B·L·D·48·4 = 6.3 MB to one materialised tensor; the scan's forward and
    // backward together (saved states, adjoints, dB, dC: 1.2 MB more, exactly) must add less
    // than a third of that, allowing for the pool's power-of-two size classes (up to 2×).
    const materialisedDiff = B * L * D * 48 * 4;
    assert.ok(
      growth[1] - growth[0] < materialisedDiff / 3,
      `growth ${growth.join(" → ")} B vs ${materialisedDiff} B`,
    );
  },
});
