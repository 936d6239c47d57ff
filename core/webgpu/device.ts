/** Adapter and device set-up: request the limits the kernels need and report what runs. */

export interface GpuContext {
  device: GPUDevice;
  description: string;
  /** llvmpipe/lavapipe and other CPU adapters want different kernel shapes than real GPUs. */
  isSoftware: boolean;
  limits: GPUSupportedLimits;
}

let cached: Promise<GpuContext | null> | null = null;

/** The process-wide WebGPU device, or null when no adapter exists. Tests share one device. */
export function gpuContext(): Promise<GpuContext | null> {
  cached ??= createContext();
  return cached;
}

async function createContext(): Promise<GpuContext | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) return null;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return null;
  const want = [
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxStorageBuffersPerShaderStage",
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupsPerDimension",
    "maxTextureDimension2D",
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const k of want) requiredLimits[k] = adapter.limits[k];
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const description = [info.description, info.vendor && `vendor ${info.vendor}`, info.architecture]
    .filter(Boolean).join(", ");
  const isSoftware = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(info.description ?? "");
  device.addEventListener("uncapturederror", (e) => {
    const err = (e as GPUUncapturedErrorEvent).error;
    console.error(`iclab: WebGPU error on ${description}: ${err.message}`);
  });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") {
      console.error(`iclab: WebGPU device lost (${info.reason}): ${info.message}`);
    }
  });
  return { device, description, isSoftware, limits: device.limits };
}
