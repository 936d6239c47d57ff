/**
 * The web page (web/) in headless Chromium on SwiftShader's WebGPU: a tiny Transformer and a
 * tiny Mamba train for a few dozen steps, their loss falls, the plots render, the weights save
 * and load back, and a screenshot goes to $ICLAB_TEST_OUT (else a temporary folder). Skips
 * where Debian's /usr/bin/chromium is not installed (.ci/run installs it).
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix
import { chromium } from "npm:playwright-core@1.65.1";
import { serve } from "../web/serve.ts";
import { cpuBackend } from "../core/device_select.ts";
import { Session } from "../web/session.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!haveChromium) {
  console.error(`web_test: skipped, ${CHROMIUM} is absent (apt-get install chromium)`);
}

/** The flags under which Chromium 150 gives headless WebGPU on SwiftShader, offline. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

interface Summary {
  arch: string;
  steps: number;
  losses: number[];
  stepsPerSecond: number;
  curves: { model: number[]; baselines: Record<string, number[]> } | null;
}

const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

Deno.test({
  name: "web: the page trains a Transformer and a Mamba on WebGPU in headless Chromium",
  ignore: !haveChromium,
  async fn() {
    const out = Deno.env.get("ICLAB_TEST_OUT") ?? await Deno.makeTempDir({ prefix: "iclab-web-" });
    await Deno.mkdir(out, { recursive: true });
    const profile = await Deno.makeTempDir({ prefix: "iclab-chromium-" });
    const server = await serve(0);
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1320, height: 900 },
    });
    try {
      const page = browser.pages()[0] ?? await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => "iclab" in globalThis, null, { timeout: 20_000 })
        .catch(() => {
          throw new Error(`the page did not start: ${errors.join("; ")}`);
        });
      const info = await page.evaluate(() =>
        (globalThis as unknown as { iclab: { ready: Promise<unknown> } }).iclab.ready
      ) as { gpu: boolean; adapter: string; notice: string | null };
      console.log(`web_test: ${info.adapter}`);
      assert.ok(info.gpu, `expected a WebGPU adapter, got: ${info.notice}`);
      // MQAR: a tiny model's loss falls by half or more within 40 steps (it first learns the
      // outputs' scale), where linear regression's stays near the trivial error for hundreds.
      // Then a short regression run, so the screenshot shows the least-squares baselines.
      const runs = [
        { arch: "mamba", task: "mqar", steps: 40, fall: 0.7 },
        { arch: "transformer", task: "mqar", steps: 40, fall: 0.7 },
        { arch: "transformer", task: "linear_regression", steps: 30, fall: 1.5 },
      ];
      for (const { arch, task, steps, fall } of runs) {
        const t0 = performance.now();
        const r = await page.evaluate(
          (o) =>
            (globalThis as unknown as { iclab: { run(o: unknown): Promise<unknown> } }).iclab
              .run({ ...o, size: "tiny", lr: 0.01 }),
          { arch, task, steps },
        ) as Summary;
        const secs = (performance.now() - t0) / 1000;
        const [head, tail] = [mean(r.losses.slice(0, 5)), mean(r.losses.slice(-5))];
        console.log(
          `web_test: ${arch} on ${task}: ${r.steps} steps in ${secs.toFixed(1)} s ` +
            `(${r.stepsPerSecond.toFixed(1)} steps/s in training), loss ${head.toFixed(3)} → ` +
            `${tail.toFixed(3)}`,
        );
        assert.equal(r.steps, steps);
        assert.ok(r.losses.every(Number.isFinite), `${arch}: non-finite loss`);
        assert.ok(tail < fall * head, `${arch} on ${task}: loss did not fall (${head} → ${tail})`);
        assert.ok(r.curves && r.curves.model.every(Number.isFinite), `${arch}: no error curve`);
      }
      // Both figures are drawn, the error one with the model and both baselines.
      for (const id of ["loss-plot", "error-plot"]) {
        const paths = await page.locator(`#${id} svg path`).count();
        assert.ok(paths >= (id === "error-plot" ? 3 : 1), `#${id}: ${paths} curves`);
      }
      const rt = await page.evaluate(() =>
        (globalThis as unknown as { iclab: { saveLoadRoundTrip(): Promise<unknown> } }).iclab
          .saveLoadRoundTrip()
      ) as { bytes: number; same: boolean };
      assert.ok(rt.bytes > 1000 && rt.same, `save/load round trip: ${JSON.stringify(rt)}`);
      // The buttons: Save downloads a .safetensors file, Load reads it back.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save")]);
      const saved = `${out}/${download.suggestedFilename()}`;
      await download.saveAs(saved);
      await page.setInputFiles("#load", saved);
      await page.waitForFunction(
        () =>
          (globalThis as unknown as {
            document: { getElementById(id: string): { textContent: string | null } | null };
          }).document.getElementById("status")?.textContent?.startsWith("loaded"),
        null,
        { timeout: 20_000 },
      );
      await page.screenshot({ path: `${out}/web.png`, fullPage: true });
      console.log(`web_test: screenshot ${out}/web.png`);
      // Without WebGPU (forced here) the page says so and trains on the CPU backend.
      await page.goto(`http://127.0.0.1:${server.addr.port}/?backend=cpu`);
      await page.waitForFunction(() => "iclab" in globalThis, null, { timeout: 20_000 });
      const cpu = await page.evaluate(() =>
        (globalThis as unknown as { iclab: { ready: Promise<unknown> } }).iclab.ready
      ) as { gpu: boolean; notice: string | null };
      assert.ok(!cpu.gpu && cpu.notice, "?backend=cpu should run on the CPU with a notice");
      assert.ok(await page.locator("#notice").isVisible(), "the CPU notice is not shown");
      const c = await page.evaluate(() =>
        (globalThis as unknown as { iclab: { run(o: unknown): Promise<unknown> } }).iclab
          .run({ task: "mqar", arch: "mamba", size: "tiny", steps: 3, lr: 0.01 })
      ) as Summary;
      assert.ok(c.steps === 3 && c.losses.every(Number.isFinite), "CPU run failed");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

// The page's run logic without a browser (so it is checked where Chromium is absent too).
Deno.test("web: a session trains on the CPU backend and its saved weights load back", async () => {
  const be = cpuBackend();
  const model = Session.modelConfig("linear_regression", {
    arch: "mamba",
    dModel: 16,
    nLayer: 2,
  });
  const s = new Session({ task: "linear_regression", model, batch: 4, lr: 0.01, seed: 1 }, be);
  const copies: Session[] = [s];
  try {
    for (let i = 0; i < 3; i++) assert.ok(Number.isFinite(await s.trainStep()));
    const bytes = await s.save();
    const back = Session.load(bytes, "saved", be);
    copies.push(back);
    assert.equal(back.step, 3);
    assert.deepEqual((await back.errorCurves()).model, (await s.errorCurves()).model);
    assert.throws(() => Session.load(bytes.slice(0, 100), "cut", be), /cut/);
  } finally {
    for (const c of copies) c.dispose();
  }
});
