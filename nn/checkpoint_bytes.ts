/**
 * Checkpoints as bytes, with no file system: the format (see nn/checkpoint.ts, which adds the
 * atomic file I/O) encoded from a model and optimizer, and decoded, validated and loaded back.
 * Kept free of Deno APIs so the web page (web/) saves and loads the same files.
 */
import { fromArray } from "../core/create.ts";
import { Rng, type RngState } from "../core/rng.ts";
import type { Tensor } from "../core/tensor.ts";
import { assign } from "./init.ts";
import { ICLModel } from "./models.ts";
import type { Module } from "./module.ts";
import type { Adam, AdamStateJSON } from "./optim.ts";
import {
  CheckpointError,
  configField,
  optimField,
  rngField,
  rngStateField,
  stepField,
  tensorChecksum,
  verifyChecksum,
} from "./checkpoint_meta.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedArray,
  type Safetensors,
} from "./safetensors.ts";

const RESERVED = ["format", "step", "rng", "config", "optim", "dropout_rng", "checksum"];

export interface SaveCheckpointOptions {
  model: Module;
  optimizer?: Adam;
  /** Training step reached (stored as metadata "step"). */
  step?: number;
  /** Named RNG states to resume streams exactly (e.g. `{ data: rng.state() }`). */
  rng?: Record<string, RngState>;
  /** Any JSON config (default: an ICLModel's `spec`, which `makeModel` accepts back). */
  config?: unknown;
  /** Extra string metadata (keys must not collide with the reserved ones). */
  metadata?: Record<string, string>;
}

/** A checkpoint's bytes: what saveCheckpoint writes, for callers without a file system. */
export async function encodeCheckpoint(o: SaveCheckpointOptions): Promise<Uint8Array> {
  const named: [string, Tensor][] = [];
  for (const [name, t] of o.model.namedParameters()) {
    if (name.startsWith("optim.")) {
      throw new Error(`saveCheckpoint: parameter name "${name}" clashes with optimizer state`);
    }
    named.push([name, t]);
  }
  named.push(...(o.optimizer?.namedState() ?? []));
  const datas = await readAll(named.map(([, t]) => t));
  const entries: NamedArray[] = named.map(([name, t], i) => ({
    name,
    shape: t.shape,
    data: datas[i],
  }));
  const meta: Record<string, string> = { format: "iclab" };
  for (const k of Object.keys(o.metadata ?? {})) {
    if (RESERVED.includes(k)) throw new Error(`saveCheckpoint: metadata key "${k}" is reserved`);
  }
  Object.assign(meta, o.metadata ?? {});
  if (o.step !== undefined) {
    if (!Number.isSafeInteger(o.step) || o.step < 0) {
      throw new Error(`saveCheckpoint: step must be a non-negative integer, got ${o.step}`);
    }
    meta.step = String(o.step);
  }
  if (o.rng) meta.rng = JSON.stringify(o.rng);
  const config = o.config ?? (o.model instanceof ICLModel ? o.model.spec : undefined);
  if (config !== undefined) meta.config = JSON.stringify(config);
  if (o.optimizer) meta.optim = JSON.stringify(o.optimizer.toJSON());
  if (o.model instanceof ICLModel) meta.dropout_rng = JSON.stringify(o.model.dropRng.rng.state());
  meta.checksum = tensorChecksum(entries);
  return encodeSafetensors(entries, meta);
}

/** Most floats gathered into one device buffer per readback (64 MB). */
const READ_CHUNK = 16 << 20;

/**
 * Copy many tensors to the host with few readbacks: on WebGPU each read waits for the device,
 * so tensors are packed into one staging buffer (per backend, up to READ_CHUNK floats) first.
 */
async function readAll(ts: readonly Tensor[]): Promise<Float32Array[]> {
  const out = new Array<Float32Array>(ts.length);
  let i = 0;
  while (i < ts.length) {
    const be = ts[i].backend;
    if (be.name === "cpu" || ts[i].size >= READ_CHUNK) {
      out[i] = await ts[i].floats();
      i++;
      continue;
    }
    const group: number[] = [];
    let total = 0;
    while (
      i < ts.length && ts[i].backend === be && ts[i].size < READ_CHUNK &&
      total + ts[i].size <= READ_CHUNK
    ) {
      group.push(i);
      total += ts[i].size;
      i++;
    }
    const staging = be.alloc(total, "f32");
    let at = 0;
    for (const k of group) {
      const t = ts[k];
      be.copy(t.buf("save"), { offset: 0, strides: [1] }, staging, { offset: at, strides: [1] }, [
        t.size,
      ]);
      at += t.size;
    }
    const flat = (await be.read(staging, total, "f32")) as Float32Array;
    be.release(staging);
    at = 0;
    for (const k of group) {
      out[k] = flat.slice(at, at + ts[k].size);
      at += ts[k].size;
    }
  }
  return out;
}

export interface LoadCheckpointOptions {
  model: Module;
  /** Restore Adam's m, v and step counts too (the file must contain them). */
  optimizer?: Adam;
  /** Reject tensors in the file that the model does not have (default true). */
  strict?: boolean;
}

export interface LoadedCheckpoint {
  step: number | null;
  rng: Record<string, RngState> | null;
  config: unknown;
  metadata: Record<string, string>;
}

/**
 * Decode checkpoint bytes: tensors and metadata, with clear errors for bad files and tensor
 * data that does not match the stored checksum. `path` names the source in messages.
 */
export function decodeCheckpoint(bytes: Uint8Array, path: string): Safetensors {
  let file: Safetensors;
  try {
    file = decodeSafetensors(bytes, `checkpoint ${path}`);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const named = [...file.tensors].map(([name, t]) => ({ name, ...t }));
  verifyChecksum(path, named, file.metadata.checksum);
  return file;
}

/**
 * Load a decoded checkpoint (from `path`, named in messages) into the model (and optimizer).
 * Everything is validated before anything is written: names, shapes and dtypes must match, or
 * the error lists every problem.
 */
export function applyCheckpoint(
  file: Safetensors,
  path: string,
  o: LoadCheckpointOptions,
): LoadedCheckpoint {
  const { tensors, metadata } = file;
  // Metadata first: a bad field fails naming it before any tensor is looked at.
  const step = stepField(path, metadata.step);
  const rng = rngField(path, metadata.rng);
  const config = configField(path, metadata.config);
  const optimMeta = optimField(path, metadata.optim) as AdamStateJSON | null;
  const dropoutRng = rngStateField(path, "dropout_rng", metadata.dropout_rng);
  const problems: string[] = [];
  const params = o.model.namedParameters();
  const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((d, i) => d === b[i]);
  for (const [name, p] of params) {
    const t = tensors.get(name);
    if (!t) problems.push(`missing tensor "${name}" ${fmt(p.shape)}`);
    else if (!same(t.shape, p.shape)) {
      problems.push(
        `tensor "${name}" has shape ${fmt(t.shape)}, the model expects ${fmt(p.shape)}`,
      );
    }
  }
  const names = new Set(params.map(([n]) => n));
  if (o.strict ?? true) {
    for (const n of tensors.keys()) {
      if (!names.has(n) && !n.startsWith("optim.")) {
        problems.push(`unexpected tensor "${n}" (not a parameter of this model)`);
      }
    }
  }
  let optimJSON: AdamStateJSON | null = null;
  if (o.optimizer) {
    optimJSON = optimMeta;
    if (!optimJSON) problems.push(`no optimizer state (metadata "optim" is missing)`);
    for (const [name, p] of o.optimizer.params) {
      const m = tensors.get(`optim.m.${name}`), v = tensors.get(`optim.v.${name}`);
      if (!m && !v) continue; // never updated before the save
      for (const [k, t] of [["m", m], ["v", v]] as const) {
        if (!t) problems.push(`optimizer state optim.${k}.${name} is missing`);
        else if (!same(t.shape, p.shape)) {
          problems.push(`optim.${k}.${name} has shape ${fmt(t.shape)}, expected ${fmt(p.shape)}`);
        }
      }
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 12).join("\n  ");
    const more = problems.length > 12 ? `\n  ... and ${problems.length - 12} more` : "";
    throw new CheckpointError(`checkpoint ${path} does not match the model:\n  ${shown}${more}`);
  }
  for (const [name, p] of params) assign(p, tensors.get(name)!.data);
  if (o.optimizer && optimJSON) {
    for (const [name, p] of o.optimizer.params) {
      const m = tensors.get(`optim.m.${name}`), v = tensors.get(`optim.v.${name}`);
      if (!m || !v) continue;
      const t = optimJSON.steps?.[name] ?? step ?? 0;
      o.optimizer.setState(name, upload(m.data, p), upload(v.data, p), t);
    }
  }
  if (o.model instanceof ICLModel && dropoutRng) o.model.dropRng.rng = Rng.fromState(dropoutRng);
  return { step, rng, config, metadata };
}

function upload(data: Float32Array, like: Tensor): Tensor {
  return fromArray(data, like.shape, like.backend);
}
