/** Deno WebGPU fixed costs: per-dispatch time in one encoder, and a readback round trip. */
import type { Runtime } from "../core/webgpu/runtime.ts";

const TINY = {
  name: "bench_tiny",
  wgsl: `
struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < u.n) { out[g.x] = out[g.x] + 1.0; }
}`,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchOverhead(
  rt: Runtime,
): Promise<{ dispatchUs: number; readbackMs: number }> {
  const buf = rt.alloc(256);
  const run = async (count: number) => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) rt.dispatch(TINY, { out: buf }, { n: 64 }, [1]);
    await rt.sync();
    return performance.now() - t0;
  };
  await run(10);
  const small: number[] = [], large: number[] = [];
  for (let i = 0; i < 3; i++) {
    small.push(await run(100));
    large.push(await run(1000));
  }
  // The slope between 100 and 1000 dispatches excludes the fixed sync cost.
  const dispatchUs = ((median(large) - median(small)) / 900) * 1000;
  const reads: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await rt.read(buf, 16);
    reads.push(performance.now() - t0);
  }
  rt.release(buf);
  return { dispatchUs, readbackMs: median(reads) };
}
