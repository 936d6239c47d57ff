/**
 * Per-kernel GPU time from timestamp queries: each dispatch runs in its own pass with
 * begin/end timestamps. Profiling changes what it measures a little (one pass per dispatch),
 * so use it to find hot kernels, and the benchmarks to measure steps.
 */
import type { Runtime } from "./runtime.ts";

const CAPACITY = 4096; // queries per set: 2048 dispatches between reports

export class KernelProfiler {
  private querySet: GPUQuerySet;
  private resolveBuf: GPUBuffer;
  private names: string[] = [];
  private totals = new Map<string, { ms: number; count: number }>();

  constructor(private readonly rt: Runtime) {
    if (!rt.device.features.has("timestamp-query")) {
      throw new Error("profiler: this adapter has no timestamp-query feature");
    }
    this.querySet = rt.device.createQuerySet({ type: "timestamp", count: CAPACITY });
    this.resolveBuf = rt.device.createBuffer({
      size: CAPACITY * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  pass(rt: Runtime, name: string): GPUComputePassEncoder {
    if (this.names.length * 2 >= CAPACITY) throw new Error("profiler: call collect() more often");
    const i = this.names.length * 2;
    this.names.push(name);
    return rt.encoderForPass().beginComputePass({
      timestampWrites: {
        querySet: this.querySet,
        beginningOfPassWriteIndex: i,
        endOfPassWriteIndex: i + 1,
      },
    });
  }

  /** Read the timestamps recorded so far and add them to the totals. */
  async collect(): Promise<void> {
    const n = this.names.length * 2;
    if (!n) return;
    const enc = this.rt.encoderForPass();
    enc.resolveQuerySet(this.querySet, 0, n, this.resolveBuf, 0);
    const tmp = this.rt.alloc(n * 8);
    this.rt.copyBuffer(
      { buffer: this.resolveBuf, bytes: n * 8, offset: 0, id: -1 },
      0,
      tmp,
      0,
      n * 8,
    );
    const ticks = new BigInt64Array(await this.rt.read(tmp, n * 8));
    this.rt.release(tmp);
    this.names.forEach((name, k) => {
      const ms = Number(ticks[2 * k + 1] - ticks[2 * k]) / 1e6;
      const t = this.totals.get(name) ?? { ms: 0, count: 0 };
      t.ms += ms;
      t.count++;
      this.totals.set(name, t);
    });
    this.names = [];
  }

  /** Kernels by total time, largest first. */
  report(): { kernel: string; ms: number; count: number }[] {
    return [...this.totals.entries()].map(([kernel, t]) => ({ kernel, ...t })).sort((a, b) =>
      b.ms - a.ms
    );
  }
}
