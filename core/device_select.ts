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

/**
 * Measured on one machine (2-core Xeon VM, Mesa 22.3): exp:parity's quick preset took 14m49s
 * through OpenGL and 12m46s through Vulkan, and a cold shader cache costs the test suite 6m27s
 * against 3m19s (the GPU family's kernels compile 10–50× slower through OpenGL).
 */
const GL_HINT = "iclab: this is llvmpipe through OpenGL; Mesa's Vulkan driver runs the same " +
  "kernels ~15% faster here and compiles them several times faster " +
  "(apt-get install mesa-vulkan-drivers)";

/** Choose and install the default backend. */
export async function initBackend(kind: BackendKind = "auto", quiet = false): Promise<Backend> {
  if (kind === "cpu") return setBackend(cpuBackend());
  const gpu = await webgpuBackend();
  if (gpu) {
    if (!quiet) {
      console.error(`iclab: WebGPU adapter: ${gpu.description}`);
      const { api, software } = gpu.rt.ctx;
      if (api === "OpenGL" && software) console.error(GL_HINT);
    }
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
