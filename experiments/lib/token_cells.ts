/**
 * Token experiments (exp:ginc, exp:regbench) on the cell pipeline: one cell per architecture ×
 * seed, each training a token model in its own folder under its lock (run.ts's `runCell`), with
 * the common trainer's checkpoints and exact resume; finished cells are reused, `--list-cells`,
 * `--shard`, `--cell`, `--emit` and `--report` (what exp:report runs) work as in every sweep.
 * The data sets are made once per seed (cached in the run folder's `data/`) and only where a cell
 * of that seed trains.
 */
import type { Backend } from "../../core/backend.ts";
import { initBackend } from "../../core/device_select.ts";
import type { Rng } from "../../core/rng.ts";
import { CheckpointError } from "../../nn/checkpoint.ts";
import { cosineSchedule } from "../../nn/optim.ts";
import { type CellRef, configHash } from "./cells.ts";
import { CellRefusedError } from "./cell_lock.ts";
import { emitLauncher } from "./emit.ts";
import { toJsonExact, writeAtomic } from "./files.ts";
import { fmtTime } from "./progress.ts";
import { readLines, readResult, runCell } from "./run.ts";
import { experimentRecord, prepareRunFolder } from "./run_folder.ts";
import { listCells, selectCells } from "./select.ts";
import type { SweepOptions } from "./sweep_flags.ts";
import { NonFiniteLossError } from "./trainer.ts";
import {
  type IdBatch,
  makeTokenModel,
  type TokenArch,
  type TokenModel,
  type TokenModelSize,
  trainTokens,
} from "./token_train.ts";

/** What every cell of a token experiment shares (all of it lands in each cell's config). */
export interface TokenRecipe {
  /** The cells' sub-folder, e.g. "ginc". */
  dir: string;
  /** The model size of an architecture (GINC's LSTM is deeper than the rest). */
  size: (arch: TokenArch) => TokenModelSize;
  /** Training steps of an architecture (GINC's LSTM gets fewer: its steps are sequential). */
  steps: (arch: TokenArch) => number;
  batch: number;
  /** Tokens per training sequence (the FLOPs estimate). */
  length: number;
  /** Peak Adam lr of an architecture (tuned per model: one lr left the LSTM barely trained). */
  lr: (arch: TokenArch) => number;
  clip: number;
  checkpointEvery: number;
  /** What makes the data and the evaluation (preset fields): part of every cell's hash. */
  data: Record<string, unknown>;
}

export interface TokenCell extends CellRef {
  arch: TokenArch;
  seed: number;
  size: TokenModelSize;
}

/** A seed's data: the training stream and the evaluation of a trained model. */
export interface TokenData<M> {
  draw(rng: Rng, step: number): IdBatch;
  evaluate(model: TokenModel): Promise<M>;
}

/** A cell's result.json. */
export interface TokenRow<M> {
  cell: string;
  model: TokenArch;
  seed: number;
  width: number;
  layers: number;
  params: number;
  steps: number;
  seconds: number;
  /** [step, mean loss since the previous record], from the cell's metrics.jsonl. */
  losses: [number, number][];
  /** Undefined when training stopped on a non-finite loss. */
  metrics?: M;
  backend: string;
  error?: string;
}

/** Parameters of a token model, roughly (the shard balance only). */
function paramEstimate(arch: TokenArch, s: TokenModelSize): number {
  const io = 2 * s.vocab * s.width;
  if (arch === "lstm") return io + s.layers * 4 * s.width * (2 * s.width + 1);
  return io + s.layers * 12 * s.width * s.width;
}

/** The cells, in the order one process runs them (seed, then architecture). */
export function tokenCells(
  experiment: string,
  archs: TokenArch[],
  seeds: number[],
  r: TokenRecipe,
): TokenCell[] {
  const cells: TokenCell[] = [];
  for (const seed of seeds) {
    for (const arch of archs) {
      const size = r.size(arch), steps = r.steps(arch);
      const config = {
        experiment,
        arch,
        seed,
        model: size,
        steps,
        batch: r.batch,
        lr: r.lr(arch),
        schedule: "cosine",
        warmup: Math.ceil(steps / 20),
        clip: r.clip,
        checkpointEvery: r.checkpointEvery,
        data: r.data,
      };
      const hash = configHash(config);
      const name = `${arch}-${size.width}x${size.layers}-seed${seed}`;
      cells.push({
        id: `${r.dir}/${name}-${hash}`,
        name: `${r.dir}/${name}`,
        folder: `${name}-${hash}`,
        hash,
        config,
        flops: 6 * paramEstimate(arch, size) * r.batch * r.length * steps,
        arch,
        seed,
        size,
      });
    }
  }
  return cells;
}

const TOKEN_CELL_FILES = ["metrics.jsonl", "result.json", "checkpoint.safetensors"];

/** Trains and evaluates one cell in `<dir>/<folder>` (or reuses its result); dir: the run's `<out>/<recipe.dir>`. */
export function runTokenCell<M>(
  dir: string,
  cell: TokenCell,
  r: TokenRecipe,
  data: TokenData<M>,
  backend: Backend,
): Promise<TokenRow<M>> {
  return runCell(dir, cell, TOKEN_CELL_FILES, async (runDir, resume) => {
    const { arch, seed, size } = cell;
    const model = makeTokenModel(arch, size, seed, backend);
    const total = cell.config.steps as number;
    let steps = 0, seconds = 0, error: string | undefined;
    try {
      const res = await trainTokens(model, (rng, step) => data.draw(rng, step), backend, {
        steps: total,
        schedule: cosineSchedule({
          lr: cell.config.lr as number,
          totalSteps: total,
          warmupSteps: cell.config.warmup as number,
        }),
        clip: r.clip,
        seed,
        logEvery: Math.max(1, Math.floor(total / 10)),
        runDir,
        checkpointEvery: r.checkpointEvery,
        resume,
        label: `${r.dir}/${arch} seed ${seed}`,
        config: { model: { arch, ...size } },
      });
      steps = res.steps;
      seconds = res.seconds;
    } catch (e) {
      if (!(e instanceof NonFiniteLossError)) throw e;
      error = e.message;
      steps = e.step;
      seconds = e.seconds;
      console.error(e.message);
    }
    // The losses come from the cell's file, so a resumed cell's equal an uninterrupted one's.
    const losses = (await readLines<{ step: number; loss?: number }>(`${runDir}/metrics.jsonl`))
      .filter((x) => typeof x.loss === "number")
      .map((x): [number, number] => [x.step, x.loss!]);
    const row: TokenRow<M> = {
      cell: cell.id,
      model: arch,
      seed,
      width: size.width,
      layers: size.layers,
      params: model.numParams(),
      steps,
      seconds,
      losses,
      metrics: error ? undefined : await data.evaluate(model),
      backend: backend.description,
    };
    if (error) row.error = error;
    model.dispose();
    await writeAtomic(`${runDir}/result.json`, toJsonExact(row));
    console.log(
      `  ${cell.id}: ${error ? "diverged, " : ""}${steps} steps, ${fmtTime(seconds)} ` +
        `(${row.params.toLocaleString("en-US")} params)`,
    );
    return row;
  });
}

/** How a token experiment's process runs: its flags, cells and per-seed data. */
export interface TokenRunOptions<M> {
  /** "ginc" or "regbench" (the script experiments/<experiment>.ts, for exp:report). */
  experiment: string;
  out: string;
  backend: "auto" | "webgpu" | "cpu";
  resume: boolean;
  sweep: SweepOptions;
  recipe: TokenRecipe;
  cells: TokenCell[];
  /** The data of one seed, made only where one of its cells trains. */
  prepare: (seed: number, dataDir: string) => Promise<TokenData<M>>;
}

/**
 * Runs this process's cells and returns every cell's result once all are there. `--list-cells`
 * and `--emit` print and exit 0; a process whose cells are done while others' are not (a shard)
 * lists what is left and exits 0 (exit 3 under `--report`); a refused cell exits 2.
 */
export async function runTokenCells<M>(o: TokenRunOptions<M>): Promise<TokenRow<M>[]> {
  const name = `exp:${o.experiment}`;
  const { cells, sweep: sw } = o;
  if (sw.listCells) {
    console.log(listCells(cells, sw.shards));
    Deno.exit(0);
  }
  if (sw.emit) {
    console.log(emitLauncher(name, o.experiment, cells, o.out, sw));
    Deno.exit(0);
  }
  const selected = selectCells(name, cells, sw);
  const backend = await initBackend(sw.report ? "cpu" : o.backend, sw.report);
  await prepareRunFolder(name, o.out, experimentRecord(o.experiment, cells), {
    resume: o.resume,
    force: sw.force,
    report: sw.report,
  });
  console.log(`  backend ${backend.name} (${backend.description}); run folder ${o.out}`);
  console.log(`  ${selected.size} of ${cells.length} cells to run in this process`);
  const dir = `${o.out}/${o.recipe.dir}`;
  const rows: TokenRow<M>[] = [];
  const pending: { id: string; state: string }[] = [];
  const seeds = [...new Set(cells.map((c) => c.seed))];
  try {
    for (const seed of seeds) {
      const mine = cells.filter((c) => c.seed === seed);
      const data = mine.some((c) => selected.has(c.id))
        ? await o.prepare(seed, `${o.out}/data`)
        : undefined;
      for (const cell of mine) {
        const row = data && selected.has(cell.id)
          ? await runTokenCell(dir, cell, o.recipe, data, backend)
          : await readResult<TokenRow<M>>(dir, cell);
        if (row) rows.push(row);
        else {
          const started = await Deno.stat(`${o.out}/${cell.id}/config.json`).then(() => true)
            .catch(() => false);
          pending.push({ id: cell.id, state: started ? "unfinished" : "missing" });
        }
      }
    }
  } catch (e) {
    // A refused cell or a checkpoint it cannot resume from is bad input, not a crash.
    if (!(e instanceof CellRefusedError || e instanceof CheckpointError)) throw e;
    console.error(`${name}: ${e.message}`);
    Deno.exit(2);
  }
  if (pending.length) {
    const lines = pending.map((p) => `  ${p.state.padEnd(10)} ${p.id}`);
    console.log(
      `\n${cells.length - pending.length} of ${cells.length} cells have results in ${o.out}; ` +
        `left (unfinished: started, then failed or still running):\n${lines.join("\n")}`,
    );
    if (sw.report) {
      console.error(
        `${name}: --report: ${pending.length} cell(s) without a result; nothing written`,
      );
      Deno.exit(3);
    }
    console.log(
      `this process's cells are done; merge the folders with: deno task exp:report DIR...`,
    );
    Deno.exit(0);
  }
  return rows;
}
