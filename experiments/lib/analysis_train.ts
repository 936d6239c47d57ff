/**
 * When an analysis is given no run folder it trains one through the ordinary pipeline (the
 * exp:regression spec, runFamily), so the folder it analyses is what `exp:regression` would
 * write, plus one final checkpoint per run: the quick preset saves none (checkpointEvery 0)
 * and an analysis needs the weights.
 */
import { regressionSpecs } from "../regression.ts";
import { finishFamily, runFamily } from "./family.ts";
import type { CommonOptions } from "./flags.ts";
import { buildSpecs } from "./presets.ts";

/** Trains `o.models` on linear regression into `o.out` (or runs/<name>-<time>); returns it. */
export async function trainForAnalysis(name: string, o: CommonOptions): Promise<string> {
  const specs = buildSpecs(name, () => regressionSpecs(o, ["linear_regression"]));
  for (const s of specs) s.checkpointEvery = s.steps;
  const { summary, outDir } = await runFamily(name.replace(/^exp:/, ""), specs, o);
  await finishFamily(outDir, summary, false);
  return outDir;
}
