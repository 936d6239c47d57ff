/**
 * The WebGPU backend: kernels from ./kernels recorded into the runtime's command encoder.
 * Nothing waits for the GPU except `read`.
 */
import type {
  AdamHyper,
  AdamItem,
  AttentionArgs,
  Backend,
  BinaryOp,
  DeviceBuffer,
  DType,
  MatmulArgs,
  MemoryInfo,
  ScanArgs,
  ScanGrads,
  ScanInputs,
  UnaryOp,
  View,
} from "../backend.ts";
import type { GpuContext } from "./device.ts";
import { type GpuBuffer, Runtime } from "./runtime.ts";
import { adamGpu } from "./kernels/adam.ts";
import { attentionGpu, attentionGradGpu } from "./kernels/attention.ts";
import { conv1dGpu, conv1dGradGpu } from "./kernels/conv.ts";
import { copyGpu } from "./kernels/copy.ts";
import { gradNormGpu } from "./kernels/grad_norm.ts";
import { affineGpu, binaryGpu, fillGpu, unaryGpu, unaryGradGpu } from "./kernels/elementwise.ts";
import { gatherGpu, scatterAddGpu } from "./kernels/gather.ts";
import { matmulActGpu, matmulGpu } from "./kernels/matmul.ts";
import { matmulSumsGpu } from "./kernels/matmul_sums.ts";
import { layerNormGpu, layerNormGradGpu } from "./kernels/norm.ts";
import { lstmCellGpu, lstmCellGradGpu } from "./kernels/lstm.ts";
import { reduceGpu } from "./kernels/reduce.ts";
import { selectiveScanGpu, selectiveScanGradGpu } from "./kernels/scan.ts";
import { softmaxGpu, softmaxGradGpu } from "./kernels/softmax.ts";

const g = (b: DeviceBuffer): GpuBuffer => b as GpuBuffer;

export class WebGpuBackend implements Backend {
  readonly name = "webgpu";
  readonly description: string;
  readonly rt: Runtime;

  constructor(ctx: GpuContext | Runtime) {
    this.rt = ctx instanceof Runtime ? ctx : new Runtime(ctx);
    this.description = this.rt.ctx.description;
  }

  alloc(n: number): DeviceBuffer {
    return this.rt.alloc(Math.max(n, 1) * 4);
  }
  upload(data: Float32Array | Int32Array): DeviceBuffer {
    const buf = this.rt.alloc(Math.max(data.byteLength, 4));
    if (data.byteLength > 0) this.rt.write(buf, data);
    return buf;
  }
  async read(buf: DeviceBuffer, n: number, dtype: DType): Promise<Float32Array | Int32Array> {
    const bytes = await this.rt.read(g(buf), n * 4);
    return dtype === "i32" ? new Int32Array(bytes) : new Float32Array(bytes);
  }
  release(buf: DeviceBuffer): void {
    this.rt.release(g(buf));
  }
  memory(): MemoryInfo {
    return { bytesInUse: this.rt.bytesInUse, bytesAllocated: this.rt.bytesAllocated };
  }
  flush(): void {
    this.rt.flush();
  }

  fill(n: number, value: number): DeviceBuffer {
    return fillGpu(this.rt, n, value);
  }
  unary(op: UnaryOp, x: DeviceBuffer, n: number): DeviceBuffer {
    return unaryGpu(this.rt, op, g(x), n);
  }
  unaryGrad(op: UnaryOp, x: DeviceBuffer, dy: DeviceBuffer, n: number): DeviceBuffer {
    return unaryGradGpu(this.rt, op, g(x), g(dy), n);
  }
  binary(
    op: BinaryOp,
    a: DeviceBuffer,
    av: View,
    b: DeviceBuffer,
    bv: View,
    shape: readonly number[],
  ): DeviceBuffer {
    return binaryGpu(this.rt, op, g(a), av, g(b), bv, shape);
  }
  affine(x: DeviceBuffer, n: number, a: number, b: number): DeviceBuffer {
    return affineGpu(this.rt, g(x), n, a, b);
  }
  reduce(
    op: "sum" | "max",
    x: DeviceBuffer,
    outer: number,
    r: number,
    inner: number,
  ): DeviceBuffer {
    return reduceGpu(this.rt, op, g(x), outer, r, inner);
  }
  copy(src: DeviceBuffer, sv: View, dst: DeviceBuffer, dv: View, shape: readonly number[]): void {
    copyGpu(this.rt, g(src), sv, g(dst), dv, shape);
  }
  matmul(a: DeviceBuffer, b: DeviceBuffer, args: MatmulArgs, bias?: DeviceBuffer): DeviceBuffer {
    return matmulGpu(this.rt, g(a), g(b), args, bias && g(bias));
  }
  matmulSums(
    a: DeviceBuffer,
    b: DeviceBuffer,
    args: MatmulArgs,
    of: "rows" | "cols",
  ): [DeviceBuffer, DeviceBuffer] {
    return matmulSumsGpu(this.rt, g(a), g(b), args, of);
  }
  matmulAct(
    a: DeviceBuffer,
    b: DeviceBuffer,
    args: MatmulArgs,
    act: UnaryOp,
    keepPre: boolean,
    bias?: DeviceBuffer,
  ): [DeviceBuffer, DeviceBuffer | null] {
    return matmulActGpu(this.rt, g(a), g(b), args, { act, keepPre }, bias && g(bias));
  }
  softmax(x: DeviceBuffer, rows: number, cols: number, log: boolean): DeviceBuffer {
    return softmaxGpu(this.rt, g(x), rows, cols, log);
  }
  softmaxGrad(
    y: DeviceBuffer,
    dy: DeviceBuffer,
    rows: number,
    cols: number,
    log: boolean,
  ): DeviceBuffer {
    return softmaxGradGpu(this.rt, g(y), g(dy), rows, cols, log);
  }
  gather(
    x: DeviceBuffer,
    idx: DeviceBuffer,
    outer: number,
    axis: number,
    inner: number,
    nIdx: number,
  ): DeviceBuffer {
    return gatherGpu(this.rt, g(x), g(idx), outer, axis, inner, nIdx);
  }
  scatterAdd(
    dy: DeviceBuffer,
    idx: DeviceBuffer,
    outer: number,
    axis: number,
    inner: number,
    nIdx: number,
  ): DeviceBuffer {
    return scatterAddGpu(this.rt, g(dy), g(idx), outer, axis, inner, nIdx);
  }
  layerNorm(
    x: DeviceBuffer,
    w: DeviceBuffer | null,
    b: DeviceBuffer | null,
    rows: number,
    cols: number,
    eps: number,
    rms: boolean,
  ) {
    return layerNormGpu(this.rt, g(x), w && g(w), b && g(b), rows, cols, eps, rms);
  }
  layerNormGrad(
    x: DeviceBuffer,
    w: DeviceBuffer | null,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    dy: DeviceBuffer,
    rows: number,
    cols: number,
    rms: boolean,
  ) {
    return layerNormGradGpu(this.rt, g(x), w && g(w), g(mean), g(rstd), g(dy), rows, cols, rms);
  }
  conv1d(
    x: DeviceBuffer,
    w: DeviceBuffer,
    bias: DeviceBuffer,
    batch: number,
    length: number,
    channels: number,
    kernel: number,
  ): DeviceBuffer {
    return conv1dGpu(this.rt, g(x), g(w), g(bias), batch, length, channels, kernel);
  }
  conv1dGrad(
    x: DeviceBuffer,
    w: DeviceBuffer,
    dy: DeviceBuffer,
    batch: number,
    length: number,
    channels: number,
    kernel: number,
  ) {
    return conv1dGradGpu(this.rt, g(x), g(w), g(dy), batch, length, channels, kernel);
  }
  selectiveScan(inp: ScanInputs, args: ScanArgs): { out: DeviceBuffer; saved: DeviceBuffer[] } {
    return selectiveScanGpu(this.rt, scanBuffers(inp), args);
  }
  selectiveScanGrad(
    inp: ScanInputs,
    saved: DeviceBuffer[],
    dout: DeviceBuffer,
    args: ScanArgs,
  ): ScanGrads {
    return selectiveScanGradGpu(this.rt, scanBuffers(inp), saved.map(g), g(dout), args);
  }
  attention(q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, args: AttentionArgs) {
    return attentionGpu(this.rt, g(q), g(k), g(v), args);
  }
  attentionGrad(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    dO: DeviceBuffer,
    args: AttentionArgs,
  ) {
    return attentionGradGpu(this.rt, g(q), g(k), g(v), g(o), g(lse), g(dO), args);
  }
  attentionPacked(qkv: DeviceBuffer, args: AttentionArgs) {
    return attentionGpu(this.rt, g(qkv), g(qkv), g(qkv), args, "packed");
  }
  attentionPackedGrad(
    qkv: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    dO: DeviceBuffer,
    args: AttentionArgs,
  ): DeviceBuffer {
    const q = g(qkv);
    return attentionGradGpu(this.rt, q, q, q, g(o), g(lse), g(dO), args, "packed").dq;
  }
  adam(items: readonly AdamItem[], hyper: AdamHyper, gradScale: DeviceBuffer | null): void {
    adamGpu(this.rt, items, hyper, gradScale && g(gradScale));
  }
  gradNorm(items: readonly { buf: DeviceBuffer; n: number }[], maxNorm: number) {
    return gradNormGpu(this.rt, items.map(({ buf, n }) => ({ buf: g(buf), n })), maxNorm);
  }
  allocParts(sizes: readonly number[]): DeviceBuffer[] {
    const p = this.rt.allocParts(sizes.map((n) => Math.max(n, 1) * 4));
    this.rt.clear(p.whole);
    if (p.parts[0]?.pack) p.parts[0].pack.zeroPadded = true;
    return p.parts;
  }
  lstmCell(gates: DeviceBuffer, prev: DeviceBuffer | null, batch: number, hidden: number) {
    return lstmCellGpu(this.rt, g(gates), prev && g(prev), batch, hidden);
  }
  lstmCellGrad(
    gates: DeviceBuffer,
    prev: DeviceBuffer | null,
    dhc: DeviceBuffer,
    batch: number,
    hidden: number,
  ) {
    return lstmCellGradGpu(this.rt, g(gates), prev && g(prev), g(dhc), batch, hidden);
  }
}

function scanBuffers(inp: ScanInputs) {
  return {
    x: g(inp.x),
    delta: g(inp.delta),
    deltaBias: g(inp.deltaBias),
    A: g(inp.A),
    BC: g(inp.BC),
    Dskip: g(inp.Dskip),
    z: inp.z ? g(inp.z) : undefined,
  };
}
