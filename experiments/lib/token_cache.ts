/**
 * A fixed token set (GINC's pre-training stream, RegBench's instances) generated once from a
 * seed and kept in the run folder: `<name>.i32` holds the tokens (little-endian int32) and
 * `<name>.json` what made them (generator, options, seed, length, FNV-1a checksum). A later run
 * with the same description reads the file instead of regenerating; a different description, a
 * wrong length or checksum (a torn or edited file) regenerates it, saying why.
 */
import { writeAtomic } from "./files.ts";

/** What a cached set was made from; compared field by field as JSON. */
export type TokenSetDescription = Record<string, unknown>;

interface Manifest {
  description: TokenSetDescription;
  length: number;
  checksum: number;
}

/** 32-bit FNV-1a over the bytes. */
function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619);
  return h >>> 0;
}

function bytesOf(tokens: Int32Array): Uint8Array {
  const out = new Uint8Array(tokens.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < tokens.length; i++) view.setInt32(i * 4, tokens[i], true);
  return out;
}

async function readCached(
  dir: string,
  name: string,
  description: TokenSetDescription,
): Promise<{ tokens: Int32Array } | { why: string }> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(`${dir}/${name}.json`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { why: "not cached yet" };
    return { why: `unreadable manifest (${(e as Error).message})` };
  }
  if (JSON.stringify(manifest.description) !== JSON.stringify(description)) {
    return { why: "made with other settings" };
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(`${dir}/${name}.i32`);
  } catch {
    return { why: "token file missing" };
  }
  if (bytes.length !== manifest.length * 4 || fnv1a(bytes) !== manifest.checksum) {
    return { why: "token file does not match its manifest" };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tokens = new Int32Array(manifest.length);
  for (let i = 0; i < tokens.length; i++) tokens[i] = view.getInt32(i * 4, true);
  return { tokens };
}

/**
 * The cached tokens of `name` in `dir` if they were made from `description`, else `make()`'s,
 * written there first. `log` hears one line when the set is (re)generated.
 */
export async function cachedTokens(
  dir: string,
  name: string,
  description: TokenSetDescription,
  make: () => Int32Array,
  log: (line: string) => void = () => {},
): Promise<{ tokens: Int32Array; cached: boolean }> {
  const got = await readCached(dir, name, description);
  if ("tokens" in got) return { tokens: got.tokens, cached: true };
  log(`${name}: generating (${got.why})`);
  const tokens = make();
  const bytes = bytesOf(tokens);
  await Deno.mkdir(dir, { recursive: true });
  // Tokens first, manifest last: a crash in between leaves a manifest that does not match.
  await writeAtomic(`${dir}/${name}.i32`, bytes);
  const manifest: Manifest = { description, length: tokens.length, checksum: fnv1a(bytes) };
  await writeAtomic(`${dir}/${name}.json`, JSON.stringify(manifest, null, 1) + "\n");
  return { tokens, cached: false };
}
