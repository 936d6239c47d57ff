/**
 * The cells of an experiment: one per task × architecture × size × seed, each with the
 * resolved config that fixes everything it computes, and a stable id made of a readable name
 * and a short hash of that config. A cell owns the folder `<out>/<id>/`; `--shard` and `--cell`
 * pick cells; shards are balanced by estimated training FLOPs.
 */
import { createHash } from "node:crypto";
import type { ArchName, ModelSize } from "./archs.ts";
import { canonicalJson } from "./files.ts";
import { sizeLabel } from "./sizes.ts";
import { lrOf, sizesOf, specConfig, type SuiteSpec, trainFlops } from "./spec.ts";

/** What picking, sharding, listing and the run folder need of a cell, of any experiment. */
export interface CellRef {
  /** `<dir>/<folder>`: also the cell's folder under the run folder. */
  id: string;
  /** The id without its hash (what `--cell` also accepts). */
  name: string;
  /** Last part of the id: the folder's name inside the task's folder. */
  folder: string;
  hash: string;
  /** What config.json holds: everything the cell's training and evaluation depend on. */
  config: Record<string, unknown>;
  /** Estimated training FLOPs (the shard balance). */
  flops: number;
}

/** The short hash of a cell's config (its id's last part). */
export function configHash(config: Record<string, unknown>): string {
  return createHash("sha256").update(canonicalJson(config)).digest("hex").slice(0, 8);
}

/** One unit of work and its folder. */
export interface Cell extends CellRef {
  /** `<task dir>/<arch>-<size>-seed<seed>-<hash>`. */
  id: string;
  spec: SuiteSpec;
  arch: ArchName;
  size: ModelSize;
  seed: number;
}

/** The resolved config of one cell (the model config keeps config.json's old `model` key). */
export function cellConfig(
  spec: SuiteSpec,
  arch: ArchName,
  size: ModelSize,
  seed: number,
): Record<string, unknown> {
  return {
    task: spec.key,
    dir: spec.dir ?? spec.key,
    description: spec.description,
    protocol: spec.protocol,
    nDims: spec.task.nDims,
    nPoints: spec.task.nPoints,
    curriculum: spec.curriculum ?? null,
    arch,
    size,
    seed,
    lr: lrOf(spec, arch),
    model: specConfig(spec, arch, size),
    steps: spec.steps,
    batch: spec.batch,
    schedule: spec.schedule,
    warmup: spec.warmup,
    optimizer: spec.optimizer,
    weightDecay: spec.weightDecay ?? null,
    clip: spec.clip,
    fractions: spec.fractions,
    emaSpan: spec.emaSpan,
    evalPrompts: spec.evalPrompts,
    curvePrompts: spec.curvePrompts,
    evalEvery: spec.evalEvery,
    checkpointEvery: spec.checkpointEvery,
    late: spec.late,
  };
}

/** Every cell of the specs, in the order one process runs them (seed, architecture, size). */
export function enumerateCells(specs: SuiteSpec[]): Cell[] {
  const cells: Cell[] = [];
  for (const spec of specs) {
    const dir = spec.dir ?? spec.key;
    for (const seed of spec.seeds) {
      for (const arch of spec.models) {
        for (const size of sizesOf(spec, arch)) {
          const config = cellConfig(spec, arch, size, seed);
          const hash = configHash(config);
          const folder = `${arch}-${sizeLabel(size)}-seed${seed}-${hash}`;
          cells.push({
            id: `${dir}/${folder}`,
            name: `${dir}/${arch}-${sizeLabel(size)}-seed${seed}`,
            folder,
            hash,
            spec,
            arch,
            size,
            seed,
            config,
            flops: trainFlops(
              config.model as never,
              spec.task,
              spec.curriculum,
              spec.batch,
              spec.steps,
            ),
          });
        }
      }
    }
  }
  return cells;
}

/**
 * Shard `index` of `count`: cells sorted by FLOPs (largest first, ties by id) each go to the
 * least-loaded shard (ties: the lowest index). Deterministic, so every process agrees.
 */
export function shardCells<C extends CellRef>(cells: C[], index: number, count: number): C[] {
  const load = Array(count).fill(0);
  const mine = new Set<string>();
  const order = [...cells].sort((a, b) => b.flops - a.flops || (a.id < b.id ? -1 : 1));
  for (const c of order) {
    let k = 0;
    for (let j = 1; j < count; j++) if (load[j] < load[k]) k = j;
    load[k] += c.flops;
    if (k === index) mine.add(c.id);
  }
  return cells.filter((c) => mine.has(c.id));
}

/** The cells `--cell` names (full ids or names without the hash); unknown names are listed. */
export function namedCells<C extends CellRef>(
  cells: C[],
  wanted: string[],
): { cells: C[]; unknown: string[] } {
  const unknown = wanted.filter((w) => !cells.some((c) => c.id === w || c.name === w));
  const set = new Set(wanted);
  return { cells: cells.filter((c) => set.has(c.id) || set.has(c.name)), unknown };
}
