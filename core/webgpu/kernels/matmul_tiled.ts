/**
 * Matmul WGSL for hardware GPUs: the classic shared-memory tiling. A workgroup of
 * (tile/4)^2 threads computes a tile x tile block of C, each thread a 4x4 register block; per
 * K-step of TILE_K the workgroup stages a tile x TILE_K panel of A and a TILE_K x tile panel of B
 * in workgroup memory, loaded so that consecutive threads read consecutive addresses in whatever
 * layout (plain or transposed) the operand is stored, then reads them back as vec4. This is the
 * opposite of what llvmpipe wants (see matmul_sw.ts) and is chosen when the adapter is hardware.
 */

export const TILE_K = 16;

export interface TiledVariant {
  /** Output tile edge: 64 for large outputs, 32 for few outputs (more workgroups in flight). */
  tile: 32 | 64;
  transA: boolean;
  transB: boolean;
  /** Add a bias row (binding 4, [n]) when storing. */
  bias: boolean;
}

export function tiledKernelName(v: TiledVariant): string {
  return `matmul_tiled_${v.tile}_a${v.transA ? "T" : "N"}_b${v.transB ? "T" : "N"}` +
    (v.bias ? "_bias" : "");
}

/** Workgroups along x (columns of C) and y (rows of C) for an m x n output. */
export function tiledGrid(v: TiledVariant, m: number, n: number): [number, number] {
  return [Math.ceil(n / v.tile), Math.ceil(m / v.tile)];
}

/**
 * WGSL for one variant; uniforms m, n, k, aStride, bStride, batch0 (u32), storage bindings A, B
 * (read), C (read_write) and, with `bias`, Bias (read, [n]). Out-of-range panel entries load
 * as zero, so any size works; every thread reaches every barrier (stores are masked, never
 * skipped by an early return).
 */
export function tiledKernelWgsl(v: TiledVariant): string {
  const T = v.tile;
  const TK = TILE_K;
  const W = T / 4; // threads per edge
  const NT = W * W;
  const perA = (T * TK) / NT; // panel elements each thread loads
  // Panel element e -> (row, kk) / (kk, col), chosen so that consecutive e are adjacent in
  // global memory for the operand's stored layout (coalesced loads).
  const aMap = v.transA
    ? `let row = e % ${T}u; let kk = e / ${T}u;`
    : `let kk = e % ${TK}u; let row = e / ${TK}u;`;
  const aIdx = v.transA ? "aBase + gk * u.m + gr" : "aBase + gr * u.k + gk";
  const bMap = v.transB
    ? `let kk = e % ${TK}u; let col = e / ${TK}u;`
    : `let col = e % ${T}u; let kk = e / ${T}u;`;
  const bIdx = v.transB ? "bBase + gc * u.k + gk" : "bBase + gk * u.n + gc";
  return `struct U { m: u32, n: u32, k: u32, aStride: u32, bStride: u32, batch0: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
${v.bias ? "@group(0) @binding(4) var<storage, read> Bias: array<f32>;" : ""}

// k-major panels: row r of the A panel at step kk is As[kk·T + r], read 4 rows at a time.
// Scalar arrays: several invocations writing components of one workgroup vec4 race (WGSL treats
// a component store as a store to the whole vector; nondeterministic on Metal and D3D12).
var<workgroup> As: array<f32, ${TK * T}>;
var<workgroup> Bs: array<f32, ${TK * T}>;

@compute @workgroup_size(${W}, ${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.y * ${W}u + lid.x;
  let bt = wg.z + u.batch0;
  let aBase = bt * u.aStride;
  let bBase = bt * u.bStride;
  let r0 = wg.y * ${T}u;
  let c0 = wg.x * ${T}u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < u.k; k0 += ${TK}u) {
    for (var s = 0u; s < ${perA}u; s++) {
      let e = tid + s * ${NT}u;
      ${aMap}
      let gr = r0 + row; let gk = k0 + kk;
      var x = 0.0;
      if (gr < u.m && gk < u.k) { x = A[${aIdx}]; }
      As[kk * ${T}u + row] = x;
    }
    for (var s = 0u; s < ${perA}u; s++) {
      let e = tid + s * ${NT}u;
      ${bMap}
      let gc = c0 + col; let gk = k0 + kk;
      var y = 0.0;
      if (gc < u.n && gk < u.k) { y = B[${bIdx}]; }
      Bs[kk * ${T}u + col] = y;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      let ia = kk * ${T}u + lid.y * 4u;
      let ib = kk * ${T}u + lid.x * 4u;
      let a = vec4<f32>(As[ia], As[ia + 1u], As[ia + 2u], As[ia + 3u]);
      let b = vec4<f32>(Bs[ib], Bs[ib + 1u], Bs[ib + 2u], Bs[ib + 3u]);
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }
  let cBase = bt * u.m * u.n;
  let col = c0 + lid.x * 4u;
  for (var r = 0u; r < 4u; r++) {
    let row = r0 + lid.y * 4u + r;
    if (row < u.m) {
      for (var c = 0u; c < 4u; c++) {
        if (col + c < u.n) { C[cBase + row * u.n + col + c] = acc[r][c]${
    v.bias ? " + Bias[col + c]" : ""
  }; }
      }
    }
  }
}
`;
}
