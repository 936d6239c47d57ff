/**
 * Tensor: a shape, a dtype and a reference-counted device buffer, plus the autograd links.
 * Ownership is explicit: every tensor created inside `tidy` is disposed when the scope ends
 * unless it is returned or `keep()`-ed, so a training step's temporaries die with the step and
 * nothing depends on the garbage collector to free device memory.
 */
import type { Backend, DeviceBuffer, DType } from "./backend.ts";
import { fmt, type Shape, sizeOf } from "./shape.ts";

/** A device buffer shared by tensors that are views of the same data (e.g. reshape). */
class Storage {
  refs = 1;
  constructor(readonly backend: Backend, readonly buf: DeviceBuffer) {}
  retain(): this {
    this.refs++;
    return this;
  }
  drop(): void {
    if (--this.refs === 0) this.backend.release(this.buf);
  }
}

/** How a tensor was made: its inputs and the vector-Jacobian product as other ops. */
export interface GradFn {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  backward(dy: Tensor): readonly (Tensor | BlockGrad | null)[];
}

/**
 * A gradient that is zero outside one block of its input along `axis` (slice's adjoint), given as
 * the block alone. Autograd keeps the blocks until the input's own gradient is needed, so slices
 * that tile a tensor (Mamba's x|z, an LSTM's four gates) give it one buffer written by one copy
 * per block, not zero-filled pads summed pairwise.
 */
export interface BlockGrad {
  readonly block: Tensor;
  readonly axis: number;
  readonly start: number;
}

let nextId = 1;
let liveTensors = 0;
const scopes: Set<Tensor>[] = [];

export class Tensor {
  readonly id = nextId++;
  /** The id the next tensor will get (ids only grow: tensors made after a point are ≥ it). */
  static get nextId(): number {
    return nextId;
  }
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: Backend;
  private storage: Storage | null;
  /** Gradients flow to this tensor (parameters, or results of ops on them). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor; owned by the tensor, freed by `zeroGrad`. */
  grad: Tensor | null = null;
  /**
   * Where backward writes this leaf's gradient (`grad` is then a view of it): an optimizer's
   * packed gradient storage, so that clipping and Adam read every gradient from one buffer.
   */
  gradHome: Tensor | null = null;
  gradFn: GradFn | null = null;
  /** Optional name (parameter path) used in error messages and checkpoints. */
  name = "";
  /**
   * The values of an i32 tensor made on the host (fromInts), kept so that ops taking indices
   * can check them without a readback; null for data that only the device has.
   */
  hostInts: Int32Array | null = null;

  /** Internal: use the creation functions in core/create.ts or ops instead. */
  constructor(backend: Backend, buf: DeviceBuffer | Storage, shape: Shape, dtype: DType = "f32") {
    this.backend = backend;
    this.shape = [...shape];
    this.dtype = dtype;
    this.storage = buf instanceof Storage ? buf.retain() : new Storage(backend, buf);
    liveTensors++;
    scopes.at(-1)?.add(this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** The device buffer; throws if the tensor was disposed. */
  buf(op = "use"): DeviceBuffer {
    if (!this.storage) {
      throw new Error(`${op}: tensor ${this.describe()} was already disposed`);
    }
    return this.storage.buf;
  }

  describe(): string {
    return `${this.name ? this.name + " " : ""}${this.dtype}${fmt(this.shape)}`;
  }

  /** A tensor with another shape over the same buffer (no copy). Internal; ops use reshape. */
  view(shape: Shape): Tensor {
    if (!this.storage) throw new Error(`reshape: tensor ${this.describe()} was already disposed`);
    const v = new Tensor(this.backend, this.storage, shape, this.dtype);
    v.hostInts = this.hostInts;
    return v;
  }

  /** Whether another tensor (a view) shares this tensor's buffer. */
  get sharesStorage(): boolean {
    return (this.storage?.refs ?? 1) > 1;
  }

  /**
   * Internal (optimizers packing their parameters): copy the data into `buf`, a buffer of this
   * size on this backend, which the tensor owns from now on. Not for a tensor a view shares.
   */
  rehome(buf: DeviceBuffer): void {
    if (!this.storage) throw new Error(`rehome: tensor ${this.describe()} was already disposed`);
    if (this.sharesStorage) throw new Error(`rehome: a view shares ${this.describe()}`);
    const v = { offset: 0, strides: [1] };
    this.backend.copy(this.storage.buf, v, buf, v, [this.size]);
    this.storage.drop();
    this.storage = new Storage(this.backend, buf);
  }

  dispose(): void {
    if (!this.storage) return;
    this.storage.drop();
    this.storage = null;
    liveTensors--;
    for (const s of scopes) s.delete(this);
    this.grad?.dispose();
    this.grad = null;
    this.gradFn = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Take this tensor out of every enclosing scope: the caller now owns it. */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }

  /** Copy the data to the host. The only operation that waits for the device. */
  async data(): Promise<Float32Array | Int32Array> {
    return await this.backend.read(this.buf("data"), this.size, this.dtype);
  }

  async floats(): Promise<Float32Array> {
    const d = await this.data();
    return d instanceof Float32Array ? d : Float32Array.from(d);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new Error(`item: tensor ${this.describe()} has ${this.size} elements`);
    }
    return (await this.data())[0];
  }

  toString(): string {
    return `Tensor(${this.describe()} on ${this.backend.name})`;
  }
}

/**
 * Run `fn` in a scope: tensors it creates are disposed at the end, except those in its result
 * (found in arrays and plain objects) and those kept with `keep()`. Synchronous by design: a
 * scope must not span an `await`, or tensors from concurrent work would be attributed to it.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    throw new Error("tidy: the function returned a Promise; scopes must be synchronous");
  }
  const keepSet = new Set<Tensor>();
  collectTensors(result, keepSet);
  for (const t of scope) {
    if (keepSet.has(t)) scopes.at(-1)?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) { for (const x of v) collectTensors(x, out); }
  else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}

/** Live tensor count and the backend's byte accounting. */
export function memory(
  backend: Backend,
): { tensors: number; bytesInUse: number; bytesAllocated: number } {
  return { tensors: liveTensors, ...backend.memory() };
}

/** Number of tensors alive on any backend. */
export function liveTensorCount(): number {
  return liveTensors;
}
