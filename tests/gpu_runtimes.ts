/**
 * The WebGPU runtimes the kernel tests run on, so every kernel is checked against the CPU in
 * both kernel families and within WebGPU's default limits (what browsers and many GPUs grant):
 * - `rt`: the process-wide device (gpuContext) with the adapter's own profile;
 * - `limited`: a second device, requested with no limits at all, same profile;
 * - `other`: the default-limits device driven with the other kernel family (GPU shapes on
 *   llvmpipe, software shapes on a GPU).
 * All null without an adapter (GPU tests skip, never fail, there).
 */
import { createGpuContext, gpuContext } from "../core/webgpu/device.ts";
import { otherFamily } from "../core/webgpu/profile.ts";
import { Runtime } from "../core/webgpu/runtime.ts";

const ctx = await gpuContext();
const limitedCtx = ctx ? await createGpuContext("default") : null;

export const rt = ctx ? new Runtime(ctx) : null;
export const limited = limitedCtx ? new Runtime(limitedCtx) : null;
export const other = limitedCtx ? new Runtime(limitedCtx, otherFamily(limitedCtx.profile)) : null;

/**
 * Mesa's OpenGL llvmpipe compiles the GPU family's kernels (workgroup barriers, shared tiles)
 * 10–50× slower than lavapipe (measured cold: the chunked scan backward 60 s against 3.8 s, the
 * GPU family's tests 20+ minutes) and never runs them outside tests. There the other family
 * checks one instance of each kernel template instead of every shape; the Vulkan run (CI runs
 * both) checks them all.
 */
export const otherBrief = !!other && other.ctx.api === "OpenGL" && other.ctx.software;

/** [label, runtime] for each of the three, in the order above (empty without an adapter). */
export function gpuRuntimes(): [string, Runtime][] {
  if (!rt || !limited || !other) return [];
  return [
    [`${rt.profile.family} kernels`, rt],
    [`${limited.profile.family} kernels, default limits`, limited],
    [`${other.profile.family} kernels, default limits`, other],
  ];
}

/**
 * One Deno test per runtime: `fn(rt, quick)` gets quick = true on the two extra runtimes, where
 * a test may check fewer cases to keep the suite short.
 */
export function gpuTests(name: string, fn: (rt: Runtime, quick: boolean) => Promise<void>): void {
  const runtimes = gpuRuntimes();
  if (runtimes.length === 0) {
    Deno.test({ name, ignore: true, fn: () => {} });
    return;
  }
  runtimes.forEach(([label, r], i) => {
    Deno.test({ name: i === 0 ? name : `${name} [${label}]`, fn: () => fn(r, i > 0) });
  });
}
