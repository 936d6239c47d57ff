/**
 * Every per-adapter kernel choice, in one place. A CPU adapter (llvmpipe, lavapipe, SwiftShader,
 * WARP) wants the opposite of a GPU: fully unrolled register blocks, consecutive work per
 * invocation and no workgroup memory (each barrier is a coroutine switch there), where a GPU wants
 * many threads, coalesced loads and shared-memory tiles. device.ts picks a profile from the
 * adapter; kernels read `rt.profile` and nothing else; tests and benchmarks run the other family
 * on the same adapter with `Runtime.withProfile`.
 */

/**
 * Attention kernel shape: `wg` invocations per workgroup, each owning `rows` rows (its registers
 * hold rows·dh/4 vec4s per operand), stepping over tiles of `tile` rows staged in workgroup memory.
 */
export interface AttentionTiling {
  readonly wg: number;
  readonly rows: number;
  readonly tile: number;
}

export interface AdapterProfile {
  readonly family: "software" | "gpu";
  /**
   * Elementwise and copy kernels: each invocation's items consecutive (llvmpipe ~1.5× faster:
   * fewer workgroups, whose scheduling and per-lane address set-up dominate) or strided by the
   * workgroup size (coalesced on GPUs).
   */
  readonly consecutiveItems: boolean;
  /** Matmul family: unrolled register blocks (matmul_sw.ts) or shared-memory tiles. */
  readonly matmul: "software" | "tiled";
  /**
   * Smallest product (2·m·n·k flop) whose operands the software matmul reads from textures
   * (1.2–1.5× at 256³ … 1024³ on llvmpipe, copies included; never slower from 2·256³ on);
   * Infinity never, 0 always.
   */
  readonly matmulTextureFlop: number;
  /** Software matmul: weight gradients split k until this many 32×32 output blocks exist. */
  readonly splitKBlocks: number;
  /**
   * GPU matmul (matmul_tiled.ts): the largest output tile (128, 64, 32) that still gives this
   * many workgroups, and the workgroups a long k is split towards when even 32-wide tiles give
   * fewer (matmul_splitk_gpu.ts). The software family ignores both.
   */
  readonly tiledWorkgroups: number;
  /** GPU matmul split-k: the shortest slice of k (no split below twice this). */
  readonly tiledSplitMinK: number;
  /** Attention tiling: rows per invocation, invocations per workgroup, rows per staged tile. */
  readonly attention: AttentionTiling;
  /** LayerNorm and softmax: one invocation per row, or one workgroup per row (tree sums). */
  readonly rows: "row" | "workgroup";
  /**
   * Selective scan: each invocation runs a few channels over time (kernels/scan_fwd.ts,
   * scan_bwd_seq.ts), or a Blelloch scan over chunks; dB/dC follows (kernels/scan_dbdc.ts).
   */
  readonly scan: "sequential" | "chunked";
  /** The sequential scan reads B and C from textures (81 vs 94 ms forward on llvmpipe). */
  readonly scanTextures: boolean;
  /** Reductions: elements per partial (target) and the smallest chunk worth a partial. */
  readonly reduceTarget: number;
  readonly reduceMinChunk: number;
  /**
   * Reductions of at most this many elements run as one pass (no partials): on llvmpipe a
   * second dispatch costs more than the parallelism it buys for the step's bias gradients
   * (quick-preset Transformer step 181 → 167 ms, interleaved).
   */
  readonly reduceOnePass: number;
}

/**
 * llvmpipe's choices, each measured there. Attention: 8 rows per invocation in workgroups of 8
 * (one AVX2 vector), 4-row tiles: at B16 H8 T280 dh32, fwd / bwd 59 / 123 ms against 308 / 586
 * for the GPU tiling. Scan: sequential 0.1 + 0.4 s against 0.8 + 1.3 s chunked at 64×280×128×16.
 */
export const SOFTWARE_PROFILE: AdapterProfile = {
  family: "software",
  consecutiveItems: true,
  matmul: "software",
  matmulTextureFlop: 1 << 25,
  splitKBlocks: 128,
  tiledWorkgroups: 128,
  tiledSplitMinK: 256,
  attention: { wg: 8, rows: 8, tile: 4 },
  rows: "row",
  scan: "sequential",
  scanTextures: true,
  reduceTarget: 1024,
  reduceMinChunk: 128,
  reduceOnePass: 1 << 20,
};

/**
 * GPU choices by design, not yet by measurement (no GPU has been lent to the project): many
 * invocations, one row each, tiles in workgroup memory. The chunked scan runs S = 8 times more
 * invocations than the sequential one, where B·D alone would leave most of a GPU idle.
 */
export const GPU_PROFILE: AdapterProfile = {
  family: "gpu",
  consecutiveItems: false,
  matmul: "tiled",
  matmulTextureFlop: Infinity,
  splitKBlocks: 128,
  // By design, pending measurement: 128 workgroups is one or two per core on current GPUs
  // (40–130 SMs / CUs), and a slice of 256 steps of k keeps the partials' extra pass (S·m·n
  // floats written and summed) small beside the products.
  tiledWorkgroups: 128,
  tiledSplitMinK: 256,
  attention: { wg: 64, rows: 1, tile: 16 },
  rows: "workgroup",
  scan: "chunked",
  scanTextures: false,
  reduceTarget: 16384,
  reduceMinChunk: 32,
  reduceOnePass: 0,
};

/** The profile for an adapter: CPU adapters get the software family. */
export function profileFor(software: boolean): AdapterProfile {
  return software ? SOFTWARE_PROFILE : GPU_PROFILE;
}

/** The other family's profile (tests run both on one adapter). */
export function otherFamily(p: AdapterProfile): AdapterProfile {
  return p.family === "software" ? GPU_PROFILE : SOFTWARE_PROFILE;
}
