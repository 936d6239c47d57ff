/**
 * Selective-scan timings: forward and backward for each WebGPU variant and the CPU sequential
 * scan, at exp:parity's quick shape (32, 80, 128, 16), the parity-training shape (64, 280, 128,
 * 16) and a long one (8, 1024, 512, 16).
 * GPU times are medians over a few runs after a warm-up (which pays the pipeline JIT), each
 * measured to `rt.sync()`, so they include Deno's ~11 ms sync floor once per number.
 *
 *   deno run -A bench/scan.ts [--quick]
 */
import type { ScanArgs } from "../core/backend.ts";
import {
  joinBC,
  type ScanArrays,
  selectiveScanCpu,
  selectiveScanGradCpu,
} from "../core/cpu/scan.ts";
import { gpuContext } from "../core/webgpu/device.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";
import type { AdapterProfile } from "../core/webgpu/profile.ts";
import {
  type ScanGpuInputs,
  selectiveScanGpu,
  selectiveScanGradGpu,
} from "../core/webgpu/kernels/scan.ts";

export interface ScanTiming {
  shape: string;
  variant: string;
  fwdMs: number;
  bwdMs: number;
}

const SHAPES: [number, number, number, number][] = [
  [32, 80, 128, 16],
  [64, 280, 128, 16],
  [8, 1024, 512, 16],
];

/** Deterministic inputs in the ranges a trained Mamba sees (Δ ~ 0.05..1.3, A = -(1..N)). */
function inputs(a: ScanArgs): ScanArrays {
  let s = 12345;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const f = (n: number, scale: number, shift = 0) =>
    Float32Array.from({ length: n }, () => r() * scale + shift);
  const bld = a.batch * a.length * a.channels, bln = a.batch * a.length * a.state;
  const A = new Float32Array(a.channels * a.state);
  for (let i = 0; i < A.length; i++) A[i] = -(1 + (i % a.state));
  return {
    x: f(bld, 1),
    delta: f(bld, 2, -1),
    deltaBias: f(a.channels, 0.5),
    A,
    Bm: f(bln, 1),
    Cm: f(bln, 1),
    Dskip: f(a.channels, 1),
    z: f(bld, 2),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeGpu(
  rt: Runtime,
  a: ScanArgs,
  host: ScanArrays,
  reps: number,
): Promise<{ fwdMs: number; bwdMs: number }> {
  const up = (x: Float32Array) => {
    const b = rt.alloc(x.byteLength);
    rt.write(b, x);
    return b;
  };
  const inp: ScanGpuInputs = {
    x: up(host.x),
    delta: up(host.delta),
    deltaBias: up(host.deltaBias),
    A: up(host.A),
    BC: up(joinBC(host.Bm, host.Cm, a.state)),
    Dskip: up(host.Dskip),
    z: up(host.z!),
  };
  const dout = up(host.x);
  const fwd: number[] = [], bwd: number[] = [];
  for (let i = 0; i <= reps; i++) {
    await rt.sync();
    const t0 = performance.now();
    const { out, saved } = selectiveScanGpu(rt, inp, a);
    await rt.sync();
    const t1 = performance.now();
    const g = selectiveScanGradGpu(rt, inp, saved, dout, a);
    await rt.sync();
    const t2 = performance.now();
    if (i > 0) {
      fwd.push(t1 - t0);
      bwd.push(t2 - t1);
    }
    for (const b of [out, ...saved, ...Object.values(g) as GpuBuffer[]]) rt.release(b);
  }
  for (const b of [...Object.values(inp) as GpuBuffer[], dout]) rt.release(b);
  rt.flush();
  return { fwdMs: median(fwd), bwdMs: median(bwd) };
}

/** Times every variant at the benchmark shapes; `quick` runs one GPU repetition and no CPU. */
export async function benchScan(rt: Runtime, quick = false): Promise<ScanTiming[]> {
  const rows: ScanTiming[] = [];
  for (const [B, L, D, N] of SHAPES) {
    const a: ScanArgs = { batch: B, length: L, channels: D, state: N, hasZ: true };
    const shape = `${B}x${L}x${D}x${N}`;
    const host = inputs(a);
    for (const scan of ["sequential", "chunked"] as AdapterProfile["scan"][]) {
      const t = await timeGpu(rt.withProfile({ scan }), a, host, quick ? 1 : 3);
      rows.push({ shape, variant: `webgpu-${scan}`, ...t });
    }
    if (!quick) {
      const t0 = performance.now();
      const { out, saved } = selectiveScanCpu(host, a);
      const t1 = performance.now();
      selectiveScanGradCpu(host, saved, out, a);
      const t2 = performance.now();
      rows.push({ shape, variant: "cpu-f64", fwdMs: t1 - t0, bwdMs: t2 - t1 });
    }
  }
  return rows;
}

if (import.meta.main) {
  const ctx = await gpuContext();
  if (!ctx) {
    console.log("no WebGPU adapter");
    Deno.exit(0);
  }
  const { Runtime } = await import("../core/webgpu/runtime.ts");
  const rt = new Runtime(ctx);
  console.log(`adapter: ${ctx.description}`);
  const rows = await benchScan(rt, Deno.args.includes("--quick"));
  console.log("| shape (B×L×D×N) | variant | fwd ms | bwd ms |");
  console.log("| --- | --- | ---: | ---: |");
  for (const r of rows) {
    console.log(`| ${r.shape} | ${r.variant} | ${r.fwdMs.toFixed(1)} | ${r.bwdMs.toFixed(1)} |`);
  }
}
