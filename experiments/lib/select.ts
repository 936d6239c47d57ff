/**
 * Which cells this process trains (`--shard`, `--cell`, else all), and `--list-cells`.
 */
import { fail } from "./cli.ts";
import { type CellRef, namedCells, shardCells } from "./cells.ts";
import type { SweepOptions } from "./sweep_flags.ts";

/** The ids this process trains; exits 2 naming unknown `--cell` ids. */
export function selectCells(name: string, cells: CellRef[], o: SweepOptions): Set<string> {
  if (o.report) return new Set();
  if (o.shard) return new Set(shardCells(cells, o.shard.index, o.shard.count).map((c) => c.id));
  if (o.cells) {
    const { cells: picked, unknown } = namedCells(cells, o.cells);
    if (unknown.length) {
      fail(
        name,
        `--cell names no cell of this experiment: ${unknown.join(", ")} (see --list-cells)`,
      );
    }
    return new Set(picked.map((c) => c.id));
  }
  return new Set(cells.map((c) => c.id));
}

/** One line per cell: id, estimated training FLOPs, and its shard when `--shards` is given. */
export function listCells(cells: CellRef[], shards?: number): string {
  const shardOf = new Map<string, number>();
  for (let i = 0; i < (shards ?? 0); i++) {
    for (const c of shardCells(cells, i, shards!)) shardOf.set(c.id, i);
  }
  const width = Math.max(...cells.map((c) => c.id.length));
  const lines = cells.map((c) =>
    `${c.id.padEnd(width)}  ${c.flops.toExponential(2)} FLOPs` +
    (shards ? `  shard ${shardOf.get(c.id)}/${shards}` : "")
  );
  const total = cells.reduce((s, c) => s + c.flops, 0);
  lines.push(`${cells.length} cells, ${total.toExponential(2)} training FLOPs in all`);
  return lines.join("\n");
}
