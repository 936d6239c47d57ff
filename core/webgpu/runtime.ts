/**
 * The WebGPU runtime: one command encoder per step, a buffer pool, packed uniforms, and cached
 * pipelines and bind groups. Kernels call `dispatch`; nothing reaches the GPU until `flush`
 * (which `read` calls). Released buffers return to the pool only after the flush that ends the
 * encoder using them, because `queue.writeBuffer` into a recycled buffer would otherwise run
 * before the pending commands that still read its old contents.
 */
import type { GpuContext } from "./device.ts";

export interface GpuBuffer {
  readonly bytes: number;
  readonly buffer: GPUBuffer;
  readonly id: number;
}

/**
 * An rgba32float texture holding a buffer's floats as vec4 texels in row-major order, TEX_W texels
 * per texture row (texel i sits at (i % TEX_W, i / TEX_W)). Software adapters read textures with
 * vectorised gathers where storage-buffer loads are per-lane loops (see matmul_sw.ts).
 */
export interface GpuTexture {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  /** Texture rows (its size class); holds rows * TEX_W texels. */
  readonly rows: number;
  readonly bytes: number;
  readonly id: number;
}

/** Texels per texture row: a power of two (kernels split indices by shift and mask). */
export const TEX_W = 2048;
export const TEX_W_LOG2 = 11;

/**
 * A compute kernel: WGSL whose entry point is `main`, with `@group(0) @binding(0) var<uniform> u`
 * (a struct of 4-byte fields) and storage buffers at bindings 1.. in the order `dispatch` gets
 * them, each declared `var<storage, read>` or `var<storage, read_write>` (or `texture_2d<f32>`
 * for a GpuTexture). The name must identify the WGSL text: it keys the pipeline cache.
 */
export interface Kernel {
  readonly name: string;
  readonly wgsl: string;
}

const UNIFORM_STRIDE = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_CAPACITY = 1 << 20; // 4096 dispatches per flush
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Size classes: powers of two up to 1 MiB, then multiples of 1 MiB (bounded waste). */
function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 1 << 20) return 1 << Math.ceil(Math.log2(b));
  return Math.ceil(b / (1 << 20)) * (1 << 20);
}

export class Runtime {
  readonly device: GPUDevice;
  private nextId = 1;
  private free = new Map<number, GpuBuffer[]>();
  private retired: GpuBuffer[] = [];
  private freeTextures = new Map<number, GpuTexture[]>();
  bytesAllocated = 0;
  bytesInUse = 0;
  private pipelines = new Map<string, { pipe: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformBuffer: GPUBuffer;
  private uniformData = new ArrayBuffer(UNIFORM_CAPACITY);
  private uniformF32 = new Float32Array(this.uniformData);
  private uniformU32 = new Uint32Array(this.uniformData);
  private uniformOffset = 0;
  private staging: GPUBuffer[] = [];
  /** Dispatches recorded since start (for benchmarks). */
  dispatches = 0;
  /** When set, every dispatch gets its own timed pass (see profiler.ts). */
  profiler: { pass(rt: Runtime, name: string): GPUComputePassEncoder } | null = null;

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
    this.uniformBuffer = this.device.createBuffer({
      size: UNIFORM_CAPACITY,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  alloc(bytes: number): GpuBuffer {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    let buf = list?.pop();
    if (!buf) {
      const buffer = this.device.createBuffer({ size: cls, usage: USAGE });
      buf = { bytes: cls, buffer, id: this.nextId++ };
      this.bytesAllocated += cls;
    }
    this.bytesInUse += cls;
    return buf;
  }

  release(buf: GpuBuffer): void {
    this.bytesInUse -= buf.bytes;
    this.retired.push(buf);
  }

  /**
   * A pooled texture filled from `texels` vec4s of `buf` starting at byte `offset` (a multiple of
   * 16), by a copy recorded in this step's encoder. Give it back with releaseTexture.
   */
  texture(buf: GpuBuffer, offset: number, texels: number): GpuTexture {
    const full = Math.floor(texels / TEX_W), rest = texels - full * TEX_W;
    const rows = sizeClass(full + (rest ? 1 : 0));
    if (rows > this.ctx.limits.maxTextureDimension2D) {
      throw new Error(`texture: ${texels} texels exceed the adapter's texture size`);
    }
    let tex = this.freeTextures.get(rows)?.pop();
    if (!tex) {
      const texture = this.device.createTexture({
        size: [TEX_W, rows],
        format: "rgba32float",
        usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      });
      const bytes = 16 * TEX_W * rows;
      tex = { texture, view: texture.createView(), rows, bytes, id: this.nextId++ };
      this.bytesAllocated += bytes;
    }
    this.bytesInUse += tex.bytes;
    const enc = this.endPass();
    const row = 16 * TEX_W;
    if (full) {
      enc.copyBufferToTexture({ buffer: buf.buffer, offset, bytesPerRow: row }, {
        texture: tex.texture,
      }, [TEX_W, full]);
    }
    if (rest) {
      enc.copyBufferToTexture({ buffer: buf.buffer, offset: offset + full * row }, {
        texture: tex.texture,
        origin: [0, full],
      }, [rest, 1]);
    }
    return tex;
  }

  /**
   * Unlike a buffer, a texture is reusable at once: only copies recorded in this encoder write
   * it, and they run in order after the commands that read its previous contents.
   */
  releaseTexture(tex: GpuTexture): void {
    this.bytesInUse -= tex.bytes;
    let list = this.freeTextures.get(tex.rows);
    if (!list) this.freeTextures.set(tex.rows, list = []);
    list.push(tex);
  }

  /** Give pooled buffers back to the system (after a phase with larger shapes). */
  trim(): void {
    for (const list of this.freeTextures.values()) {
      for (const t of list) {
        t.texture.destroy();
        this.bytesAllocated -= t.bytes;
      }
    }
    this.freeTextures.clear();
    for (const list of this.free.values()) {
      for (const b of list) {
        b.buffer.destroy();
        this.bytesAllocated -= b.bytes;
      }
    }
    this.free.clear();
    this.bindGroups.clear();
  }

  write(buf: GpuBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.device.queue.writeBuffer(
      buf.buffer,
      byteOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /**
   * Pipelines are keyed by kernel name. The layout is explicit (read from the WGSL's storage
   * declarations) because "auto" layouts cannot have the dynamic uniform offset we rely on.
   */
  pipeline(kernel: Kernel): { pipe: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let p = this.pipelines.get(kernel.name);
    if (!p) {
      const entries: GPUBindGroupLayoutEntry[] = [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true },
      }];
      const re =
        /@binding\((\d+)\)\s*var(?:<storage,\s*(read_write|read)>|\s+\w+\s*:\s*texture_2d)/g;
      for (const m of kernel.wgsl.matchAll(re)) {
        entries.push({
          binding: Number(m[1]),
          visibility: GPUShaderStage.COMPUTE,
          ...(m[2] === undefined ? { texture: { sampleType: "unfilterable-float" as const } } : {
            buffer: { type: m[2] === "read" ? "read-only-storage" as const : "storage" as const },
          }),
        });
      }
      const layout = this.device.createBindGroupLayout({ entries, label: kernel.name });
      const module = this.device.createShaderModule({ code: kernel.wgsl, label: kernel.name });
      const pipe = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
        label: kernel.name,
      });
      p = { pipe, layout };
      this.pipelines.set(kernel.name, p);
    }
    return p;
  }

  /**
   * Record one dispatch. `uniforms` are written as u32 (integers) or f32 (values marked by
   * `f32Mask` bit i) in order, matching the kernel's uniform struct of 4-byte fields.
   */
  dispatch(
    kernel: Kernel,
    buffers: (GpuBuffer | GpuTexture)[],
    uniforms: readonly number[],
    workgroups: [number, number?, number?],
    f32Mask = 0,
  ): void {
    if (this.uniformOffset + UNIFORM_STRIDE > UNIFORM_CAPACITY) this.flush();
    const off = this.uniformOffset;
    const base = off / 4;
    for (let i = 0; i < uniforms.length; i++) {
      if ((f32Mask >> i) & 1) this.uniformF32[base + i] = uniforms[i];
      else this.uniformU32[base + i] = uniforms[i];
    }
    this.uniformOffset += UNIFORM_STRIDE;
    const { pipe, layout } = this.pipeline(kernel);
    let key = kernel.name;
    for (const b of buffers) key += ":" + b.id;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      bg = this.device.createBindGroup({
        layout,
        entries: [
          { binding: 0, resource: { buffer: this.uniformBuffer, size: UNIFORM_STRIDE } },
          ...buffers.map((b, i) => ({
            binding: i + 1,
            resource: "view" in b ? b.view : { buffer: b.buffer },
          })),
        ],
      });
      if (this.bindGroups.size > 20000) this.bindGroups.clear();
      this.bindGroups.set(key, bg);
    }
    const pass = this.profiler ? this.profiler.pass(this, kernel.name) : this.computePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bg, [off]);
    const [x, y = 1, z = 1] = workgroups;
    const max = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new Error(
        `${kernel.name}: dispatch ${x}x${y}x${z} exceeds ${max} workgroups per dimension`,
      );
    }
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) pass.end();
    this.dispatches++;
  }

  private computePass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  /** Internal (profiler): the current encoder with no open pass. */
  encoderForPass(): GPUCommandEncoder {
    return this.endPass();
  }

  private endPass(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  copyBuffer(
    src: GpuBuffer,
    srcOffset: number,
    dst: GpuBuffer,
    dstOffset: number,
    bytes: number,
  ): void {
    this.endPass().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
  }

  /** Submit everything recorded; retired buffers become reusable. */
  flush(): void {
    if (this.encoder) {
      const enc = this.endPass();
      if (this.uniformOffset > 0) {
        this.device.queue.writeBuffer(
          this.uniformBuffer,
          0,
          this.uniformData,
          0,
          this.uniformOffset,
        );
      }
      this.device.queue.submit([enc.finish()]);
      this.encoder = null;
      this.uniformOffset = 0;
    }
    for (const b of this.retired) {
      let list = this.free.get(b.bytes);
      if (!list) this.free.set(b.bytes, list = []);
      list.push(b);
    }
    this.retired = [];
  }

  /** Copy `bytes` from a buffer to the host; the only place that waits for the GPU. */
  async read(buf: GpuBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const idx = this.staging.findIndex((s) => s.size >= size);
    const staging = idx >= 0 ? this.staging.splice(idx, 1)[0] : this.device.createBuffer({
      size: sizeClass(size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.endPass().copyBufferToBuffer(buf.buffer, 0, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.staging.push(staging);
    return out;
  }

  /** Wait until all submitted work has finished (benchmarks). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }
}
