/**
 * The page's backend: WebGPU when the browser offers an adapter, else the CPU backend, with
 * a line for the page saying which and why. `?backend=cpu` forces the CPU.
 */
import type { Backend } from "../core/backend.ts";
import { cpuBackend, setBackend, webgpuBackend } from "../core/device_select.ts";
import { WebGpuBackend } from "../core/webgpu/backend.ts";

/**
 * Chrome's SwiftShader never finished compiling the software family's attention backward
 * (8 rows per invocation: > 3 min at dh = 8, Chromium 150); one row per invocation in tiles of 8
 * ran forward and backward in 0.6 s, compile included. The other kernels keep their profile.
 */
const SWIFTSHADER_ATTENTION = { wg: 8, rows: 1, tile: 8 };

export interface PageBackend {
  backend: Backend;
  gpu: boolean;
  /** What runs the kernels, as the CLI's first line says it. */
  adapter: string;
  /** The limits that matter to the engine's kernels, and what it uses of them. */
  limits: string[];
  /** Set when the CPU runs instead of WebGPU: why, for a visible notice. */
  notice?: string;
}

export async function pickBackend(forceCpu: boolean): Promise<PageBackend> {
  if (!forceCpu) {
    let gpu: WebGpuBackend | null = null, error = "";
    try {
      gpu = await webgpuBackend();
    } catch (e) {
      error = ` (${(e as Error).message})`;
    }
    if (gpu && /swiftshader/i.test(gpu.rt.ctx.adapterName)) {
      gpu = new WebGpuBackend(gpu.rt.withProfile({ attention: SWIFTSHADER_ATTENTION }));
    }
    if (gpu) {
      setBackend(gpu);
      const l = gpu.rt.ctx.limits;
      const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
      return {
        backend: gpu,
        gpu: true,
        adapter: `WebGPU adapter: ${gpu.description}` +
          (gpu.rt.profile.attention === SWIFTSHADER_ATTENTION
            ? "; attention tiled for SwiftShader"
            : ""),
        limits: [
          `storage buffers per shader stage: ${l.maxStorageBuffersPerShaderStage} ` +
          `(iclab's kernels use at most 8, WebGPU's default)`,
          `workgroup memory: ${l.maxComputeWorkgroupStorageSize / 1024} KiB ` +
          `(kernels use at most 16 KiB)`,
          `invocations per workgroup: ${l.maxComputeInvocationsPerWorkgroup} (kernels use ≤ 256)`,
          `largest binding: ${mib(l.maxStorageBufferBindingSize)}, largest buffer: ` +
          `${mib(l.maxBufferSize)} (bounds the model and batch size)`,
        ],
      };
    }
    const why = typeof navigator !== "undefined" && "gpu" in navigator
      ? `this browser exposes WebGPU but gave no adapter${error}`
      : "this browser has no WebGPU (navigator.gpu is missing)";
    return cpuResult(`${why}; training runs on iclab's CPU backend, which is much slower.`);
  }
  return cpuResult("CPU backend requested (?backend=cpu).");
}

function cpuResult(notice: string): PageBackend {
  return {
    backend: setBackend(cpuBackend()),
    gpu: false,
    adapter: "CPU backend (plain TypeScript, one thread)",
    limits: [],
    notice,
  };
}
