/**
 * Selective scan (Mamba S6) on WebGPU, forward and backward. Two variants of the per-channel
 * kernels share the saved-state layout and the reduction; each has its own dB/dC kernel
 * (scan_dbdc.ts):
 *
 * - "sequential": one invocation per (b, 4 adjacent channels; 2 strided ones where D % 4 != 0)
 *   runs the recurrence over time with its states in private arrays. No barriers (each one is a
 *   coroutine switch on llvmpipe). dB/dC: one invocation per (b, chunk, 16 states).
 * - "chunked": a workgroup-memory Blelloch scan over time chunks (S chunks of one channel run
 *   in parallel), for real GPUs where B·D alone does not fill the device. dB/dC: a workgroup per
 *   (b, chunk, 4 states), threads over channels, an ordered tree sum.
 *
 * Activation memory: the forward saves one state per (b, d, n) per CH steps (`saved[0]`,
 * B·⌈L/CH⌉·N·D floats, after the per-channel parameters); the backward's temporaries are
 * O(B·L·D) plus the same again for the chunk adjoints and O(B·L·N) outputs. No buffer is ever
 * B·L·D·N. Every kernel binds at most 8 storage buffers (WebGPU's default): inputs and outputs
 * are packed (scan_fwd.ts), with offsets in the uniforms. The variant is the profile's `scan`.
 */
import type { ScanArgs } from "../../backend.ts";
import { type Kernel, kernel } from "../kernel.ts";
import type { GpuBuffer, GpuTexture, Runtime } from "../runtime.ts";
import { CH, DC, fwdChunkedKernel, packKernel, S, savedFloats } from "./scan_fwd.ts";
import { fwdSeqKernel, seqGridX, seqLanes, seqName } from "./scan_seq.ts";
import { bwdChunkedKernel, reduceKernel } from "./scan_bwd.ts";
import { BWD_CPI, bwdSeqKernel } from "./scan_bwd_seq.ts";
import { DBDC_SW_WG, dbdcGroups, dBdCParKernel, dBdCSeqKernel } from "./scan_dbdc.ts";
import { texturize } from "./texture_operands.ts";

export interface ScanGpuInputs {
  x: GpuBuffer;
  delta: GpuBuffer;
  deltaBias: GpuBuffer;
  A: GpuBuffer;
  /** B and C side by side, [B, L, 2N]. */
  BC: GpuBuffer;
  Dskip: GpuBuffer;
  z?: GpuBuffer;
}

export interface ScanGpuGrads {
  dx: GpuBuffer;
  dDelta: GpuBuffer;
  dDeltaBias: GpuBuffer;
  dA: GpuBuffer;
  dBC: GpuBuffer;
  dDskip: GpuBuffer;
  dz?: GpuBuffer;
}

/** Largest d_state the kernels accept (the chunked variant's workgroup carry is sized for it). */
export const MAX_STATE = 64;

/**
 * Whether the sequential kernels read BC (vec4 rows, shared by all channels of a batch row)
 * from a texture: the profile's choice (software adapters, where each storage load is a
 * per-lane loop), for whole vec4 rows.
 */
function bcTexture(rt: Runtime, args: ScanArgs): boolean {
  return rt.profile.scanTextures && rt.profile.scan === "sequential" && args.state % 4 === 0;
}

/** BC as a texture (released by the caller) or the buffer itself. */
function bcOperand(rt: Runtime, inp: ScanGpuInputs, args: ScanArgs): GpuBuffer | GpuTexture {
  return bcTexture(rt, args)
    ? rt.texture(inp.BC, 0, (args.batch * args.length * 2 * args.state) / 4)
    : inp.BC;
}

function releaseBC(rt: Runtime, bc: GpuBuffer | GpuTexture): void {
  if ("view" in bc) rt.releaseTexture(bc);
}

/** A kernel reading BC, rewritten to fetch it from a texture when `tex`. */
function bcKernel(key: string, make: () => Kernel, tex: boolean): Kernel {
  return tex
    ? kernel(`${key}_tex`, () => texturize(make(), ["BC"]).wgsl)
    : kernel(key, () => make().wgsl);
}

function check(rt: Runtime, args: ScanArgs, hasZBuf: boolean): void {
  const { batch, length, channels, state } = args;
  if (!(batch > 0 && length > 0 && channels > 0 && state > 0)) {
    throw new Error(`selectiveScan: empty shape ${JSON.stringify(args)}`);
  }
  if (state > MAX_STATE) throw new Error(`selectiveScan: d_state ${state} > ${MAX_STATE}`);
  if (args.hasZ !== hasZBuf) throw new Error("selectiveScan: hasZ does not match z");
  const max = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  if (batch > max) throw new Error(`selectiveScan: batch ${batch} > ${max} workgroups`);
  // The largest bindings: the backward's outputs dx, dδ, dz (one allocation) and its work
  // buffer (chunk adjoints and partials).
  const rows = rt.profile.scan === "sequential" ? batch : batch * S;
  const outputs = (args.hasZ ? 3 : 2) * (4 * batch * length * channels + 256); // (+ alignment)
  const work = 4 * (workFloats(args) + rows * channels * (state + 2));
  const largest = Math.max(outputs, work);
  if (largest > rt.ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(
      `selectiveScan: a ${largest}-byte binding exceeds this device's ` +
        `${rt.ctx.limits.maxStorageBufferBindingSize} (use a smaller batch or d_inner)`,
    );
  }
}

/** Floats of the work buffer before the partials: the chunk-end adjoints gin. */
function workFloats(a: ScanArgs): number {
  return a.batch * Math.ceil(a.length / CH) * a.state * a.channels;
}

function uniforms(args: ScanArgs): { B: number; L: number; D: number; nC: number } {
  return { B: args.batch, L: args.length, D: args.channels, nC: Math.ceil(args.length / CH) };
}

/**
 * Forward: returns out [B, L, D] and saved = [the saved buffer: δ bias, A, D skip, then the
 * chunk-start states, B·⌈L/CH⌉·N·D floats]. Two dispatches (pack, scan).
 */
export function selectiveScanGpu(
  rt: Runtime,
  inp: ScanGpuInputs,
  args: ScanArgs,
): { out: GpuBuffer; saved: GpuBuffer[] } {
  const { batch: B, length: L, channels: D, state: N, hasZ } = args;
  check(rt, args, !!inp.z);
  const out = rt.alloc(B * L * D * 4);
  const sv = rt.alloc(savedFloats(B, L, D, N) * 4);
  const u = uniforms(args);
  rt.dispatch(
    kernel(`scan_pack_n${N}`, () => packKernel(N).wgsl),
    { bias: inp.deltaBias, Am: inp.A, Ds: inp.Dskip, sv },
    u,
    rt.grid(Math.ceil((D * (N + 2)) / 64)),
  );
  const tex = bcTexture(rt, args);
  const BC = bcOperand(rt, inp, args);
  const bufs = { xs: inp.x, dl: inp.delta, BC, ...(inp.z ? { zs: inp.z } : {}), outp: out, sv };
  if (rt.profile.scan === "sequential") {
    const l = seqLanes(D, 4);
    const key = `scan_fwd_seq_n${N}_z${+hasZ}_${seqName(l)}`;
    rt.dispatch(bcKernel(key, () => fwdSeqKernel(N, hasZ, l), tex), bufs, u, [seqGridX(D, l), B]);
  } else {
    const k = bcKernel(`scan_fwd_chunked_n${N}_z${+hasZ}`, () => fwdChunkedKernel(N, hasZ), tex);
    rt.dispatch(k, bufs, u, [Math.ceil(D / DC), B]);
  }
  releaseBC(rt, BC);
  return { out, saved: [sv] };
}

/**
 * Backward of `selectiveScanGpu`: gradients of every input (dDelta w.r.t. the pre-softplus δ,
 * dA w.r.t. A itself). Both variants save the same states, so either may run the backward of
 * either forward. Three dispatches in the current encoder; dx, dδ and dz are parts of one
 * allocation (the main kernel writes them through one binding); temporaries released.
 */
export function selectiveScanGradGpu(
  rt: Runtime,
  inp: ScanGpuInputs,
  saved: GpuBuffer[],
  dout: GpuBuffer,
  args: ScanArgs,
): ScanGpuGrads {
  const { batch: B, length: L, channels: D, state: N, hasZ } = args;
  check(rt, args, !!inp.z);
  if (saved.length !== 1) throw new Error("selectiveScanGrad: expected the forward's saved states");
  const sv = saved[0];
  const u = uniforms(args);
  const bld = B * L * D;
  const go = rt.allocParts(Array(hasZ ? 3 : 2).fill(bld * 4));
  const [dx, dDelta, dz] = go.parts;
  const dBC = rt.alloc(B * L * 2 * N * 4);
  const dA = rt.alloc(D * N * 4);
  const dDskip = rt.alloc(D * 4);
  const dDeltaBias = rt.alloc(D * 4);
  const gin = B * u.nC * N * D;
  const rows = rt.profile.scan === "sequential" ? B : B * S;
  const wk = rt.alloc((workFloats(args) + rows * (D * N + 2 * D)) * 4);
  const offsets = {
    oDD: go.offsets[1],
    oDZ: hasZ ? go.offsets[2] : 0,
    oParts: gin,
  };

  const tex = bcTexture(rt, args);
  const BC = bcOperand(rt, inp, args);
  const bufs = {
    xs: inp.x,
    dl: inp.delta,
    sv,
    BC,
    ...(inp.z ? { zs: inp.z } : {}),
    dout,
    go: go.whole,
    wk,
  };
  if (rt.profile.scan === "sequential") {
    const l = seqLanes(D, BWD_CPI);
    const k = bcKernel(
      `scan_bwd_seq_n${N}_z${+hasZ}_${seqName(l)}`,
      () => bwdSeqKernel(N, hasZ, l),
      tex,
    );
    rt.dispatch(k, bufs, { ...u, ...offsets }, [seqGridX(D, l), B]);
  } else {
    const k = bcKernel(`scan_bwd_chunked_n${N}_z${+hasZ}`, () => bwdChunkedKernel(N, hasZ), tex);
    rt.dispatch(k, bufs, { ...u, ...offsets }, [Math.ceil(D / DC), B]);
  }
  const dbdcBufs = {
    sv,
    wk,
    BC,
    dBC,
    xs: inp.x,
    dl: inp.delta,
    dout,
    ...(inp.z ? { zs: inp.z } : {}),
  };
  const nq = Math.ceil(N / 4);
  if (rt.profile.scan === "sequential") {
    const k = bcKernel(`scan_bwd_dbdc_n${N}_z${+hasZ}`, () => dBdCSeqKernel(N, hasZ), tex);
    const invocations = B * u.nC * (nq / dbdcGroups(N));
    rt.dispatch(k, dbdcBufs, u, rt.grid(Math.ceil(invocations / DBDC_SW_WG)));
  } else {
    const k = bcKernel(`scan_bwd_dbdc_par_n${N}_z${+hasZ}`, () => dBdCParKernel(N, hasZ), tex);
    rt.dispatch(k, dbdcBufs, u, rt.grid(B * u.nC * nq));
  }
  releaseBC(rt, BC);
  rt.dispatch(
    kernel(`scan_bwd_reduce_n${N}`, () => reduceKernel(N).wgsl),
    { wk, dAo: dA, dDo: dDskip, dbo: dDeltaBias },
    { ...u, B: rows, oParts: offsets.oParts },
    rt.grid(Math.ceil((D * N + 2 * D) / 64)),
  );
  rt.release(wk);
  return { dx, dDelta, dDeltaBias, dA, dBC, dDskip, ...(dz ? { dz } : {}) };
}
