/**
 * Which backend new tensors go to. `initBackend("auto")` prefers WebGPU and falls back to the
 * CPU with one clear line; `"webgpu"` refuses to fall back.
 */
import type { Backend } from "./backend.ts";
import { CpuBackend } from "./cpu/backend.ts";
import { gpuContext } from "./webgpu/device.ts";
import type { WebGpuBackend } from "./webgpu/backend.ts";

let current: Backend | null = null;
let cpuSingleton: CpuBackend | null = null;
let gpuSingleton: WebGpuBackend | null = null;

export type BackendKind = "auto" | "webgpu" | "cpu";

export function cpuBackend(): CpuBackend {
  return cpuSingleton ??= new CpuBackend();
}

/** The WebGPU backend, or null when no adapter exists. */
export async function webgpuBackend(): Promise<WebGpuBackend | null> {
  if (gpuSingleton) return gpuSingleton;
  const ctx = await gpuContext();
  if (!ctx) return null;
  // Loaded on demand so CPU-only programs never compile the WGSL kernel modules.
  const { WebGpuBackend } = await import("./webgpu/backend.ts");
  return gpuSingleton = new WebGpuBackend(ctx);
}

/** Choose and install the default backend. */
export async function initBackend(kind: BackendKind = "auto", quiet = false): Promise<Backend> {
  if (kind === "cpu") return setBackend(cpuBackend());
  const gpu = await webgpuBackend();
  if (gpu) {
    if (!quiet) console.error(`iclab: WebGPU adapter: ${gpu.description}`);
    return setBackend(gpu);
  }
  if (kind === "webgpu") {
    throw new Error(
      "iclab: no WebGPU adapter found (on Linux without a GPU, install Mesa's Vulkan driver: " +
        "apt-get install mesa-vulkan-drivers); use --backend cpu to run on the CPU",
    );
  }
  if (!quiet) console.error("iclab: no WebGPU adapter found; falling back to the CPU backend");
  return setBackend(cpuBackend());
}

export function setBackend(b: Backend): Backend {
  current = b;
  return b;
}

/** The default backend (the CPU until `initBackend`/`setBackend` says otherwise). */
export function getBackend(): Backend {
  return current ??= cpuBackend();
}
