/**
 * Fused causal attention, forward and forward+backward, WebGPU kernels against the CPU reference
 * at the model's shapes. Run directly to print a table:
 *   deno run -A bench/attention.ts [--variants] [--no-cpu]
 * FLOP counts are the useful ones of the causal problem: T(T+1)/2 score pairs per head, 4·dh
 * FLOP each forward (QKᵀ and PV), 10·dh backward (recomputed QKᵀ, dP, dV, dQ, dK), the
 * conventional FlashAttention accounting; the kernels also recompute QKᵀ and dP a second time.
 */
import type { AttentionArgs } from "../core/backend.ts";
import { attentionCpu, attentionGradCpu } from "../core/cpu/attention.ts";
import {
  attentionGpu,
  attentionGradGpu,
  attentionTiling,
} from "../core/webgpu/kernels/attention.ts";
import { otherFamily } from "../core/webgpu/profile.ts";
import type { GpuBuffer, Runtime } from "../core/webgpu/runtime.ts";

export interface AttentionBenchRow {
  shape: string;
  impl: string;
  fwdMs: number;
  fwdBwdMs: number;
  fwdGflops: number;
  fwdBwdGflops: number;
}

export interface AttentionBenchOptions {
  /** Also time the GPU variant not chosen by default for this adapter. */
  allVariants?: boolean;
  /** Time the CPU reference (several seconds per shape). Default true. */
  cpu?: boolean;
  /** GPU trials per timing (median reported), each ≥ 300 ms of steps. Default 3. */
  reps?: number;
}

/** (batch, heads, T, dh) of the Transformer runs: d256 h8 and d64 h4 at 280 tokens. */
export const ATTENTION_SHAPES: readonly [number, number, number, number][] = [
  [64, 8, 280, 32],
  [64, 4, 280, 16],
];

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

/** Time fwd and fwd+bwd at each shape; returns one row per implementation and shape. */
export async function benchAttention(
  rt: Runtime,
  opts: AttentionBenchOptions = {},
): Promise<AttentionBenchRow[]> {
  const reps = opts.reps ?? 3;
  const rows: AttentionBenchRow[] = [];
  const other = otherFamily(rt.profile);
  const variants: [string, Runtime][] = [[rt.profile.family, rt]];
  if (opts.allVariants) {
    variants.push([other.family, rt.withProfile({ attention: other.attention })]);
  }
  for (const [batch, heads, T, dh] of ATTENTION_SHAPES) {
    const args: AttentionArgs = { batch, heads, length: T, headDim: dh, scale: 1 / Math.sqrt(dh) };
    const n = batch * heads * T * dh;
    const pairs = (batch * heads * T * (T + 1)) / 2;
    const fwdFlop = 4 * dh * pairs, bwdFlop = 10 * dh * pairs;
    const shape = `B${batch} H${heads} T${T} dh${dh}`;
    const q = random(n, 1), k = random(n, 2), v = random(n, 3), dO = random(n, 4);
    const row = (impl: string, fwdMs: number, fwdBwdMs: number): AttentionBenchRow => ({
      shape,
      impl,
      fwdMs,
      fwdBwdMs,
      fwdGflops: fwdFlop / fwdMs / 1e6,
      fwdBwdGflops: (fwdFlop + bwdFlop) / fwdBwdMs / 1e6,
    });

    const up = (a: Float32Array) => {
      const b = rt.alloc(a.byteLength);
      rt.write(b, a);
      return b;
    };
    const [qg, kg, vg, dOg] = [q, k, v, dO].map(up);
    for (const [family, r] of variants) {
      const t = attentionTiling(r, dh, T);
      const variant = `${family} (${t.rows} rows × ${t.wg}, ${t.tile}-row tiles)`;
      const step = (bwd: boolean) => {
        const { o, lse } = attentionGpu(r, qg, kg, vg, args);
        const out: GpuBuffer[] = [o, lse];
        if (bwd) {
          const g = attentionGradGpu(r, qg, kg, vg, o, lse, dOg, args);
          out.push(g.dq, g.dk, g.dv);
        }
        for (const b of out) rt.release(b);
      };
      const time = async (bwd: boolean) => {
        step(bwd); // warm-up: pipeline creation and llvmpipe's JIT
        await rt.sync();
        const t0 = performance.now();
        step(bwd);
        await rt.sync();
        // Enough steps per sync that Deno's ~11 ms sync floor is amortised on fast devices.
        const steps = Math.min(200, Math.ceil(300 / (performance.now() - t0)));
        const ts: number[] = [];
        for (let r = 0; r < reps; r++) {
          const t1 = performance.now();
          for (let i = 0; i < steps; i++) step(bwd);
          await rt.sync();
          ts.push((performance.now() - t1) / steps);
        }
        return median(ts);
      };
      rows.push(row(`webgpu ${variant}`, await time(false), await time(true)));
    }
    for (const b of [qg, kg, vg, dOg]) rt.release(b);
    rt.flush();

    if (opts.cpu ?? true) {
      const t0 = performance.now();
      const { o, lse } = attentionCpu(q, k, v, args);
      const t1 = performance.now();
      attentionGradCpu(q, k, v, o, lse, dO, args);
      const t2 = performance.now();
      rows.push(row("cpu reference", t1 - t0, t2 - t0));
    }
  }
  return rows;
}

if (import.meta.main) {
  const { gpuContext } = await import("../core/webgpu/device.ts");
  const { Runtime } = await import("../core/webgpu/runtime.ts");
  const ctx = await gpuContext();
  if (!ctx) {
    console.error("no WebGPU adapter");
    Deno.exit(1);
  }
  console.log(`device: ${ctx.description}`);
  const rows = await benchAttention(new Runtime(ctx), {
    allVariants: Deno.args.includes("--variants"),
    cpu: !Deno.args.includes("--no-cpu"),
  });
  console.log("| shape | impl | fwd ms | fwd GFLOP/s | fwd+bwd ms | fwd+bwd GFLOP/s |");
  console.log("| --- | --- | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    console.log(
      `| ${r.shape} | ${r.impl} | ${r.fwdMs.toFixed(1)} | ${r.fwdGflops.toFixed(2)} | ` +
        `${r.fwdBwdMs.toFixed(1)} | ${r.fwdBwdGflops.toFixed(2)} |`,
    );
  }
}
