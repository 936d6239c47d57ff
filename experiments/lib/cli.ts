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
    fail(name, argsMessage((e as Error).message));
  }
  // An empty value is a mistake (an unset shell variable, a stray "="), never "use the default".
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === "string" && v.trim() === "") fail(name, `--${k} needs a value, got "${v}"`);
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

/** node:util's parse errors in one line (it spreads some over three with advice of its own). */
function argsMessage(m: string): string {
  const ambiguous = /^Option '(--[\w-]+)[^']*' argument is ambiguous/.exec(m);
  if (ambiguous) {
    const f = ambiguous[1];
    return `${f} needs a value; one starting with "-" must be written ${f}=VALUE`;
  }
  return m.replace(/\. To specify.*$/s, "").split("\n")[0];
}

/**
 * A decimal number ("12", "-3", "0.5", "1e-3"), or NaN: Number() alone would also take "",
 * " ", "0x10" and "Infinity", which no one means as a step count or a learning rate.
 */
export function decimal(value: string): number {
  const v = value.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : NaN;
}

export function fail(name: string, message: string): never {
  console.error(`${name}: ${message}\nRun with --help for the list of flags.`);
  Deno.exit(2);
}

/** Parse a positive integer flag or exit 2 naming the flag. */
export function intFlag(name: string, flag: string, value: string, min = 1): number {
  const n = decimal(value);
  if (!Number.isInteger(n) || n < min) {
    fail(name, `--${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}

export function numFlag(name: string, flag: string, value: string, min = 0): number {
  const n = decimal(value);
  if (!Number.isFinite(n) || n <= min) {
    fail(name, `--${flag} must be a number > ${min}, got "${value}"`);
  }
  return n;
}

/** "1,2,3" → [1, 2, 3] (distinct), or exit 2: a repeated seed would count one run twice. */
export function intListFlag(name: string, flag: string, value: string): number[] {
  const out = value.split(",").map(decimal);
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < 0)) {
    fail(name, `--${flag} must be a comma-separated list of non-negative integers, got "${value}"`);
  }
  const dup = out.find((n, i) => out.indexOf(n) !== i);
  if (dup !== undefined) fail(name, `--${flag} names ${dup} twice ("${value}")`);
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
