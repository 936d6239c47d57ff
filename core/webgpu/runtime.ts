/**
 * The WebGPU runtime: one command encoder per step, a buffer pool, packed uniforms, and cached
 * pipelines and bind groups. Kernels call `dispatch`; nothing reaches the GPU until `flush`
 * (which `read` calls). A buffer released while commands are being recorded is reused at once
 * by later kernels of the same encoder (commands run in order, so a later kernel's writes land
 * after the earlier reads), which keeps a step's peak memory near what is live at once. Only a
 * `queue.writeBuffer` into such a buffer would run too early (before the pending commands that
 * still read its old contents): those writes go through a staging buffer and a copy recorded in
 * the encoder.
 */
import type { GpuContext } from "./device.ts";
import { type Kernel, type KernelLayout, parseLayout } from "./kernel.ts";
import type { AdapterProfile } from "./profile.ts";

export type { Kernel } from "./kernel.ts";

export interface GpuBuffer {
  /** Usable bytes (a pooled buffer's size class, or a part's size rounded up to 16). */
  readonly bytes: number;
  readonly buffer: GPUBuffer;
  /** Where this buffer's bytes start in `buffer`: 0, except for a part of a packed allocation. */
  readonly offset: number;
  readonly id: number;
  /**
   * A part's shared owner: the whole returns to the pool when its last part is released.
   * `zeroPadded`: the bytes between parts are zero and stay so (the backend's allocParts), so a
   * kernel may run over several adjacent parts as one range.
   */
  readonly pack?: { readonly whole: GpuBuffer; live: number; zeroPadded?: boolean };
}

/**
 * Whether `next` is the part right after `prev` in one zero-padded pack (offsets aligned to
 * `align` bytes, as allocParts lays them out): a kernel may then cover both as one range.
 */
export function follows(prev: GpuBuffer, next: GpuBuffer, align: number): boolean {
  return !!prev.pack?.zeroPadded && prev.pack === next.pack &&
    next.offset === prev.offset + Math.ceil(prev.bytes / align) * align;
}

/** One pooled buffer holding several tensors: bind `whole` once, index by `offsets`. */
export interface Packed {
  readonly whole: GpuBuffer;
  /** Each part as a buffer of its own (binding offsets aligned for any kernel to read). */
  readonly parts: GpuBuffer[];
  /** Element (4-byte word) offsets of the parts in `whole`, for a kernel's uniforms. */
  readonly offsets: number[];
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

const UNIFORM_STRIDE = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_CAPACITY = 1 << 20; // 4096 dispatches per flush
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Size classes: powers of two up to 1 MiB, then multiples of 1 MiB (bounded waste). */
function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 1 << 20) return 1 << Math.ceil(Math.log2(b));
  return Math.ceil(b / (1 << 20)) * (1 << 20);
}

/** A kernel's buffers and textures by binding name. */
export type Bindings = Readonly<Record<string, GpuBuffer | GpuTexture>>;
/** A kernel's uniforms by field name (written as the field's WGSL type says). */
export type Uniforms = Readonly<Record<string, number>>;

interface Pipeline {
  pipe: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  kernel: KernelLayout;
}

export class Runtime {
  readonly device: GPUDevice;
  /** Per-adapter kernel choices (profile.ts); `withProfile` gives a runtime with others. */
  readonly profile: AdapterProfile;
  private nextId = 1;
  /** Buffers no recorded command references: any use, writes from the host included. */
  private free = new Map<number, GpuBuffer[]>();
  /** Released while the current encoder records: reusable by its later commands only. */
  private reusable = new Map<number, GpuBuffer[]>();
  /** Taken from `reusable` in this encoder: host writes into them are staged (see `write`). */
  private reused = new Set<GPUBuffer>();
  private freeTextures = new Map<number, GpuTexture[]>();
  bytesAllocated = 0;
  bytesInUse = 0;
  /** Highest bytesAllocated / bytesInUse since `resetPeaks` (benchmarks' peak memory). */
  peakAllocated = 0;
  peakInUse = 0;
  private pipelines = new Map<string, Pipeline>();
  private partIds = new Map<string, number>();
  /** Error-scope results (of submitted encoders, of pipeline creation), checked at the next sync. */
  private pendingErrors: Promise<string | null>[] = [];
  private bindGroups = new Map<string, GPUBindGroup>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformBuffer: GPUBuffer;
  private uniformData = new ArrayBuffer(UNIFORM_CAPACITY);
  private uniformF32 = new Float32Array(this.uniformData);
  private uniformU32 = new Uint32Array(this.uniformData);
  private uniformI32 = new Int32Array(this.uniformData);
  private uniformOffset = 0;
  private staging: GPUBuffer[] = [];
  /** Dispatches recorded since start (for benchmarks). */
  dispatches = 0;
  /** When set, every dispatch gets its own timed pass (see profiler.ts). */
  profiler: { pass(rt: Runtime, name: string): GPUComputePassEncoder } | null = null;

  constructor(readonly ctx: GpuContext, profile: AdapterProfile = ctx.profile) {
    this.device = ctx.device;
    this.profile = profile;
    this.uniformBuffer = this.device.createBuffer({
      size: UNIFORM_CAPACITY,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  alloc(bytes: number): GpuBuffer {
    const cls = sizeClass(bytes);
    let buf = this.reusable.get(cls)?.pop();
    if (buf) this.reused.add(buf.buffer);
    else buf = this.free.get(cls)?.pop();
    if (!buf) {
      const buffer = this.device.createBuffer({ size: cls, usage: USAGE });
      buf = { bytes: cls, buffer, offset: 0, id: this.nextId++ };
      this.bytesAllocated += cls;
      this.peakAllocated = Math.max(this.peakAllocated, this.bytesAllocated);
    }
    this.bytesInUse += cls;
    this.peakInUse = Math.max(this.peakInUse, this.bytesInUse);
    return buf;
  }

  /** Start measuring peaks from the current usage. */
  resetPeaks(): void {
    this.peakAllocated = this.bytesAllocated;
    this.peakInUse = this.bytesInUse;
  }

  /**
   * One pooled buffer split into parts of the given byte sizes, each a buffer of its own for the
   * kernels that read it later. A kernel with more outputs than WebGPU's 8 storage bindings allow
   * writes them all through `whole`.
   */
  /** Byte alignment of the parts of a pack (a storage binding's offset alignment). */
  get partAlign(): number {
    return Math.max(16, this.ctx.limits.minStorageBufferOffsetAlignment);
  }

  /**
   * A binding of `bytes` from `first`'s start in its pack's buffer (parts from there on, seen
   * as one range; see `follows`). Not released on its own: the parts are.
   */
  span(first: GpuBuffer, bytes: number): GpuBuffer {
    const whole = first.pack?.whole ?? first;
    const key = `${whole.id}:${first.offset}:${bytes}`;
    let id = this.partIds.get(key);
    if (id === undefined) this.partIds.set(key, id = this.nextId++);
    return { bytes: Math.ceil(bytes / 16) * 16, buffer: first.buffer, offset: first.offset, id };
  }

  allocParts(sizes: readonly number[]): Packed {
    const align = this.partAlign;
    const starts: number[] = [];
    let end = 0;
    for (const b of sizes) {
      starts.push(end);
      end += Math.ceil(Math.max(b, 16) / align) * align;
    }
    const whole = this.alloc(end);
    const pack: NonNullable<GpuBuffer["pack"]> = { whole, live: sizes.length };
    const parts = sizes.map((b, i) => {
      // Ids stable across steps (same pooled buffer, same layout) keep bind groups cached.
      const key = `${whole.id}:${starts[i]}:${b}`;
      let id = this.partIds.get(key);
      if (id === undefined) this.partIds.set(key, id = this.nextId++);
      const bytes = Math.ceil(Math.max(b, 16) / 16) * 16;
      return { bytes, buffer: whole.buffer, offset: starts[i], id, pack };
    });
    return { whole, parts, offsets: starts.map((o) => o / 4) };
  }

  release(buf: GpuBuffer): void {
    if (buf.pack) {
      if (--buf.pack.live === 0) this.release(buf.pack.whole);
      return;
    }
    this.bytesInUse -= buf.bytes;
    const pool = this.encoder ? this.reusable : this.free;
    let list = pool.get(buf.bytes);
    if (!list) pool.set(buf.bytes, list = []);
    list.push(buf);
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
    offset += buf.offset;
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
    this.partIds.clear();
  }

  /**
   * Host data into a buffer, ordered with the recorded commands: directly (queue.writeBuffer runs
   * before this encoder's commands, right for a buffer none of them uses), or, for a buffer
   * reused within this encoder, through a staging buffer and a recorded copy.
   */
  write(buf: GpuBuffer, data: ArrayBufferView, byteOffset = 0): void {
    if (this.reused.has(buf.buffer)) {
      const bytes = Math.ceil(data.byteLength / 4) * 4;
      const tmp = this.allocFree(bytes);
      this.write(tmp, data);
      this.copyBuffer(tmp, 0, buf, byteOffset, bytes);
      this.release(tmp);
      return;
    }
    this.device.queue.writeBuffer(
      buf.buffer,
      buf.offset + byteOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** A buffer no recorded command uses (never one from `reusable`). */
  private allocFree(bytes: number): GpuBuffer {
    const cls = sizeClass(bytes);
    const keep = this.reusable.get(cls);
    this.reusable.delete(cls);
    const buf = this.alloc(bytes);
    if (keep) this.reusable.set(cls, keep);
    return buf;
  }

  /**
   * Pipelines are keyed by kernel name. The layout is explicit (read from the WGSL's
   * declarations) because "auto" layouts cannot have the dynamic uniform offset we rely on.
   */
  private pipeline(kernel: Kernel): Pipeline {
    let p = this.pipelines.get(kernel.name);
    if (!p) {
      const parsed = parseLayout(kernel);
      const storage = parsed.bindings.filter((b) => b.kind !== "texture").length;
      if (storage > this.ctx.limits.maxStorageBuffersPerShaderStage) {
        throw new Error(
          `${kernel.name}: binds ${storage} storage buffers; this device allows ` +
            `${this.ctx.limits.maxStorageBuffersPerShaderStage} per stage`,
        );
      }
      const entries: GPUBindGroupLayoutEntry[] = [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true },
      }];
      parsed.bindings.forEach((b, i) =>
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          ...(b.kind === "texture" ? { texture: { sampleType: "unfilterable-float" as const } } : {
            buffer: { type: b.kind === "read" ? "read-only-storage" as const : "storage" as const },
          }),
        })
      );
      // Its own scope: wgpu's messages about a pipeline do not always carry its label.
      this.device.pushErrorScope("validation");
      const layout = this.device.createBindGroupLayout({ entries, label: kernel.name });
      const module = this.device.createShaderModule({ code: kernel.wgsl, label: kernel.name });
      const pipe = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
        label: kernel.name,
      });
      this.pendingErrors.push(this.scopeResult(`kernel ${kernel.name}: `));
      p = { pipe, layout, kernel: parsed };
      this.pipelines.set(kernel.name, p);
    }
    return p;
  }

  /** Workgroups for `groups` of them, folded into y past the per-dimension limit. */
  grid(groups: number): [number, number] {
    const max = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    const x = Math.max(1, Math.min(groups, max));
    return [x, Math.ceil(groups / x)];
  }

  /**
   * Record one dispatch of `kernel` with its buffers and uniforms by the names its WGSL declares
   * (every one given, no others). Workgroups beyond the per-dimension limit are an error.
   */
  dispatch(
    kernel: Kernel,
    buffers: Bindings,
    uniforms: Uniforms,
    workgroups: readonly [number, number?, number?],
  ): void {
    if (this.uniformOffset + UNIFORM_STRIDE > UNIFORM_CAPACITY) this.flush();
    this.encoderNow(); // first: its error scopes must see the pipeline's creation
    const { pipe, layout, kernel: kl } = this.pipeline(kernel);
    const off = this.uniformOffset;
    const base = off / 4;
    const fields = kl.uniforms;
    for (let i = 0; i < fields.length; i++) {
      const v = uniforms[fields[i].name];
      if (v === undefined) {
        throw new Error(`${kernel.name}: no value for uniform "${fields[i].name}"`);
      }
      if (fields[i].type === "f32") this.uniformF32[base + i] = v;
      else if (fields[i].type === "i32") this.uniformI32[base + i] = v;
      else this.uniformU32[base + i] = v;
    }
    let given = 0;
    for (const _ in uniforms) given++;
    if (given !== fields.length) unknownNames(kernel, "uniform", uniforms, fields);
    let key = kernel.name;
    const bl = kl.bindings;
    for (let i = 0; i < bl.length; i++) {
      const b = buffers[bl[i].name];
      if (b === undefined) throw new Error(`${kernel.name}: no buffer for binding "${bl[i].name}"`);
      key += ":" + b.id;
    }
    given = 0;
    for (const _ in buffers) given++;
    if (given !== bl.length) unknownNames(kernel, "binding", buffers, bl);
    this.uniformOffset += UNIFORM_STRIDE;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      checkAliasing(kernel, bl, buffers);
      bg = this.device.createBindGroup({
        layout,
        label: kernel.name,
        entries: [
          { binding: 0, resource: { buffer: this.uniformBuffer, size: UNIFORM_STRIDE } },
          ...bl.map((d, i) => {
            const b = buffers[d.name];
            if (("view" in b) !== (d.kind === "texture")) {
              throw new Error(
                `${kernel.name}: "${d.name}" wants a ${
                  d.kind === "texture" ? "texture" : "buffer"
                }`,
              );
            }
            return {
              binding: i + 1,
              resource: "view" in b
                ? b.view
                : { buffer: b.buffer, offset: b.offset, size: b.bytes },
            };
          }),
        ],
      });
      if (this.bindGroups.size > 20000) {
        this.bindGroups.clear();
        this.partIds.clear();
      }
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

  /**
   * The step's encoder. Its commands run inside error scopes, so a validation or out-of-memory
   * error stops the run at the next sync with the error (which names the kernel's pipeline)
   * instead of a logged line and garbage results. Two scopes per encoder cost about 2 µs.
   */
  private encoderNow(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope("out-of-memory");
      this.device.pushErrorScope("validation");
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.encoderNow().beginComputePass();
    return this.pass;
  }

  /** Internal (profiler): the current encoder with no open pass. */
  encoderForPass(): GPUCommandEncoder {
    return this.endPass();
  }

  private endPass(): GPUCommandEncoder {
    const enc = this.encoderNow();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return enc;
  }

  copyBuffer(
    src: GpuBuffer,
    srcOffset: number,
    dst: GpuBuffer,
    dstOffset: number,
    bytes: number,
  ): void {
    const enc = this.endPass();
    enc.copyBufferToBuffer(
      src.buffer,
      src.offset + srcOffset,
      dst.buffer,
      dst.offset + dstOffset,
      bytes,
    );
  }

  /** Zero a buffer's bytes, recorded in the step's encoder. */
  clear(buf: GpuBuffer): void {
    this.endPass().clearBuffer(buf.buffer, buf.offset, buf.bytes);
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
      this.pendingErrors.push(this.scopeResult(""), this.scopeResult(""));
    }
    for (const [cls, bufs] of this.reusable) {
      let list = this.free.get(cls);
      if (!list) this.free.set(cls, list = []);
      list.push(...bufs);
    }
    this.reusable.clear();
    this.reused.clear();
  }

  /** Copy `bytes` from a buffer to the host; the only place that waits for the GPU. */
  async read(buf: GpuBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const idx = this.staging.findIndex((s) => s.size >= size);
    const staging = idx >= 0 ? this.staging.splice(idx, 1)[0] : this.device.createBuffer({
      size: sizeClass(size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.endPass();
    enc.copyBufferToBuffer(buf.buffer, buf.offset, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    await this.checkErrors();
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.staging.push(staging);
    return out;
  }

  /** Wait until all submitted work has finished (benchmarks). */
  async sync(): Promise<void> {
    this.flush();
    await this.checkErrors();
    await this.device.queue.onSubmittedWorkDone();
    this.throwFailure();
  }

  /** The innermost error scope's error as a message (prefixed), or null. */
  private scopeResult(prefix: string): Promise<string | null> {
    return this.device.popErrorScope().then((e) => {
      if (!e) return null;
      const kind = e instanceof GPUOutOfMemoryError ? "out of memory" : "validation error";
      return `WebGPU ${kind} on ${this.ctx.adapterName}: ${prefix}${e.message}`;
    });
  }

  /** Throws the first WebGPU error reported since the last check. */
  private async checkErrors(): Promise<void> {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    for (const message of await Promise.all(pending)) if (message) throw new Error(message);
    this.throwFailure();
  }

  private throwFailure(): void {
    if (this.ctx.failure) throw new Error(this.ctx.failure);
  }

  /** A runtime on the same device with some profile choices replaced (tests, benchmarks). */
  withProfile(overrides: Partial<AdapterProfile>): Runtime {
    return new Runtime(this.ctx, { ...this.profile, ...overrides });
  }
}

function unknownNames(
  kernel: Kernel,
  what: string,
  given: object,
  declared: readonly { name: string }[],
): never {
  const names = new Set(declared.map((d) => d.name));
  const extra = Object.keys(given).filter((k) => !names.has(k));
  throw new Error(`${kernel.name}: no ${what} named ${extra.map((k) => `"${k}"`).join(", ")}`);
}

/**
 * WebGPU treats a buffer as one resource: bound writable in a dispatch, it may not also be bound
 * read-only in it (parts of one packed allocation included). Checked once per bind group.
 */
function checkAliasing(
  kernel: Kernel,
  bindings: KernelLayout["bindings"],
  buffers: Bindings,
): void {
  const written = new Set<GPUBuffer>();
  for (const d of bindings) {
    const b = buffers[d.name];
    if (d.kind === "read_write" && !("view" in b)) written.add(b.buffer);
  }
  for (const d of bindings) {
    const b = buffers[d.name];
    if (d.kind === "read" && !("view" in b) && written.has(b.buffer)) {
      throw new Error(`${kernel.name}: "${d.name}" shares a buffer with an output of the dispatch`);
    }
  }
}
