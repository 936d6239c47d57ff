/** Helpers of the CLI tests: experiment scripts run as subprocesses, a tiny CPU sweep of exp:parity. */
export const ROOT = new URL("..", import.meta.url).pathname;

/** 4 cells (2 architectures × 2 seeds), a few seconds on the CPU backend, bit-exact. */
export const SWEEP = [
  ...["--backend", "cpu", "--steps", "20", "--eval-every", "5", "--checkpoint-every", "5"],
  ...["--eval-prompts", "16", "--baseline-prompts", "16", "--width", "8", "--heads", "2"],
  ...["--models", "transformer,mamba", "--seeds", "1,2", "--points", "6"],
];

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function command(script: string, args: string[], env: Record<string, string> = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `experiments/${script}.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

export async function run(script: string, args: string[]): Promise<Ran> {
  const o = await command(script, args).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Drops wall-clock fields: baselines' time, the total, and training time of each run. */
export function withoutClock(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutClock);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).filter(([k]) => k !== "seconds" && k !== "wallSeconds")
        .map(([k, x]) => [k, withoutClock(x)]),
    );
  }
  return v;
}

export async function summaryOf(dir: string): Promise<unknown> {
  return withoutClock(JSON.parse(await Deno.readTextFile(`${dir}/summary.json`)));
}

/** Every cell's metrics.jsonl, keyed by cell id, records without `seconds`. */
export async function metricsOf(dir: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for await (const task of Deno.readDir(dir)) {
    if (!task.isDirectory) continue;
    for await (const cell of Deno.readDir(`${dir}/${task.name}`)) {
      if (!cell.isDirectory) continue;
      const text = await Deno.readTextFile(`${dir}/${task.name}/${cell.name}/metrics.jsonl`);
      out[`${task.name}/${cell.name}`] = text.trim().split("\n").map((l) =>
        withoutClock(JSON.parse(l))
      );
    }
  }
  return out;
}

/** Every file under `dir` with its bytes, to show that a refused run changed nothing. */
export async function snapshot(dir: string, base = dir): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) Object.assign(out, await snapshot(p, base));
    else {
      const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(p));
      out[p.slice(base.length)] = Array.from(new Uint8Array(digest), (b) => b.toString(16)).join(
        "",
      );
    }
  }
  return out;
}
