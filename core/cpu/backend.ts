/**
 * The reference CPU backend: TypedArrays and plain loops. It is the oracle the WebGPU kernels
 * are tested against and the fallback when no adapter exists.
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
import { adamCpu } from "./adam.ts";
import {
  attentionCpu,
  attentionGradCpu,
  headsToTokens,
  packQkv,
  tokensToHeads,
  unpackQkv,
} from "./attention.ts";
import { conv1dCpu, conv1dGradCpu } from "./conv.ts";
import { lstmCellCpu, lstmCellGradCpu } from "./lstm.ts";
import {
  binaryCpu,
  copyCpu,
  gatherCpu,
  reduceCpu,
  scatterAddCpu,
  softmaxCpu,
  softmaxGradCpu,
  unaryCpu,
  unaryGradCpu,
} from "./elementwise.ts";
import { matmulCpu } from "./matmul.ts";
import { layerNormCpu, layerNormGradCpu } from "./norm.ts";
import { joinBC, selectiveScanCpu, selectiveScanGradCpu, splitBC } from "./scan.ts";

export class CpuBuffer implements DeviceBuffer {
  constructor(readonly data: Float32Array | Int32Array) {}
  get bytes(): number {
    return this.data.byteLength;
  }
}

const f = (b: DeviceBuffer): Float32Array => (b as CpuBuffer).data as Float32Array;
const wrap = (d: Float32Array | Int32Array): CpuBuffer => new CpuBuffer(d);

export class CpuBackend implements Backend {
  readonly name = "cpu";
  readonly description = "CPU (TypeScript reference backend)";
  private bytes = 0;

  private track(d: Float32Array | Int32Array): CpuBuffer {
    this.bytes += d.byteLength;
    return wrap(d);
  }

  alloc(n: number, dtype: DType): DeviceBuffer {
    return this.track(dtype === "i32" ? new Int32Array(n) : new Float32Array(n));
  }
  upload(data: Float32Array | Int32Array): DeviceBuffer {
    return this.track(data.slice());
  }
  read(buf: DeviceBuffer, n: number): Promise<Float32Array | Int32Array> {
    return Promise.resolve((buf as CpuBuffer).data.slice(0, n));
  }
  release(buf: DeviceBuffer): void {
    this.bytes -= buf.bytes;
  }
  memory(): MemoryInfo {
    return { bytesInUse: this.bytes, bytesAllocated: this.bytes };
  }
  flush(): void {}

  fill(n: number, value: number): DeviceBuffer {
    return this.track(new Float32Array(n).fill(value));
  }
  unary(op: UnaryOp, x: DeviceBuffer): DeviceBuffer {
    return this.track(unaryCpu(op, f(x)));
  }
  unaryGrad(op: UnaryOp, x: DeviceBuffer, dy: DeviceBuffer): DeviceBuffer {
    return this.track(unaryGradCpu(op, f(x), f(dy)));
  }
  binary(
    op: BinaryOp,
    a: DeviceBuffer,
    av: View,
    b: DeviceBuffer,
    bv: View,
    shape: readonly number[],
  ): DeviceBuffer {
    return this.track(binaryCpu(op, f(a), av, f(b), bv, shape));
  }
  affine(x: DeviceBuffer, n: number, a: number, b: number): DeviceBuffer {
    const xs = f(x), out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = a * xs[i] + b;
    return this.track(out);
  }
  reduce(
    op: "sum" | "max",
    x: DeviceBuffer,
    outer: number,
    r: number,
    inner: number,
  ): DeviceBuffer {
    return this.track(reduceCpu(op, f(x), outer, r, inner));
  }
  copy(src: DeviceBuffer, sv: View, dst: DeviceBuffer, dv: View, shape: readonly number[]): void {
    copyCpu((src as CpuBuffer).data, sv, (dst as CpuBuffer).data, dv, shape);
  }
  matmul(a: DeviceBuffer, b: DeviceBuffer, args: MatmulArgs, bias?: DeviceBuffer): DeviceBuffer {
    return this.track(matmulCpu(f(a), f(b), args, bias && f(bias)));
  }
  matmulSums(
    a: DeviceBuffer,
    b: DeviceBuffer,
    args: MatmulArgs,
    of: "rows" | "cols",
  ): [DeviceBuffer, DeviceBuffer] {
    const { m, n, k, transA, transB } = args;
    const x = of === "rows" ? f(a) : f(b);
    // op(A)[i, p] is A[i·k + p] (or A[p·m + i] stored transposed); op(B)[p, j] likewise.
    const len = of === "rows" ? m : n;
    const stored = of === "rows" ? transA : !transB;
    const sums = new Float32Array(len);
    for (let i = 0; i < len; i++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += stored ? x[p * len + i] : x[i * k + p];
      sums[i] = s;
    }
    return [this.track(matmulCpu(f(a), f(b), args)), this.track(sums)];
  }
  matmulAct(
    a: DeviceBuffer,
    b: DeviceBuffer,
    args: MatmulArgs,
    act: UnaryOp,
    keepPre: boolean,
    bias?: DeviceBuffer,
  ): [DeviceBuffer, DeviceBuffer | null] {
    const pre = matmulCpu(f(a), f(b), args, bias && f(bias));
    return [this.track(unaryCpu(act, pre)), keepPre ? this.track(pre) : null];
  }
  softmax(x: DeviceBuffer, rows: number, cols: number, log: boolean): DeviceBuffer {
    return this.track(softmaxCpu(f(x), rows, cols, log));
  }
  softmaxGrad(
    y: DeviceBuffer,
    dy: DeviceBuffer,
    rows: number,
    cols: number,
    log: boolean,
  ): DeviceBuffer {
    return this.track(softmaxGradCpu(f(y), f(dy), rows, cols, log));
  }
  gather(
    x: DeviceBuffer,
    idx: DeviceBuffer,
    outer: number,
    axis: number,
    inner: number,
    nIdx: number,
  ): DeviceBuffer {
    return this.track(
      gatherCpu(f(x), (idx as CpuBuffer).data as Int32Array, outer, axis, inner, nIdx),
    );
  }
  scatterAdd(
    dy: DeviceBuffer,
    idx: DeviceBuffer,
    outer: number,
    axis: number,
    inner: number,
    nIdx: number,
  ): DeviceBuffer {
    return this.track(
      scatterAddCpu(f(dy), (idx as CpuBuffer).data as Int32Array, outer, axis, inner, nIdx),
    );
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
    const r = layerNormCpu(f(x), w && f(w), b && f(b), rows, cols, eps, rms);
    return { y: this.track(r.y), mean: this.track(r.mean), rstd: this.track(r.rstd) };
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
    const g = layerNormGradCpu(f(x), w && f(w), f(mean), f(rstd), f(dy), rows, cols, rms);
    return { dx: this.track(g.dx), dw: this.track(g.dw), db: this.track(g.db) };
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
    return this.track(conv1dCpu(f(x), f(w), f(bias), batch, length, channels, kernel));
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
    const g = conv1dGradCpu(f(x), f(w), f(dy), batch, length, channels, kernel);
    return { dx: this.track(g.dx), dw: this.track(g.dw), db: this.track(g.db) };
  }
  selectiveScan(inp: ScanInputs, args: ScanArgs) {
    const r = selectiveScanCpu(scanArrays(inp, args), args);
    return { out: this.track(r.out), saved: r.saved.map((s) => this.track(s)) };
  }
  selectiveScanGrad(
    inp: ScanInputs,
    saved: DeviceBuffer[],
    dout: DeviceBuffer,
    args: ScanArgs,
  ): ScanGrads {
    const g = selectiveScanGradCpu(scanArrays(inp, args), saved.map(f), f(dout), args);
    const out: ScanGrads = {
      dx: this.track(g.dx),
      dDelta: this.track(g.dDelta),
      dDeltaBias: this.track(g.dDeltaBias),
      dA: this.track(g.dA),
      dBC: this.track(joinBC(g.dBm, g.dCm, args.state)),
      dDskip: this.track(g.dDskip),
    };
    if (g.dz) out.dz = this.track(g.dz);
    return out;
  }
  attention(q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, args: AttentionArgs) {
    const r = attentionCpu(f(q), f(k), f(v), args);
    return { o: this.track(r.o), lse: this.track(r.lse) };
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
    const g = attentionGradCpu(f(q), f(k), f(v), f(o), f(lse), f(dO), args);
    return { dq: this.track(g.dq), dk: this.track(g.dk), dv: this.track(g.dv) };
  }
  attentionPacked(qkv: DeviceBuffer, args: AttentionArgs) {
    const [q, k, v] = unpackQkv(f(qkv), args);
    const r = attentionCpu(q, k, v, args);
    return { o: this.track(headsToTokens(r.o, args)), lse: this.track(r.lse) };
  }
  attentionPackedGrad(
    qkv: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    dO: DeviceBuffer,
    args: AttentionArgs,
  ): DeviceBuffer {
    const [q, k, v] = unpackQkv(f(qkv), args);
    const oh = tokensToHeads(f(o), args), dOh = tokensToHeads(f(dO), args);
    const g = attentionGradCpu(q, k, v, oh, f(lse), dOh, args);
    return this.track(packQkv([g.dq, g.dk, g.dv], args));
  }
  adam(items: readonly AdamItem[], hyper: AdamHyper, gradScale: DeviceBuffer | null): void {
    for (const { p, g, m, v, n, step } of items) {
      adamCpu(f(p), f(g), f(m), f(v), { ...hyper, n, step }, gradScale && f(gradScale));
    }
  }
  gradNorm(items: readonly { buf: DeviceBuffer; n: number }[], maxNorm: number) {
    let s = 0;
    for (const { buf, n } of items) {
      const x = f(buf);
      for (let i = 0; i < n; i++) s += x[i] * x[i];
    }
    const norm = Math.sqrt(s);
    const scale = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
    return [this.track(Float32Array.of(norm)), this.track(Float32Array.of(scale))] as [
      DeviceBuffer,
      DeviceBuffer,
    ];
  }
  allocParts(sizes: readonly number[]): DeviceBuffer[] {
    return sizes.map((n) => this.alloc(n, "f32"));
  }
  lstmCell(gates: DeviceBuffer, prev: DeviceBuffer | null, batch: number, hidden: number) {
    return this.track(lstmCellCpu(f(gates), prev && f(prev), batch, hidden));
  }
  lstmCellGrad(
    gates: DeviceBuffer,
    prev: DeviceBuffer | null,
    dhc: DeviceBuffer,
    batch: number,
    hidden: number,
  ) {
    const g = lstmCellGradCpu(f(gates), prev && f(prev), f(dhc), batch, hidden);
    return { dGates: this.track(g.dGates), dPrev: g.dPrev && this.track(g.dPrev) };
  }
}

function scanArrays(inp: ScanInputs, args: ScanArgs) {
  const [Bm, Cm] = splitBC(f(inp.BC), args.state);
  return {
    x: f(inp.x),
    delta: f(inp.delta),
    deltaBias: f(inp.deltaBias),
    A: f(inp.A),
    Bm,
    Cm,
    Dskip: f(inp.Dskip),
    z: inp.z ? f(inp.z) : undefined,
  };
}
