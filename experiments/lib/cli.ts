/** Command-line parsing shared by the experiment scripts: documented flags, exit code 2 on bad input. */
import { parseArgs } from "node:util";

export interface FlagSpec {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
}

export class UsageError extends Error {}

/**
 * Parse `args` against `flags`; `--help` prints every flag and exits 0; unknown flags and
 * malformed values print a clear message and exit 2 before anything is written.
 */
export function parseCli<T extends Record<string, FlagSpec>>(
  name: string,
  summary: string,
  flags: T,
  args: string[] = Deno.args,
): { [K in keyof T]: T[K]["type"] extends "boolean" ? boolean : string } {
  const all = { ...flags, help: { type: "boolean", help: "show this help" } as FlagSpec };
  const options: Record<string, { type: "string" | "boolean"; default?: string | boolean }> = {};
  for (const [k, v] of Object.entries(all)) options[k] = { type: v.type, default: v.default };
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    fail(name, (e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (values.help) {
    console.log(`${name}: ${summary}\n\nFlags:`);
    for (const [k, v] of Object.entries(all)) {
      const def = v.default === undefined ? "" : ` (default: ${v.default})`;
      console.log(`  --${k}${v.type === "string" ? " VALUE" : ""}\n      ${v.help}${def}`);
    }
    Deno.exit(0);
  }
  return values as never;
}

export function fail(name: string, message: string): never {
  console.error(`${name}: ${message}\nRun with --help for the list of flags.`);
  Deno.exit(2);
}

/** Parse a positive integer flag or exit 2 naming the flag. */
export function intFlag(name: string, flag: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    fail(name, `--${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}

export function numFlag(name: string, flag: string, value: string, min = 0): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= min) {
    fail(name, `--${flag} must be a number > ${min}, got "${value}"`);
  }
  return n;
}

/** "1,2,3" → [1, 2, 3], or exit 2. */
export function intListFlag(name: string, flag: string, value: string): number[] {
  const parts = value.split(",").map((s) => s.trim()).filter(Boolean);
  const out = parts.map(Number);
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < 0)) {
    fail(name, `--${flag} must be a comma-separated list of non-negative integers, got "${value}"`);
  }
  return out;
}

export function choiceFlag<C extends string>(
  name: string,
  flag: string,
  value: string,
  choices: readonly C[],
): C {
  if (!choices.includes(value as C)) {
    fail(name, `--${flag} must be one of ${choices.join(", ")}, got "${value}"`);
  }
  return value as C;
}
