/**
 * Matmul WGSL for software adapters (llvmpipe/lavapipe). llvmpipe runs 8 invocations as the lanes
 * of one AVX2 vector and compiles every storage-buffer load into a loop over the lanes (exec-mask
 * test, bounds check and one scalar insert per component: ~250 instructions per vec4 load of 8
 * lanes, measured with perf on Mesa 22.3), while an f32 FMA is a vmulps + vaddps pair. Loads are
 * what costs (60-75% of the time), so each invocation computes a TM x TN block with fully
 * unrolled named accumulators (private arrays are about 2x slower there), loads operands as vec4
 * where the layout allows (one lane loop fetches four values) and applies all k-steps of a loaded
 * vec4 to one accumulator in a row (one spill reload/store per four FMAs), and uses no shared
 * memory (a barrier is a coroutine switch and shared loads take the same per-lane loop).
 */
import type { UnaryOp } from "../../backend.ts";
import { TEXEL_FN } from "./texture_operands.ts";
import { UNARY } from "./elementwise.ts";
import { MATH } from "./wgsl_math.ts";

/** How an operand is fetched: vec4 along k, vec4 along its outer dim (m or n), or scalars. */
export type OperandMode = "k4" | "o4" | "s";

export interface SwVariant {
  tm: number;
  tn: number;
  aMode: OperandMode;
  bMode: OperandMode;
  /** A is stored [k, m] / B is stored [n, k]. */
  transA: boolean;
  transB: boolean;
  /** k is a multiple of 4: the k loop advances 4 at a time. */
  k4: boolean;
  /** n is a multiple of 4 (and tn too): C rows are written as vec4. */
  c4: boolean;
  /** Invocations along n per workgroup (1, 2, 4 or 8); the rest of SW_WG lie along m. */
  wx: number;
  /**
   * All SW_WG invocations of a workgroup along m (x indexes row blocks): llvmpipe packs only
   * consecutive x invocations into one vector, so a workgroup narrower than 8 along x leaves
   * lanes idle (measured at 1024³: wx 8 / 4 / 1 gave 40 / 19 / 6.4 GFLOP/s). Narrow outputs
   * (n < 8 blocks) use this instead of wx < 8.
   */
  mx: boolean;
  /**
   * A bias (binding 4) starts every accumulator, the linear layer's epilogue for free: "cols"
   * adds bias[j] to column j, "rows" adds bias[i] to row i (a linear layer computed as Cᵀ).
   */
  bias: "none" | "cols" | "rows";
  /**
   * A and B are GpuTextures (runtime.ts layout) instead of storage buffers; vec4 modes only.
   * llvmpipe gathers texels with vector code where a storage-buffer vec4 load is a per-lane
   * loop: measured 1.2-1.4x at 1024³ and on the linear layer's shape, copies included.
   */
  tex: boolean;
  /**
   * Activation epilogue: C = act(acc) (an elementwise op's WGSL, see elementwise.ts), and with
   * `pre` the accumulators themselves go to one more binding (the backward needs them).
   */
  act: UnaryOp | null;
  pre: boolean;
  /**
   * Also sum op(A)'s rows ("rows", [m]) or op(B)'s columns ("cols", [n]) over k from the values
   * the block loads anyway (a bias gradient beside its weight gradient). C and the sums share
   * one binding: C of batch b at b·cStride, its sums sOff after that (uniforms).
   */
  sums: "none" | "rows" | "cols";
}

/**
 * Invocations per workgroup: SW_WG = wx along n times SW_WG / wx along m. Measured at 1024^3
 * with 32x32 blocks and wx = 8: 32, 64 and 128 invocations all give ~35 GFLOP/s; 8 or 16 ran
 * 2-7x slower. wx = 8 fills one AVX2 vector along n, but a narrow C (n = 64 is 2 blocks of 32)
 * would leave 6 of those 8 lanes idle, so narrow outputs put the lanes along m.
 */
export const SW_WG = 32;

export function swKernelName(v: SwVariant): string {
  return `matmul_sw_${v.tm}x${v.tn}_a${v.transA ? "T" : "N"}${v.aMode}_b${v.transB ? "T" : "N"}` +
    `${v.bMode}_k${v.k4 ? 4 : 1}_c${v.c4 ? 4 : 1}_${v.mx ? "mx" : `w${v.wx}`}` +
    (v.bias === "none" ? "" : `_bias${v.bias === "rows" ? "r" : ""}`) + (v.tex ? "_tex" : "") +
    (v.act ? `_${v.act}${v.pre ? "_pre" : ""}` : "") +
    (v.sums === "none" ? "" : `_sum${v.sums === "rows" ? "r" : "c"}`);
}

/** Workgroups along x and y for an m x n output. */
export function swGrid(v: SwVariant, m: number, n: number): [number, number] {
  const rows = Math.ceil(m / v.tm), cols = Math.ceil(n / v.tn);
  return v.mx
    ? [Math.ceil(rows / SW_WG), cols]
    : [Math.ceil(cols / v.wx), Math.ceil(rows / (SW_WG / v.wx))];
}

/**
 * WGSL for one variant; uniforms m, n, k, aStride, bStride, batch0 (u32), storage bindings A, B
 * (read; textures with `tex`), C (read_write), with `bias` Bias (read; [n], or [m] for "rows")
 * and with `pre` Pre (read_write, the next binding). Out-of-range
 * rows and columns of a block are clamped to the last valid one for loading (so every load is
 * in bounds and the loop stays branch-free) and masked when storing. Dispatch: x covers n / tn
 * blocks in groups of wx, y covers m / tm blocks in groups of SW_WG / wx, z the batch (with
 * `mx`: x covers m / tm blocks in groups of SW_WG, y the n / tn blocks).
 */
export function swKernelWgsl(v: SwVariant): string {
  const { tm, tn, aMode, bMode, transA, transB } = v;
  const ks = v.k4 ? 4 : 1;
  const L: string[] = [];
  const aVec = aMode !== "s";
  const bVec = bMode !== "s";
  if (v.tex && (!aVec || !bVec)) throw new Error("matmul_sw: texture operands need vec4 modes");
  const operands = v.tex
    ? `@group(0) @binding(1) var A: texture_2d<f32>;
@group(0) @binding(2) var B: texture_2d<f32>;
${TEXEL_FN}`
    : `@group(0) @binding(1) var<storage, read> A: array<${aVec ? "vec4<f32>" : "f32"}>;
@group(0) @binding(2) var<storage, read> B: array<${bVec ? "vec4<f32>" : "f32"}>;`;
  const ld = (x: "A" | "B", i: string) => v.tex ? `texel(${x}, ${i})` : `${x}[${i}]`;
  const sums = v.sums !== "none";
  L.push(
    `struct U { m: u32, n: u32, k: u32, aStride: u32, bStride: u32, batch0: u32${
      sums ? ", cStride: u32, sOff: u32" : ""
    } }
@group(0) @binding(0) var<uniform> u: U;
${operands}
@group(0) @binding(3) var<storage, read_write> C: array<${v.c4 ? "vec4<f32>" : "f32"}>;
${v.bias !== "none" ? "@group(0) @binding(4) var<storage, read> Bias: array<f32>;" : ""}
${
      v.pre
        ? `@group(0) @binding(${v.bias !== "none" ? 5 : 4}) var<storage, read_write> Pre: ` +
          `array<${v.c4 ? "vec4<f32>" : "f32"}>;`
        : ""
    }
${v.act ? `${MATH}\nfn act_(x: f32) -> f32 { return ${UNARY[v.act][0]}; }` : ""}

@compute @workgroup_size(${v.mx ? `${SW_WG}, 1` : `${v.wx}, ${SW_WG / v.wx}`})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = u.m; let n = u.n; let k = u.k;
  let i0 = gid.${v.mx ? "x" : "y"} * ${tm}u;
  let j0 = gid.${v.mx ? "y" : "x"} * ${tn}u;
  if (i0 >= m || j0 >= n) { return; }
  let bt = gid.z + u.batch0;`,
  );
  // Base offsets in units of the array element (vec4 bases need stride % 4 == 0, checked by
  // the caller).
  L.push(`  let aBase = bt * u.aStride${aVec ? " / 4u" : ""};`);
  L.push(`  let bBase = bt * u.bStride${bVec ? " / 4u" : ""};`);
  // Per-row / per-column base indices (clamped), hoisted out of the k loop.
  // A element (i, p): notrans i * k + p, trans p * m + i. B element (p, j): notrans p * n + j,
  // trans j * k + p.
  if (aMode === "o4") {
    for (let r = 0; r < tm / 4; r++) {
      L.push(`  let ra${r} = aBase + min(i0 / 4u + ${r}u, m / 4u - 1u);`);
    }
  } else {
    for (let r = 0; r < tm; r++) {
      const row = `min(i0 + ${r}u, m - 1u)`;
      if (aMode === "k4") L.push(`  let ra${r} = aBase + ${row} * (k / 4u);`);
      else L.push(`  let ra${r} = aBase + ${transA ? row : `${row} * k`};`);
    }
  }
  if (bMode === "o4") {
    for (let c = 0; c < tn / 4; c++) {
      L.push(`  let cb${c} = bBase + min(j0 / 4u + ${c}u, n / 4u - 1u);`);
    }
  } else {
    for (let c = 0; c < tn; c++) {
      const col = `min(j0 + ${c}u, n - 1u)`;
      if (bMode === "k4") L.push(`  let cb${c} = bBase + ${col} * (k / 4u);`);
      else L.push(`  let cb${c} = bBase + ${transB ? `${col} * k` : col};`);
    }
  }
  if (v.bias === "cols") {
    for (let c = 0; c < tn; c++) L.push(`  let bias${c} = Bias[min(j0 + ${c}u, n - 1u)];`);
  }
  if (v.bias === "rows") {
    for (let r = 0; r < tm; r++) L.push(`  let biasr${r} = Bias[min(i0 + ${r}u, m - 1u)];`);
  }
  for (let r = 0; r < tm; r++) {
    L.push(
      "  " +
        range(tn).map((c) =>
          `var c${r}_${c} = ${
            v.bias === "cols" ? `bias${c}` : v.bias === "rows" ? `biasr${r}` : "0.0"
          };`
        ).join(" "),
    );
  }
  const sumLen = v.sums === "rows" ? tm : v.sums === "cols" ? tn : 0;
  if (sums) L.push("  " + range(sumLen).map((x) => `var s${x} = 0.0;`).join(" "));
  L.push(`  for (var p = 0u; p < k; p += ${ks}u) {`);
  // Loads: produce expressions aE(r, q) and bE(q, c) for the ks k-steps of this iteration.
  const aE: string[][] = range(tm).map(() => []);
  const bE: string[][] = range(ks).map(() => []);
  for (let q = 0; q < ks; q++) {
    const pq = q === 0 ? "p" : `(p + ${q}u)`;
    if (aMode === "k4") {
      if (q === 0) {
        for (let r = 0; r < tm; r++) L.push(`    let a${r} = ${ld("A", `ra${r} + p / 4u`)};`);
      }
      for (let r = 0; r < tm; r++) aE[r][q] = `a${r}.${"xyzw"[q]}`;
    } else if (aMode === "o4") {
      for (let r = 0; r < tm / 4; r++) {
        L.push(`    let a${q}_${r} = ${ld("A", `ra${r} + ${pq} * (m / 4u)`)};`);
      }
      for (let r = 0; r < tm; r++) aE[r][q] = `a${q}_${r >> 2}.${"xyzw"[r & 3]}`;
    } else {
      for (let r = 0; r < tm; r++) {
        const idx = transA ? `ra${r} + ${pq} * m` : `ra${r} + ${pq}`;
        L.push(`    let a${q}_${r} = A[${idx}];`);
        aE[r][q] = `a${q}_${r}`;
      }
    }
    if (bMode === "k4") {
      if (q === 0) {
        for (let c = 0; c < tn; c++) L.push(`    let b${c} = ${ld("B", `cb${c} + p / 4u`)};`);
      }
      for (let c = 0; c < tn; c++) bE[q][c] = `b${c}.${"xyzw"[q]}`;
    } else if (bMode === "o4") {
      for (let c = 0; c < tn / 4; c++) {
        L.push(`    let b${q}_${c} = ${ld("B", `cb${c} + ${pq} * (n / 4u)`)};`);
      }
      for (let c = 0; c < tn; c++) bE[q][c] = `b${q}_${c >> 2}.${"xyzw"[c & 3]}`;
    } else {
      for (let c = 0; c < tn; c++) {
        const idx = transB ? `cb${c} + ${pq}` : `cb${c} + ${pq} * n`;
        L.push(`    let b${q}_${c} = B[${idx}];`);
        bE[q][c] = `b${q}_${c}`;
      }
    }
  }
  // Each accumulator takes all ks updates in a row: one spill reload and store per ks FMAs.
  for (let r = 0; r < tm; r++) {
    for (let c = 0; c < tn; c++) {
      let e = `c${r}_${c}`;
      for (let q = 0; q < ks; q++) e = `fma(${aE[r][q]}, ${bE[q][c]}, ${e})`;
      L.push(`    c${r}_${c} = ${e};`);
    }
  }
  for (let x = 0; x < sumLen; x++) {
    const terms = range(ks).map((q) => v.sums === "rows" ? aE[x][q] : bE[q][x]);
    L.push(`    s${x} = s${x} + ${terms.join(" + ")};`);
  }
  L.push("  }");
  // Stores, masked to the valid rows and columns.
  L.push(`  let cBase = bt * ${sums ? "u.cStride" : "m * n"};`);
  if (sums) L.push(...storeSums(v, sumLen));
  const outs: [string, (x: string) => string][] = [["C", (x) => v.act ? `act_(${x})` : x]];
  if (v.pre) outs.push(["Pre", (x) => x]);
  for (let r = 0; r < tm; r++) {
    const row = `i0 + ${r}u`;
    L.push(`  if (${row} < m) {`);
    for (const [buf, f] of outs) {
      if (v.c4) {
        for (let c = 0; c < tn / 4; c++) {
          const vals = range(4).map((e) => f(`c${r}_${4 * c + e}`)).join(", ");
          L.push(
            `    if (j0 + ${4 * c}u < n) { ${buf}[(cBase + (${row}) * n + j0) / 4u + ${c}u] = ` +
              `vec4<f32>(${vals}); }`,
          );
        }
      } else {
        for (let c = 0; c < tn; c++) {
          const idx = `cBase + (${row}) * n + j0 + ${c}u`;
          L.push(`    if (j0 + ${c}u < n) { ${buf}[${idx}] = ${f(`c${r}_${c}`)}; }`);
        }
      }
    }
    L.push("  }");
  }
  L.push("}");
  return L.join("\n") + "\n";
}

/**
 * The sums' stores: only the blocks of the first block column ("rows") or row ("cols") write
 * (every block computes them; the others' copies are dropped). As vec4 with c4: rows blocks are
 * multiples of 4, and the caller pads the sums to a multiple of 4, so a vec4 may run past m but
 * not past the padding.
 */
function storeSums(v: SwVariant, len: number): string[] {
  const rows = v.sums === "rows";
  const [first, start, lim] = rows ? ["j0", "i0", "m"] : ["i0", "j0", "n"];
  const L = [`  if (${first} == 0u) {`, `    let sBase = cBase + u.sOff + ${start};`];
  if (v.c4) {
    for (let x = 0; x < len / 4; x++) {
      const vals = range(4).map((e) => `s${4 * x + e}`).join(", ");
      L.push(
        `    if (${start} + ${4 * x}u < ${lim}) { C[sBase / 4u + ${x}u] = vec4<f32>(${vals}); }`,
      );
    }
  } else {
    for (let x = 0; x < len; x++) {
      L.push(`    if (${start} + ${x}u < ${lim}) { C[sBase + ${x}u] = s${x}; }`);
    }
  }
  L.push("  }");
  return L;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
