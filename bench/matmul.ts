/**
 * Batched matmul throughput on the WebGPU adapter at hand: square 128-2048 and the model's
 * batched shapes ("lin": a linear layer, 64 x (280x64)·(64x256) with B shared; "attn": scores of
 * 4 heads x batch 64 at d_head 16, 256 x (280x16)·(16x280), and the same with B stored
 * transposed as Q·Kᵀ reads it). Run directly to print a table: deno run -A bench/matmul.ts
 *
 * Each timing records many matmuls and syncs once, so the ~11 ms sync floor of Deno's WebGPU
 * is amortised over at least ~300 ms of work; the first call of each shape (pipeline creation
 * and llvmpipe's JIT) is timed separately and excluded. `--other` times the other kernel family
 * (the GPU family's tiles on llvmpipe), e.g. deno run -A bench/matmul.ts --other 512³ dW
 */
import type { MatmulArgs } from "../core/backend.ts";
import { describeMatmul, matmulGpu } from "../core/webgpu/kernels/matmul.ts";
import type { Runtime } from "../core/webgpu/runtime.ts";

export interface MatmulBenchRow {
  shape: string;
  batch: number;
  m: number;
  n: number;
  k: number;
  /** Median milliseconds per matmul. */
  ms: number;
  gflops: number;
  /** First call: pipeline creation and JIT included. */
  firstMs: number;
  variant: string;
}

interface Shape {
  shape: string;
  args: MatmulArgs;
}

function square(s: number): Shape {
  const args = { batch: 1, m: s, n: s, k: s, transA: false, transB: false };
  return { shape: `${s}³`, args: { ...args, aBatchStride: 0, bBatchStride: 0 } };
}

/** The benchmark shapes; `quick` drops 2048³ (seconds per call on llvmpipe). */
export function matmulBenchShapes(quick = false): Shape[] {
  const sizes = quick ? [128, 256, 512, 1024] : [128, 256, 512, 1024, 2048];
  const attn = (transB: boolean): Shape => ({
    shape: transB ? "attn Q·Kᵀ" : "attn",
    args: {
      batch: 256,
      m: 280,
      n: 280,
      k: 16,
      transA: false,
      transB,
      aBatchStride: 280 * 16,
      bBatchStride: 280 * 16,
    },
  });
  return [
    ...sizes.map(square),
    {
      shape: "lin",
      args: {
        batch: 64,
        m: 280,
        n: 256,
        k: 64,
        transA: false,
        transB: false,
        aBatchStride: 280 * 64,
        bBatchStride: 0,
      },
    },
    {
      // The MLP's down projection: a narrow output (n = 64 is two 32-wide blocks).
      shape: "lin→64",
      args: {
        batch: 64,
        m: 280,
        n: 64,
        k: 256,
        transA: false,
        transB: true,
        aBatchStride: 280 * 256,
        bBatchStride: 0,
      },
    },
    {
      // Its weight gradient dYᵀ·X: a long reduction over the 17,920 tokens.
      shape: "dW",
      args: {
        batch: 1,
        m: 64,
        n: 256,
        k: 17920,
        transA: true,
        transB: false,
        aBatchStride: 0,
        bBatchStride: 0,
      },
    },
    attn(false),
    attn(true),
  ];
}

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Time every shape; median of 5 trials (3 when quick). */
export async function benchMatmul(
  rt: Runtime,
  quick = false,
  only?: (shape: string) => boolean,
): Promise<MatmulBenchRow[]> {
  const rows: MatmulBenchRow[] = [];
  for (const { shape, args } of matmulBenchShapes(quick).filter((s) => !only || only(s.shape))) {
    const { batch, m, n, k } = args;
    const aLen = (args.aBatchStride ? batch : 1) * m * k;
    const bLen = (args.bBatchStride ? batch : 1) * k * n;
    const a = rt.alloc(4 * aLen), b = rt.alloc(4 * bLen);
    rt.write(a, random(aLen, 1));
    rt.write(b, random(bLen, 2));
    await rt.sync();
    let t0 = performance.now();
    rt.release(matmulGpu(rt, a, b, args));
    await rt.sync();
    const firstMs = performance.now() - t0;
    // Calibrate: enough calls per trial for ~300 ms (150 when quick) of device work.
    t0 = performance.now();
    for (let i = 0; i < 2; i++) rt.release(matmulGpu(rt, a, b, args));
    await rt.sync();
    const est = Math.max(0.05, (performance.now() - t0 - 11) / 2);
    const calls = Math.max(2, Math.min(500, Math.round((quick ? 150 : 300) / est)));
    const trials: number[] = [];
    for (let t = 0; t < (quick ? 3 : 5); t++) {
      t0 = performance.now();
      for (let i = 0; i < calls; i++) {
        rt.release(matmulGpu(rt, a, b, args));
        // A released output is reusable only after a flush; flushing every few calls keeps the
        // pool from handing out (and page-faulting) fresh buffers for every call.
        if (i % 8 === 7) rt.flush();
      }
      await rt.sync();
      trials.push((performance.now() - t0) / calls);
    }
    rt.release(a);
    rt.release(b);
    rt.flush();
    const ms = median(trials);
    rows.push({
      shape,
      batch,
      m,
      n,
      k,
      ms: +ms.toFixed(3),
      gflops: +((2 * batch * m * n * k) / ms / 1e6).toFixed(1),
      firstMs: Math.round(firstMs),
      variant: describeMatmul(rt, args),
    });
  }
  return rows;
}

if (import.meta.main) {
  const { gpuContext } = await import("../core/webgpu/device.ts");
  const { Runtime } = await import("../core/webgpu/runtime.ts");
  const { otherFamily } = await import("../core/webgpu/profile.ts");
  const ctx = await gpuContext();
  if (!ctx) {
    console.error("bench/matmul: no WebGPU adapter");
    Deno.exit(1);
  }
  const names = Deno.args.filter((a) => !a.startsWith("--"));
  const rt = new Runtime(
    ctx,
    Deno.args.includes("--other") ? otherFamily(ctx.profile) : ctx.profile,
  );
  const rows = await benchMatmul(
    rt,
    Deno.args.includes("--quick"),
    names.length ? (s) => names.includes(s) : undefined,
  );
  console.log(`adapter: ${ctx.description}; timed: ${rt.profile.family} kernels`);
  console.log("| shape | batch | m | n | k | ms | GFLOP/s | first call ms | variant |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.shape} | ${r.batch} | ${r.m} | ${r.n} | ${r.k} | ${r.ms} | ${r.gflops} | ` +
        `${r.firstMs} | ${r.variant} |`,
    );
  }
}
