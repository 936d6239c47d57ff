/**
 * `deno task bench [--json FILE] [--quick] [--only matmul,scan,attention,train,overhead]`:
 * measures the engine on whatever adapter this machine has and prints tables; `--json` also
 * writes {"adapter", "matmul", "scan", "attention", "overhead", "train_step"}. It measures; it
 * asserts nothing about time.
 */
import { parseArgs } from "node:util";
import { webgpuBackend } from "../core/device_select.ts";
import { benchAttention } from "./attention.ts";
import { benchFusedVsUnfused } from "./attention_unfused.ts";
import { benchMatmul } from "./matmul.ts";
import { benchOverhead } from "./overhead.ts";
import { benchScan } from "./scan.ts";
import { benchTrainStep } from "./train_step.ts";

const SECTIONS = ["overhead", "matmul", "scan", "attention", "train"] as const;
let args;
try {
  args = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "string" },
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  Deno.exit(2);
}
if (args.help) {
  console.log(
    "bench: engine benchmarks\n  --json FILE  also write the results as JSON\n  --quick      fewer repetitions, skip the largest shapes\n" +
      `  --only LIST  comma-separated sections: ${SECTIONS.join(", ")}`,
  );
  Deno.exit(0);
}
for (const [k, v] of Object.entries(args)) {
  if (typeof v === "string" && v.trim() === "") usage(`--${k} needs a value, got "${v}"`);
}
const only = new Set(
  args.only !== undefined ? args.only.split(",").map((s) => s.trim()) : SECTIONS,
);
for (const s of only) {
  if (!(SECTIONS as readonly string[]).includes(s)) {
    usage(`unknown section "${s}" in --only (expected ${SECTIONS.join(", ")})`);
  }
}
if (args.json !== undefined) await checkWritable(args.json);

function usage(message: string): never {
  console.error(`bench: ${message}`);
  Deno.exit(2);
}

/**
 * Fail before measuring, not after minutes of it, when `--json` cannot be written: open the
 * file as the final write will (creating it only for the test, and removing it again).
 */
async function checkWritable(path: string): Promise<void> {
  let existed = true;
  try {
    if ((await Deno.stat(path)).isDirectory) usage(`--json ${path} is a directory`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) usage(`cannot write --json ${path}: ${osWhy(e)}`);
    existed = false;
  }
  try {
    (await Deno.open(path, { write: true, create: !existed })).close();
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "its folder does not exist" : osWhy(e);
    usage(`cannot write --json ${path}: ${why}`);
  }
  if (!existed) await Deno.remove(path);
}

/** "Permission denied (os error 13)", without Deno's trailing "open '/the/path'". */
function osWhy(e: unknown): string {
  return (e as Error).message.replace(/:\s*\w+ '.*'$/s, "");
}

const gpu = await webgpuBackend();
if (!gpu) {
  console.error("bench: no WebGPU adapter; only the CPU train step is measured");
}
const rt = gpu?.rt;
const out: Record<string, unknown> = {
  adapter: gpu?.description ?? "none",
  date: new Date().toISOString(),
};
const table = (title: string, rows: Record<string, unknown>[]) => {
  if (!rows.length) return;
  console.log(`\n## ${title}`);
  const cols = Object.keys(rows[0]);
  console.log(`| ${cols.join(" | ")} |`);
  console.log(`| ${cols.map(() => "---").join(" | ")} |`);
  for (const r of rows) {
    console.log(
      `| ${
        cols.map((c) => (typeof r[c] === "number" ? Number((r[c] as number).toPrecision(4)) : r[c]))
          .join(" | ")
      } |`,
    );
  }
};

console.log(`adapter: ${out.adapter}`);
if (rt && only.has("overhead")) {
  const o = await benchOverhead(rt);
  out.overhead = o;
  table("WebGPU fixed costs", [{
    "dispatch (µs, in one encoder)": o.dispatchUs,
    "readback (ms)": o.readbackMs,
  }]);
}
if (rt && only.has("matmul")) {
  const rows = await benchMatmul(rt, args.quick);
  out.matmul = rows;
  table("matmul", rows as unknown as Record<string, unknown>[]);
}
if (rt && only.has("scan")) {
  const rows = await benchScan(rt, args.quick);
  out.scan = rows;
  table("selective scan (fwd / bwd ms)", rows as unknown as Record<string, unknown>[]);
}
if (rt && only.has("attention")) {
  const rows = await benchAttention(rt, { cpu: !args.quick, reps: args.quick ? 1 : 3 });
  out.attention = rows;
  table("causal attention", rows as unknown as Record<string, unknown>[]);
  const fu = await benchFusedVsUnfused(gpu!, args.quick);
  out.attention_fused_vs_unfused = fu;
  table(
    "attention fwd+bwd through the op layer: fused kernel vs unfused composition (ms)",
    fu as unknown as Record<string, unknown>[],
  );
}
if (only.has("train")) {
  const rows = await benchTrainStep(args.quick);
  out.train_step = rows;
  table("training step (forward + backward + Adam)", rows as unknown as Record<string, unknown>[]);
}
if (args.json !== undefined) {
  try {
    await Deno.writeTextFile(args.json, JSON.stringify(out, null, 2));
  } catch (e) {
    // Checked before the run, so only a change since then gets here.
    console.error(`bench: cannot write --json ${args.json}: ${(e as Error).message}`);
    Deno.exit(1);
  }
  console.log(`\nwrote ${args.json}`);
}
