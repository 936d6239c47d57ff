/**
 * Adapter and device set-up: which adapter runs, through which API, with which limits and
 * kernel profile. Every kernel fits WebGPU's default limits (8 storage buffers per stage, 16 KiB
 * of workgroup memory, 256 invocations per workgroup), so the device asks for more only where
 * more is capacity, not a different kernel: larger buffers and bindings (bigger tensors) and
 * larger textures (texture operands of larger matmuls).
 */
import { type AdapterProfile, profileFor } from "./profile.ts";

export interface GpuContext {
  device: GPUDevice;
  /** One line for logs and bug reports: adapter, API, family and key limits. */
  description: string;
  /** The adapter's own description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  adapterName: string;
  /** The API behind the adapter, as far as it can be told ("Vulkan", "OpenGL", "Metal", ...). */
  api: string;
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader, WARP) rather than a GPU. */
  software: boolean;
  limits: GPUSupportedLimits;
  profile: AdapterProfile;
  /** The first uncaptured WebGPU error or device loss; runtimes throw it at their next sync. */
  failure: string | null;
}

/** "adapter": the capacity limits above (default); "default": WebGPU's defaults only. */
export type LimitsRequest = "adapter" | "default";

/** Capacity limits requested at the adapter's maximum (see the file comment). */
const CAPACITY_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxTextureDimension2D",
] as const;

let cached: Promise<GpuContext | null> | null = null;

/**
 * The process-wide WebGPU device, or null when no adapter exists. Tests share one device.
 * ICLAB_WEBGPU_LIMITS=default runs everything within WebGPU's default limits.
 */
export function gpuContext(): Promise<GpuContext | null> {
  cached ??= createGpuContext(envVar("ICLAB_WEBGPU_LIMITS") === "default" ? "default" : "adapter");
  return cached;
}

/** A new device on a new adapter (tests use a second one with WebGPU's default limits). */
export async function createGpuContext(limits: LimitsRequest): Promise<GpuContext | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) return null;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return null;
  const requiredLimits: Record<string, number> = {};
  if (limits === "adapter") {
    for (const k of CAPACITY_LIMITS) {
      requiredLimits[k] = adapter.limits[k];
    }
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const adapterName = [info.description, info.vendor && `vendor ${info.vendor}`, info.architecture]
    .filter(Boolean).join(", ") || "unnamed adapter";
  const software = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software|warp/i.test(info.description ?? "");
  const api = adapterApi(adapter);
  const profile = profileFor(software);
  const ctx: GpuContext = {
    device,
    description: describe(adapterName, api, software, device.limits, adapter.limits, limits),
    adapterName,
    api,
    software,
    limits: device.limits,
    profile,
    failure: null,
  };
  device.addEventListener("uncapturederror", (e) => {
    ctx.failure ??= `WebGPU error on ${adapterName}: ${
      (e as GPUUncapturedErrorEvent).error.message
    }`;
  });
  device.lost.then((lost) => {
    if (lost.reason !== "destroyed") {
      ctx.failure ??= `WebGPU device lost (${lost.reason}): ${lost.message}`;
    }
  });
  return ctx;
}

function envVar(name: string): string | undefined {
  try {
    return (globalThis as { Deno?: { env: { get(k: string): string | undefined } } }).Deno?.env
      .get(name);
  } catch {
    return undefined; // no --allow-env, or not Deno
  }
}

/**
 * WebGPU does not say which API serves an adapter. Deno picks one at its first adapter request
 * (DENO_WEBGPU_BACKEND, else Vulkan, Metal or D3D12, else OpenGL); wgpu's OpenGL backend reports
 * its placeholder subgroup sizes 4–128, which Vulkan, Metal and D3D12 replace with the device's.
 */
function adapterApi(adapter: GPUAdapter): string {
  const names: Record<string, string> = {
    vulkan: "Vulkan",
    gl: "OpenGL",
    metal: "Metal",
    dx12: "D3D12",
  };
  const env = envVar("DENO_WEBGPU_BACKEND")?.toLowerCase();
  if (env && names[env]) return names[env];
  const deno = (globalThis as { Deno?: { build: { os: string } } }).Deno;
  if (!deno) return "the browser's WebGPU";
  const sg = adapter.info as { subgroupMinSize?: number; subgroupMaxSize?: number };
  if (sg.subgroupMinSize === 4 && sg.subgroupMaxSize === 128) return "OpenGL";
  if (deno.build.os === "darwin") return "Metal";
  return deno.build.os === "windows" ? "D3D12 or Vulkan" : "Vulkan";
}

function describe(
  name: string,
  api: string,
  software: boolean,
  got: GPUSupportedLimits,
  max: GPUSupportedLimits,
  limits: LimitsRequest,
): string {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  return `${name} via ${api} (${software ? "software adapter, software" : "GPU"} kernels; ` +
    `${limits === "default" ? "WebGPU default limits: " : ""}` +
    `${got.maxStorageBuffersPerShaderStage} of ${max.maxStorageBuffersPerShaderStage} ` +
    `storage buffers per stage, ${mib(got.maxStorageBufferBindingSize)} per binding, ` +
    `${mib(got.maxBufferSize)} per buffer, ` +
    `${got.maxComputeWorkgroupStorageSize / 1024} KiB workgroup memory)`;
}
