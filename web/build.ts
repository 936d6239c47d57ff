/**
 * Bundles the page's code (web/main.ts and the engine modules it imports) into one ES module
 * for the browser with `deno bundle`, which is esbuild (fetched from npm) plus Deno's resolver,
 * so the engine's `npm:` imports (d3 in experiments/plot.ts) resolve as they do under Deno.
 */
import { fileURLToPath } from "node:url";

export const WEB_DIR = fileURLToPath(new URL(".", import.meta.url));
/** Where the bundle goes (git-ignored): web/bundle/main.js, served next to index.html. */
export const BUNDLE_DIR = `${WEB_DIR}bundle`;

export async function buildBundle(): Promise<string> {
  const out = `${BUNDLE_DIR}/main.js`;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "-o", out, `${WEB_DIR}main.ts`],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await cmd.output();
  if (!r.success) {
    const err = new TextDecoder().decode(r.stderr) + new TextDecoder().decode(r.stdout);
    throw new Error(`deno bundle failed:\n${err}`);
  }
  return out;
}

if (import.meta.main) console.log(`bundled ${await buildBundle()}`);
