/**
 * Selective scan (Mamba S6) on WebGPU, forward and backward. Two variants of the per-channel
 * kernels share the saved-state layout, the dB/dC kernel and the reduction:
 *
 * - "sequential": one invocation per (b, d) runs the recurrence over time with its states in a
 *   private array. No barriers (each one is a coroutine switch on llvmpipe).
 * - "chunked": a workgroup-memory Blelloch scan over time chunks (S chunks of one channel run
 *   in parallel), for real GPUs where B·D alone does not fill the device.
 *
 * Activation memory: the forward saves one state per (b, d, n) per CH steps (`saved[0]`,
 * B·⌈L/CH⌉·N·D floats); the backward's temporaries are O(B·L·D) plus the same again for the
 * chunk adjoints and O(B·L·N) outputs. No buffer is ever B·L·D·N.
 */
import type { ScanArgs } from "../../backend.ts";
import type { GpuBuffer, GpuTexture, Kernel, Runtime } from "../runtime.ts";
import { CH, DC, fwdChunkedKernel, fwdSeqKernel, S } from "./scan_fwd.ts";
import { bwdChunkedKernel, bwdSeqKernel, dBdCKernel, reduceKernel } from "./scan_bwd.ts";
import { texturize } from "./texture_operands.ts";

export interface ScanGpuInputs {
  x: GpuBuffer;
  delta: GpuBuffer;
  deltaBias: GpuBuffer;
  A: GpuBuffer;
  Bm: GpuBuffer;
  Cm: GpuBuffer;
  Dskip: GpuBuffer;
  z?: GpuBuffer;
}

export interface ScanGpuGrads {
  dx: GpuBuffer;
  dDelta: GpuBuffer;
  dDeltaBias: GpuBuffer;
  dA: GpuBuffer;
  dBm: GpuBuffer;
  dCm: GpuBuffer;
  dDskip: GpuBuffer;
  dz?: GpuBuffer;
}

export type ScanVariant = "sequential" | "chunked";

/** Largest d_state the kernels accept (the chunked variant's workgroup carry is sized for it). */
export const MAX_STATE = 64;

/**
 * The default per adapter. On llvmpipe the sequential variant wins by measurement
 * (bench/scan.ts, batch 64 × 280 × 128 × 16: 0.1 s + 0.4 s forward + backward against
 * 0.8 s + 1.3 s for the chunked one, whose barriers are coroutine switches there). On real GPUs
 * the chunked variant is the default by design, not yet by measurement: it runs S = 8 times
 * more invocations, and B·D (8192 at that shape) alone would leave most of a GPU idle.
 */
export function defaultScanVariant(rt: Runtime): ScanVariant {
  return rt.ctx.isSoftware ? "sequential" : "chunked";
}

/**
 * Whether the sequential kernels read B and C (vec4 rows, shared by all channels of a batch row)
 * from textures: on software adapters, where each storage load is a per-lane loop.
 */
function bcTextures(rt: Runtime, args: ScanArgs, variant: ScanVariant): boolean {
  return rt.ctx.isSoftware && variant === "sequential" && args.state % 4 === 0;
}

/** B and C as textures (released by the caller), or the buffers themselves. */
function bcOperands(rt: Runtime, inp: ScanGpuInputs, args: ScanArgs, tex: boolean) {
  const texels = args.batch * args.length * args.state / 4;
  return tex
    ? [rt.texture(inp.Bm, 0, texels), rt.texture(inp.Cm, 0, texels)] as const
    : [inp.Bm, inp.Cm] as const;
}

function releaseBC(rt: Runtime, bc: readonly (GpuBuffer | GpuTexture)[]): void {
  for (const t of bc) if ("view" in t) rt.releaseTexture(t);
}

const cache = new Map<string, Kernel>();
function kernel(key: string, make: () => Kernel): Kernel {
  let k = cache.get(key);
  if (!k) cache.set(key, k = make());
  return k;
}

/** A kernel reading Bm and Cm, rewritten to fetch them from textures when `tex`. */
function bcKernel(key: string, make: () => Kernel, tex: boolean): Kernel {
  return kernel(tex ? `${key}_tex` : key, () => tex ? texturize(make(), ["Bm", "Cm"]) : make());
}

function check(rt: Runtime, args: ScanArgs, hasZBuf: boolean, buffers: number): void {
  const { batch, length, channels, state } = args;
  if (!(batch > 0 && length > 0 && channels > 0 && state > 0)) {
    throw new Error(`selectiveScan: empty shape ${JSON.stringify(args)}`);
  }
  if (state > MAX_STATE) throw new Error(`selectiveScan: d_state ${state} > ${MAX_STATE}`);
  if (args.hasZ !== hasZBuf) throw new Error("selectiveScan: hasZ does not match z");
  const max = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  if (batch > max) throw new Error(`selectiveScan: batch ${batch} > ${max} workgroups`);
  if (rt.ctx.limits.maxStorageBuffersPerShaderStage < buffers) {
    throw new Error(`selectiveScan: needs ${buffers} storage buffers per stage`);
  }
  const largest = 4 * batch *
    Math.max(length * channels, Math.ceil(length / CH) * state * channels);
  if (largest > rt.ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(`selectiveScan: a ${largest}-byte buffer exceeds the binding limit`);
  }
}

/** Workgroup grid for `count` workgroups, folded into y past the per-dimension limit. */
function fold(rt: Runtime, count: number): [number, number] {
  const max = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.max(1, Math.min(count, max));
  return [x, Math.ceil(count / x)];
}

function uniforms(args: ScanArgs): number[] {
  return [args.batch, args.length, args.channels, Math.ceil(args.length / CH)];
}

/** Forward: returns out [B, L, D] and saved = [chunk-start states, B·⌈L/CH⌉·N·D floats]. */
export function selectiveScanGpu(
  rt: Runtime,
  inp: ScanGpuInputs,
  args: ScanArgs,
  variant: ScanVariant = defaultScanVariant(rt),
): { out: GpuBuffer; saved: GpuBuffer[] } {
  const { batch: B, length: L, channels: D, state: N, hasZ } = args;
  check(rt, args, !!inp.z, 10);
  const nC = Math.ceil(L / CH);
  const out = rt.alloc(B * L * D * 4);
  const hs = rt.alloc(B * nC * N * D * 4);
  const tex = bcTextures(rt, args, variant);
  const bc = bcOperands(rt, inp, args, tex);
  const bufs = [inp.x, inp.delta, inp.deltaBias, inp.A, ...bc, inp.Dskip];
  if (inp.z) bufs.push(inp.z);
  bufs.push(out, hs);
  if (variant === "sequential") {
    const k = bcKernel(`fs${N}${hasZ}`, () => fwdSeqKernel(N, hasZ), tex);
    rt.dispatch(k, bufs, uniforms(args), [Math.ceil(D / 64), B]);
  } else {
    const k = bcKernel(`fc${N}${hasZ}`, () => fwdChunkedKernel(N, hasZ), tex);
    rt.dispatch(k, bufs, uniforms(args), [Math.ceil(D / DC), B]);
  }
  releaseBC(rt, bc);
  return { out, saved: [hs] };
}

/**
 * Backward of `selectiveScanGpu`: gradients of every input (dDelta w.r.t. the pre-softplus δ,
 * dA w.r.t. A itself). Both variants save the same chunk states, so either may run the
 * backward of either forward. Three dispatches in the current encoder; temporaries released.
 */
export function selectiveScanGradGpu(
  rt: Runtime,
  inp: ScanGpuInputs,
  saved: GpuBuffer[],
  dout: GpuBuffer,
  args: ScanArgs,
  variant: ScanVariant = defaultScanVariant(rt),
): ScanGpuGrads {
  const { batch: B, length: L, channels: D, state: N, hasZ } = args;
  check(rt, args, !!inp.z, 18);
  if (saved.length !== 1) throw new Error("selectiveScanGrad: expected the forward's saved states");
  const nC = Math.ceil(L / CH);
  const bld = B * L * D * 4;
  const dx = rt.alloc(bld);
  const dDelta = rt.alloc(bld);
  const dz = hasZ ? rt.alloc(bld) : undefined;
  const dBm = rt.alloc(B * L * N * 4);
  const dCm = rt.alloc(B * L * N * 4);
  const dA = rt.alloc(D * N * 4);
  const dDskip = rt.alloc(D * 4);
  const dDeltaBias = rt.alloc(D * 4);
  const gin = rt.alloc(B * nC * N * D * 4);
  const dtt = rt.alloc(bld);
  const dxt = rt.alloc(bld);
  const ybt = rt.alloc(bld);
  const rows = variant === "sequential" ? B : B * S;
  const cols = D * N + 2 * D;
  const parts = rt.alloc(rows * cols * 4);

  const tex = bcTextures(rt, args, variant);
  const bc = bcOperands(rt, inp, args, tex);
  const bufs = [inp.x, inp.delta, inp.deltaBias, inp.A, ...bc, inp.Dskip];
  if (inp.z) bufs.push(inp.z);
  bufs.push(dout, saved[0], dx, dDelta);
  if (dz) bufs.push(dz);
  bufs.push(gin, dtt, dxt, ybt, parts);
  const u = uniforms(args);
  if (variant === "sequential") {
    const k = bcKernel(`bs${N}${hasZ}`, () => bwdSeqKernel(N, hasZ), tex);
    rt.dispatch(k, bufs, u, [Math.ceil(D / 64), B]);
  } else {
    const k = bcKernel(`bc${N}${hasZ}`, () => bwdChunkedKernel(N, hasZ), tex);
    rt.dispatch(k, bufs, u, [Math.ceil(D / DC), B]);
  }
  const kbc = bcKernel(`bbc${N}`, () => dBdCKernel(N), tex);
  rt.dispatch(
    kbc,
    [inp.A, saved[0], gin, dtt, dxt, ybt, ...bc, dBm, dCm],
    u,
    fold(rt, Math.ceil((B * nC * Math.ceil(N / 4)) / 64)),
  );
  releaseBC(rt, bc);
  const kr = kernel(`br${N}`, () => reduceKernel(N));
  rt.dispatch(
    kr,
    [parts, dA, dDskip, dDeltaBias],
    [rows, L, D, nC],
    fold(rt, Math.ceil(cols / 64)),
  );
  for (const t of [gin, dtt, dxt, ybt, parts]) rt.release(t);
  return { dx, dDelta, dDeltaBias, dA, dBm, dCm, dDskip, ...(dz ? { dz } : {}) };
}
