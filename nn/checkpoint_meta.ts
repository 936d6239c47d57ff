/**
 * What a checkpoint's metadata must hold, checked on load so that a damaged or hand-edited file
 * fails naming the file and the field instead of resuming "at step NaN", and the checksum that
 * makes a flipped byte in the tensor data an error rather than silently different weights.
 *
 * Files saved before checksums existed still load, with a one-line warning: refusing them would
 * strand every older run folder, and their tensors are still checked for names and shapes.
 */
// A pure-JS SHA-256 (not node:crypto), so the web page computes the same checksums.
// deno-lint-ignore no-import-prefix
import { sha256 } from "npm:@noble/hashes@2.4.0/sha2.js";
// deno-lint-ignore no-import-prefix
import { bytesToHex } from "npm:@noble/hashes@2.4.0/utils.js";
import type { RngState } from "../core/rng.ts";

/**
 * A checkpoint file that cannot be used as it is (missing, unreadable, corrupted, a bad field, not
 * this model's): the message names the file; callers report it as bad input, not as a crash.
 */
export class CheckpointError extends Error {}

/** `path: metadata field "key" is <value>, expected <what>`. */
export function fieldError(path: string, key: string, value: unknown, expected: string): Error {
  if (value === undefined) {
    return new CheckpointError(`${path}: metadata field "${key}" is missing, expected ${expected}`);
  }
  let shown = JSON.stringify(value);
  if (shown.length > 80) shown = `${shown.slice(0, 77)}..."`;
  return new CheckpointError(`${path}: metadata field "${key}" is ${shown}, expected ${expected}`);
}

/** The JSON of a metadata field, or null when absent. */
export function jsonField(path: string, key: string, s: string | undefined): unknown {
  if (s === undefined) return null;
  try {
    return JSON.parse(s);
  } catch {
    throw fieldError(path, key, s, "valid JSON");
  }
}

/** The step: a non-negative integer written in decimal digits, or null when absent. */
export function stepField(path: string, s: string | undefined): number | null {
  if (s === undefined) return null;
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw fieldError(path, "step", s, "a non-negative integer");
  }
  return Number(s);
}

const isInt = (x: unknown, lo = 0, hi = 2 ** 53): x is number =>
  Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;

/** Why `x` is not an RngState, or null when it is one. */
function rngProblem(x: unknown): string | null {
  if (!x || typeof x !== "object" || Array.isArray(x)) return "is not an object";
  const s = x as Partial<Record<keyof RngState, unknown>>;
  for (const k of ["seed", "stream", "counter"] as const) {
    if (!isInt(s[k], 0, 2 ** 53)) return `has ${k} ${JSON.stringify(s[k])}`;
  }
  if (!isInt(s.pos, 0, 4)) return `has pos ${JSON.stringify(s.pos)}`;
  if (s.spareNormal !== null && !Number.isFinite(s.spareNormal)) {
    return `has spareNormal ${JSON.stringify(s.spareNormal)}`;
  }
  return null;
}

const RNG_SHAPE = "an RNG state {seed, stream, counter, pos 0-4, spareNormal}";

/** One RNG state (field `key`), or null when absent. */
export function rngStateField(path: string, key: string, s: string | undefined): RngState | null {
  const x = jsonField(path, key, s);
  if (x === null) return null;
  const why = rngProblem(x);
  if (why) throw fieldError(path, key, s, `${RNG_SHAPE} (it ${why})`);
  return x as RngState;
}

/** Named RNG states (field "rng"), or null when absent. */
export function rngField(path: string, s: string | undefined): Record<string, RngState> | null {
  const x = jsonField(path, "rng", s);
  if (x === null) return null;
  if (typeof x !== "object" || Array.isArray(x)) {
    throw fieldError(path, "rng", s, "an object of named RNG states");
  }
  for (const [name, st] of Object.entries(x as Record<string, unknown>)) {
    const why = rngProblem(st);
    if (why) throw fieldError(path, "rng", s, `${RNG_SHAPE} under "${name}" (it ${why})`);
  }
  return x as Record<string, RngState>;
}

/** The model config (field "config"): a JSON object, or null when absent. */
export function configField(path: string, s: string | undefined): Record<string, unknown> | null {
  const x = jsonField(path, "config", s);
  if (x !== null && (typeof x !== "object" || Array.isArray(x))) {
    throw fieldError(path, "config", s, "a JSON object");
  }
  return x as Record<string, unknown> | null;
}

/** Adam's settings and per-parameter step counts (field "optim"), or null when absent. */
export function optimField(path: string, s: string | undefined): unknown {
  const x = jsonField(path, "optim", s) as Record<string, unknown> | null;
  if (x === null) return null;
  const expected = "Adam state {kind, lr, beta1, beta2, eps, weightDecay, steps}";
  if (typeof x !== "object" || Array.isArray(x)) throw fieldError(path, "optim", s, expected);
  if (x.kind !== "adam" && x.kind !== "adamw") throw fieldError(path, "optim", s, expected);
  for (const k of ["lr", "beta1", "beta2", "eps", "weightDecay"]) {
    if (!Number.isFinite(x[k])) throw fieldError(path, "optim", s, `${expected} (${k} is bad)`);
  }
  const steps = x.steps;
  if (
    !steps || typeof steps !== "object" ||
    !Object.values(steps as Record<string, unknown>).every((n) => isInt(n))
  ) {
    throw fieldError(path, "optim", s, `${expected} (steps must be non-negative integers)`);
  }
  return x;
}

/** Tensors as decoded from a file (or about to be encoded into one). */
type Named = Iterable<{ name: string; shape: readonly number[]; data: Float32Array }>;

/**
 * "sha256:<hex>" over the tensors in name order (each name, shape and f32 bytes), so the value
 * does not depend on where in the file a writer put each tensor.
 */
export function tensorChecksum(tensors: Named): string {
  const h = sha256.create();
  const enc = new TextEncoder();
  for (const t of [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(enc.encode(`${t.name}\0${JSON.stringify(t.shape)}\0`));
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return `sha256:${bytesToHex(h.digest())}`;
}

/** Checks field "checksum" against the data; a file without one loads with a warning. */
export function verifyChecksum(path: string, tensors: Named, s: string | undefined): void {
  if (s === undefined) {
    console.error(
      `iclab: warning: ${path} has no checksum (saved by an older iclab or another tool); its tensor data is not verified`,
    );
    return;
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(s)) throw fieldError(path, "checksum", s, "sha256:<64 hex>");
  if (tensorChecksum(tensors) !== s) {
    throw new CheckpointError(
      `${path}: the tensor data does not match the checksum in its metadata (the file is corrupted)`,
    );
  }
}
