/**
 * The page: controls, the training loop with live plots, save and load. `window.iclab` lets a
 * test (tests/web_test.ts) start runs and read their losses without clicking.
 */
/// <reference lib="dom" />
// The browser's WebGPU types (the npm package), next to Deno's built-in ones.
/// <reference types="npm:@webgpu/types@0.1.74" />
import { type PageBackend, pickBackend } from "./backend.ts";
import { ARCH_CHOICES, blocksFor, SIZES, TASKS } from "./choices.ts";
import { errorSvg, lossSvg } from "./plots.ts";
import { type ErrorCurves, Session } from "./session.ts";

export interface RunOptions {
  task?: string;
  arch?: string;
  size?: string;
  steps?: number;
  lr?: number;
  batch?: number;
}

export interface RunSummary {
  arch: string;
  task: string;
  steps: number;
  params: number;
  losses: number[];
  stepsPerSecond: number;
  curves: ErrorCurves | null;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
/** Redraw every this many steps, and evaluate the error curve every EVAL_EVERY. */
const DRAW_EVERY = 5;
const EVAL_EVERY = 25;

let page: PageBackend;
let session: Session | null = null;
let running = false;
let stopRequested = false;
/** After a load, Train continues the loaded model instead of starting a new one. */
let continueLoaded = false;

function fillSelect(id: string, entries: [string, string][], value: string): void {
  const sel = $<HTMLSelectElement>(id);
  sel.replaceChildren(
    ...entries.map(([v, label]) => new Option(label, v, v === value, v === value)),
  );
}

function setStatus(text: string): void {
  $("status").textContent = text;
}

function archLabel(arch: string): string {
  return ARCH_CHOICES.find((a) => a.arch === arch)?.label ?? arch;
}

function draw(s: Session, curves: ErrorCurves | null, stepsPerSecond: number): void {
  const label = archLabel(s.spec.model.arch);
  if (s.losses.length) $("loss-plot").innerHTML = lossSvg(s.losses, label);
  if (curves) $("error-plot").innerHTML = errorSvg(curves, label, s.choice.xLabel);
  const last = s.losses.at(-1)?.[1];
  setStatus(
    `${label} on ${s.choice.label}: step ${s.step}, loss ${last?.toFixed(4) ?? "–"}, ` +
      `${stepsPerSecond.toFixed(1)} steps/s, ${s.parameterCount.toLocaleString()} parameters`,
  );
}

/** The form's value, or the caller's, which the form then shows (a test's run looks the same). */
function choice(id: string, given: string | number | undefined): string {
  const el = $<HTMLSelectElement | HTMLInputElement>(id);
  if (given !== undefined) el.value = String(given);
  return el.value;
}

function newSession(o: RunOptions): Session {
  const task = choice("task", o.task);
  const arch = choice("arch", o.arch) as typeof ARCH_CHOICES[number]["arch"];
  const size = SIZES[choice("size", o.size)];
  const model = Session.modelConfig(task, {
    arch,
    dModel: size.dModel,
    nLayer: blocksFor(arch, size.layers),
    ...(arch === "mamba" ? {} : { nHead: size.nHead }),
  });
  const lr = Number(choice("lr", o.lr));
  return new Session({ task, model, batch: o.batch ?? 16, lr, seed: 1 }, page.backend);
}

/** Train `steps` steps (or until Stop), drawing as it goes; yields to the page between steps. */
async function train(s: Session, steps: number): Promise<RunSummary> {
  running = true;
  stopRequested = false;
  $<HTMLButtonElement>("start").textContent = "Stop";
  let curves: ErrorCurves | null = null, trainMs = 0, sps = 0;
  const first = s.step;
  try {
    for (let i = 0; i < steps && !stopRequested; i++) {
      const t0 = performance.now();
      await s.trainStep();
      trainMs += performance.now() - t0;
      sps = (s.step - first) / (trainMs / 1000);
      const end = i === steps - 1 || stopRequested;
      if (s.step % EVAL_EVERY === 0 || end) curves = await s.errorCurves();
      if (s.step % DRAW_EVERY === 0 || end) draw(s, curves, sps);
      // Let the browser paint and handle clicks before the next step.
      await new Promise((r) => setTimeout(r));
    }
    curves = await s.errorCurves();
    draw(s, curves, sps);
  } finally {
    running = false;
    $<HTMLButtonElement>("start").textContent = "Train";
  }
  return {
    arch: s.spec.model.arch,
    task: s.spec.task,
    steps: s.step,
    params: s.parameterCount,
    losses: s.losses.map(([, l]) => l),
    stepsPerSecond: sps,
    curves,
  };
}

/** A fresh run with the given (or the form's) choices. */
async function run(o: RunOptions = {}): Promise<RunSummary> {
  if (running) throw new Error("a run is already in progress");
  session?.dispose();
  session = newSession(o);
  return await train(session, Number(choice("steps", o.steps)));
}

function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(
    new Blob([bytes as BlobPart], { type: "application/octet-stream" }),
  );
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function saveFile(): Promise<void> {
  if (!session) return setStatus("nothing to save yet: train a model first");
  const bytes = await session.save();
  download(
    bytes,
    `iclab-${session.spec.model.arch}-${session.spec.task}-${session.step}.safetensors`,
  );
}

async function loadFile(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  try {
    const s = Session.load(bytes, file.name, page.backend);
    session?.dispose();
    session = s;
    continueLoaded = true;
    $<HTMLSelectElement>("task").value = s.spec.task;
    $<HTMLSelectElement>("arch").value = s.spec.model.arch;
    const size = Object.entries(SIZES).find(([, z]) => z.dModel === s.spec.model.dModel);
    if (size) $<HTMLSelectElement>("size").value = size[0];
    draw(s, await s.errorCurves(), 0);
    setStatus(`loaded ${file.name}: ${s.spec.model.arch} at step ${s.step}; Train continues it`);
  } catch (e) {
    setStatus(`could not load ${file.name}: ${(e as Error).message}`);
  }
}

/**
 * Save the current weights, load them into a new session and compare their error curves: the
 * test's check that a download loads back to the same model.
 */
async function saveLoadRoundTrip(): Promise<{ bytes: number; same: boolean }> {
  if (!session) throw new Error("no session");
  const bytes = await session.save();
  const copy = Session.load(bytes, "round-trip", page.backend);
  try {
    const [a, b] = [await session.errorCurves(), await copy.errorCurves()];
    return { bytes: bytes.length, same: a.model.every((v, i) => v === b.model[i]) };
  } finally {
    copy.dispose();
  }
}

function showBackend(p: PageBackend): void {
  $("adapter").textContent = p.adapter;
  $("limits").replaceChildren(
    ...p.limits.map((l) => Object.assign(document.createElement("li"), { textContent: l })),
  );
  if (p.notice) {
    $("notice").textContent = p.notice;
    $("notice").hidden = false;
  }
}

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  fillSelect("task", Object.entries(TASKS).map(([k, t]) => [k, t.label]), "linear_regression");
  fillSelect("arch", ARCH_CHOICES.map((a) => [a.arch, a.label]), "transformer");
  fillSelect(
    "size",
    Object.entries(SIZES).map(([k, s]) => [k, `${k} (width ${s.dModel})`]),
    "small",
  );
  page = await pickBackend(q.get("backend") === "cpu");
  showBackend(page);
  $("start").addEventListener("click", () => {
    if (running) stopRequested = true;
    else if (session && continueLoaded) {
      continueLoaded = false;
      train(session, Number($<HTMLInputElement>("steps").value)).catch(fail);
    } else run().catch(fail);
  });
  $("save").addEventListener("click", () => saveFile().catch(fail));
  $<HTMLInputElement>("load").addEventListener("change", (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) loadFile(f).catch(fail);
  });
  setStatus("ready: pick a task, an architecture and a size, then Train");
}

function fail(e: unknown): void {
  running = false;
  setStatus(`error: ${(e as Error).message ?? e}`);
  console.error(e);
}

const ready = main();
ready.catch(fail);
(globalThis as unknown as { iclab: unknown }).iclab = {
  ready: ready.then(() => ({ gpu: page.gpu, adapter: page.adapter, notice: page.notice ?? null })),
  run,
  saveLoadRoundTrip,
};
