/**
 * `--emit`: launchers for a sweep too big for one process. Both run one shard per job into one
 * shared run folder (cells lock themselves and resume, so a requeued or rerun job continues
 * where it stopped) and end with exp:report, which writes the summary once every cell is done.
 */
import type { CellRef } from "./cells.ts";
import { configArgs } from "./run_folder.ts";
import type { SweepOptions } from "./sweep_flags.ts";

/** Single-quoted for bash. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** The repository root (this file is experiments/lib/emit.ts). */
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export function emitLauncher(
  name: string,
  experiment: string,
  cells: CellRef[],
  out: string,
  o: SweepOptions,
): string {
  const n = Math.min(o.shards ?? cells.length, cells.length);
  const dir = absolute(out);
  const args = [...configArgs(Deno.args), "--out", dir].map(shellQuote).join(" ");
  const script = `experiments/${experiment}.ts`;
  if (o.emit === "parallel") {
    const jobs = Math.max(o.gpus, 1);
    // One job per GPU slot; {%} is GNU parallel's slot number (1-based).
    const job = `CUDA_VISIBLE_DEVICES=$(({%} - 1)) $DENO run -A ${script} ${args} --shard {}/${n}`;
    return [
      `# ${name}: ${cells.length} cells in ${n} shards over ${jobs} local GPU(s), then the report.`,
      `cd ${shellQuote(ROOT)} && DENO=\${DENO:-"npx -y deno@2.9.6"} && export DENO && ` +
      `parallel --will-cite -j ${jobs} --lb ${shellQuote(job)} ::: $(seq 0 ${n - 1}) && ` +
      `$DENO run -A experiments/report.ts ${shellQuote(dir)}`,
    ].join("\n");
  }
  const sbatch = [
    `#SBATCH --job-name=iclab-${experiment}`,
    `#SBATCH --array=0-${n - 1}`,
    // A preempted or failed task is requeued; its cells resume from their checkpoints.
    `#SBATCH --requeue`,
    `#SBATCH --open-mode=append`,
    `#SBATCH --output=iclab-${experiment}-%A_%a.log`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.gpus > 0 ? [`#SBATCH --gres=gpu:${o.gpus}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
  ];
  return [
    "#!/bin/bash",
    `# ${name}: ${cells.length} cells in ${n} shards balanced by training FLOPs, one per array`,
    `# task, all into ${dir}. Submit with sbatch; when every task is done, merge:`,
    `#   deno task exp:report ${dir}`,
    ...sbatch,
    "set -euo pipefail",
    `cd ${shellQuote(ROOT)}`,
    `DENO=\${DENO:-"npx -y deno@2.9.6"}`,
    `N=${n}`,
    `# DENO is a command line: word splitting is meant here.`,
    `exec $DENO run -A ${script} ${args} --shard "$SLURM_ARRAY_TASK_ID/$N"`,
    "",
  ].join("\n");
}
