/** Run folders and crash-safe writes. */
import { writeAtomic as writeAtomicBytes } from "../../nn/checkpoint.ts";

/** Write text or bytes atomically (the checkpoint writer's temporary file + fsync + rename). */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomicBytes(path, typeof data === "string" ? new TextEncoder().encode(data) : data);
}

export async function appendLine(path: string, obj: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(obj) + "\n", { append: true });
}

export function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
}
