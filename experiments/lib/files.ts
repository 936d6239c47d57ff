/** Run folders and crash-safe writes. */
import { writeAtomic as writeAtomicBytes } from "../../nn/checkpoint.ts";

/** Write text or bytes atomically (the checkpoint writer's temporary file + fsync + rename). */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomicBytes(path, typeof data === "string" ? new TextEncoder().encode(data) : data);
}

/** Appends one JSONL record (NaN kept, see toJsonExact) in one write. */
export async function appendLine(path: string, obj: unknown): Promise<void> {
  await Deno.writeTextFile(path, toJsonExact(obj) + "\n", { append: true });
}

/**
 * Keeps the records of a JSONL file up to `step` (those without a step too); a torn last line
 * (a kill in mid-append) is dropped. A missing file stays missing.
 */
export async function truncateJsonl(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const keep = text.split("\n").filter((line) => {
    if (!line) return false;
    try {
      const r = JSON.parse(line);
      return !(typeof r?.step === "number" && r.step > step);
    } catch {
      return false;
    }
  });
  const out = keep.map((l) => l + "\n").join("");
  if (out !== text) await writeAtomic(path, out);
}

export function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
}

/**
 * JSON that keeps NaN and ±Infinity (as the strings "NaN", "Infinity", "-Infinity"), so a
 * result read back from its file equals the one in memory (plain JSON turns them into null).
 */
export function toJsonExact(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) => (typeof x === "number" && !Number.isFinite(x) ? String(x) : x),
  );
}

export function fromJsonExact<T>(text: string): T {
  return JSON.parse(
    text,
    (
      _k,
      x,
    ) => (x === "NaN" ? NaN : x === "Infinity" ? Infinity : x === "-Infinity" ? -Infinity : x),
  );
}

/** JSON with sorted keys, so equal configs give equal text and hashes. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]))
        : x,
  );
}
