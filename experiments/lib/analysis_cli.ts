/**
 * The inputs every analysis (exp:probe, exp:ood, exp:length) shares: a run folder written by
 * any exp:* command (--run), or, without one, a quick linear-regression run trained here
 * through the exp:regression pipeline; the backend; where the analysis writes.
 */
import type { Backend } from "../../core/backend.ts";
import { initBackend } from "../../core/device_select.ts";
import { trainForAnalysis } from "./analysis_train.ts";
import { fail, type FlagSpec, intFlag, parseCli } from "./cli.ts";
import { timestamp, writeAtomic } from "./files.ts";
import { COMMON_FLAGS, parseCommon } from "./flags.ts";
import { findRuns, type RunInfo } from "./load_run.ts";
import { fmtTime } from "./progress.ts";

const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, COMMON_FLAGS[k]]));

/** Flags of every analysis, plus the script's own. */
export function analysisFlags(own: Record<string, FlagSpec>): Record<string, FlagSpec> {
  return {
    run: {
      type: "string",
      help: "folder written by any exp:* command (a run folder with config.json and " +
        "checkpoint.safetensors or best.safetensors, or any folder above such run folders); " +
        "without it a quick linear-regression run is trained first (into <out>/train; defaults " +
        "transformer,mamba, --layers 2, --steps 5000, --lr 5e-4)",
    },
    ...pick(["preset", "models", "width", "layers", "steps", "lr", "backend", "no-check"]),
    seed: { type: "string", default: "1", help: "seed of the analysis prompts" },
    out: { type: "string", help: "where the analysis writes (default runs/<analysis>-<time>)" },
    json: { type: "boolean", default: false, help: "print summary.json as the last stdout line" },
    ...own,
  };
}

/** The parsed flags, the runs to analyse, the backend and the output folder. */
export interface AnalysisSetup {
  flags: Record<string, string | boolean | undefined>;
  runs: RunInfo[];
  backend: Backend;
  outDir: string;
  seed: number;
  /** Set when the models were trained by this command. */
  trainedIn?: string;
}

/**
 * Parses the flags (exit 2 on bad input, before anything is written), finds or trains the
 * runs. Training defaults: Transformer and Mamba, 2 paper layers, 5,000 steps at lr 5e-4
 * (the quick preset's 1,000 at 2e-3 leave the Transformer at the zero predictor; --models,
 * --layers, --steps, --lr change them).
 */
export async function setupAnalysis(
  name: string,
  summary: string,
  own: Record<string, FlagSpec>,
  /** Checks the script's own flags (exit 2) before anything is trained or written. */
  validate: (flags: Record<string, string | boolean | undefined>) => void = () => {},
): Promise<AnalysisSetup> {
  const f = parseCli(name, summary, analysisFlags(own)) as Record<
    string,
    string | boolean | undefined
  >;
  const seed = intFlag(name, "seed", f.seed as string, 0);
  validate(f);
  const outDir = (f.out as string | undefined) ??
    `runs/${name.replace(/^exp:/, "")}-${timestamp()}`;
  const o = parseCommon(
    name,
    {
      ...f,
      models: f.models ?? (f.run ? undefined : "transformer,mamba"),
      layers: f.layers ?? "2",
      steps: f.steps ?? "5000",
      lr: f.lr ?? "5e-4",
      out: `${outDir}/train`,
    },
    ["linear_regression"],
  );
  let runs: RunInfo[];
  let trainedIn: string | undefined;
  if (f.run) {
    try {
      runs = await findRuns(f.run as string);
    } catch (e) {
      fail(name, (e as Error).message);
    }
    if (o.models) runs = runs.filter((r) => o.models!.includes(r.name as never));
    if (!runs.length) fail(name, `--run ${f.run}: no run of --models ${o.models}`);
  } else {
    console.log(`${name}: no --run given: training a quick linear-regression run first`);
    trainedIn = await trainForAnalysis(name, o);
    runs = await findRuns(trainedIn);
  }
  const backend = await initBackend(o.backend);
  await Deno.mkdir(outDir, { recursive: true });
  return { flags: f, runs, backend, outDir, seed, trainedIn };
}

/**
 * Writes an analysis's figures and its summary.json (with the wall time since `t0` and the figure
 * names added), says what was written, and prints the summary as JSON with `--json`.
 */
export async function writeAnalysis(
  outDir: string,
  figures: Record<string, string>,
  summary: Record<string, unknown>,
  t0: number,
  json: boolean,
): Promise<void> {
  for (const [file, svg] of Object.entries(figures)) await writeAtomic(`${outDir}/${file}`, svg);
  const wallSeconds = (performance.now() - t0) / 1000;
  const all = { ...summary, wallSeconds, figures: Object.keys(figures) };
  await writeAtomic(`${outDir}/summary.json`, JSON.stringify(all, null, 2));
  console.log(
    `total wall time ${fmtTime(wallSeconds)}; wrote ${outDir}/summary.json and ` +
      Object.keys(figures).join(", "),
  );
  if (json) console.log(JSON.stringify(all));
}
