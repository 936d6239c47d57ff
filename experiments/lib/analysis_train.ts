/**
 * When an analysis is given no run folder it trains one through the ordinary pipeline (the
 * exp:regression spec, runFamily), so the folder it analyses is what `exp:regression` would
 * write (every preset checkpoints, the last checkpoint at the final step).
 */
import { regressionSpecs } from "../regression.ts";
import { finishFamily, runFamily } from "./family.ts";
import type { CommonOptions } from "./flags.ts";
import { buildSpecs } from "./presets.ts";

/** Trains `o.models` on linear regression into `o.out` (or runs/<name>-<time>); returns it. */
export async function trainForAnalysis(name: string, o: CommonOptions): Promise<string> {
  const specs = buildSpecs(name, () => regressionSpecs(o, ["linear_regression"]));
  const { summary, outDir } = await runFamily(name.replace(/^exp:/, ""), specs, o);
  await finishFamily(outDir, summary, false);
  return outDir;
}
