/**
 * Checkpoints as safetensors files: weights under their state_dict names, Adam's moments under
 * `optim.m.<name>` / `optim.v.<name>`, and `__metadata__` strings holding the step, RNG states,
 * model config and optimizer settings as JSON, and a checksum of the tensor data (validated on
 * load: nn/checkpoint_meta.ts). Files are written atomically (a unique temporary name,
 * fsync, rename), so a crash mid-save never leaves a half-written checkpoint under the real name.
 */
import {
  applyCheckpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
} from "./checkpoint_bytes.ts";
import { CheckpointError } from "./checkpoint_meta.ts";

export { CheckpointError };
export type { LoadCheckpointOptions, LoadedCheckpoint, SaveCheckpointOptions };

/** Save model (and optimizer) state to `path` atomically. */
export async function saveCheckpoint(path: string, o: SaveCheckpointOptions): Promise<void> {
  await writeAtomic(path, await encodeCheckpoint(o));
}

/**
 * Write via a temporary file, fsync and rename, so a crash never leaves a half-written file.
 * The temporary name is unique (pid and a random suffix): two writers of one path must not
 * share it, or one renames the other's half-written file away.
 */
export async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let done = 0;
      while (done < bytes.length) done += await f.write(bytes.subarray(done));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  // Persist the rename itself; not every platform lets a directory be opened, so best effort.
  try {
    const slash = path.lastIndexOf("/");
    const dir = await Deno.open(slash > 0 ? path.slice(0, slash) : ".", { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  } catch { /* directory fsync unsupported here */ }
}

/**
 * Read a checkpoint file: decoded tensors and metadata, with clear errors for bad files and
 * tensor data that does not match the stored checksum.
 */
export async function readCheckpoint(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(`checkpoint not found: ${path}`);
    }
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}

/**
 * Load `path` into the model (and optimizer). Everything is validated before anything is
 * written: names, shapes and dtypes must match, or the error lists every problem.
 */
export async function loadCheckpoint(
  path: string,
  o: LoadCheckpointOptions,
): Promise<LoadedCheckpoint> {
  return applyCheckpoint(await readCheckpoint(path), path, o);
}
