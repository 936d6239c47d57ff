/**
 * WebGPU LayerNorm / RMSNorm over the last axis of [rows, cols], forward and backward, with the
 * semantics of core/cpu/norm.ts. Two variants of the per-row kernels:
 * - "workgroup": one 64-invocation workgroup per row, workgroup-memory tree reductions (what real
 *   GPUs want: coalesced loads, many rows in flight);
 * - "row": one invocation per row with plain loops (llvmpipe, where each barrier is a coroutine
 *   switch and its caches already act as shared memory).
 * dw/db are reduced over rows deterministically in two passes (per-chunk partials, then a sum
 * over chunks), never with atomics.
 */
import type { GpuBuffer, Kernel, Runtime } from "../runtime.ts";

/** Which per-row kernel shape to use; the default follows `rt.ctx.isSoftware`. */
export type NormVariant = "row" | "workgroup";

const WG = 64;

/** Workgroup grid for `n` workgroups, folded into y past the per-dimension limit. */
function grid(rt: Runtime, n: number): [number, number] {
  const max = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.max(1, Math.min(n, max));
  return [x, Math.ceil(n / x)];
}

function pick(rt: Runtime, variant?: NormVariant): NormVariant {
  return variant ?? (rt.ctx.isSoftware ? "row" : "workgroup");
}

const FWD_DECLS = `
struct U { rows: u32, cols: u32, eps: f32, rms: u32, hasW: u32, hasB: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

fn affine(v: f32, c: u32) -> f32 {
  var r = v;
  if (u.hasW != 0u) { r *= w[c]; }
  if (u.hasB != 0u && u.rms == 0u) { r += b[c]; }
  return r;
}
`;

const BWD_DECLS = `
struct U { rows: u32, cols: u32, rms: u32, hasW: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

fn gw(o: u32, c: u32) -> f32 {
  if (u.hasW != 0u) { return dy[o + c] * w[c]; }
  return dy[o + c];
}
`;

/** Tree sum over the workgroup; every invocation must call it (it has barriers). */
const WG_SUM = `
var<workgroup> red: array<f32, ${WG}>;
fn wsum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}
`;

const FWD_ROW: Kernel = {
  name: "layernorm_fwd_row",
  wgsl: FWD_DECLS + `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * ${WG}u;
  if (r >= u.rows) { return; }
  let o = r * u.cols;
  let n = f32(u.cols);
  var mu = 0.0;
  if (u.rms == 0u) {
    var s = 0.0;
    for (var c = 0u; c < u.cols; c++) { s += x[o + c]; }
    mu = s / n;
  }
  var ss = 0.0;
  for (var c = 0u; c < u.cols; c++) { let d = x[o + c] - mu; ss += d * d; }
  let rs = 1.0 / sqrt(ss / n + u.eps);
  mean[r] = mu;
  rstd[r] = rs;
  for (var c = 0u; c < u.cols; c++) { y[o + c] = affine((x[o + c] - mu) * rs, c); }
}
`,
};

const FWD_WG: Kernel = {
  name: "layernorm_fwd_wg",
  wgsl: FWD_DECLS + WG_SUM + `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= u.rows) { return; }
  let o = r * u.cols;
  let n = f32(u.cols);
  var mu = 0.0;
  if (u.rms == 0u) {
    var s = 0.0;
    for (var c = lid; c < u.cols; c += ${WG}u) { s += x[o + c]; }
    mu = wsum(s, lid) / n;
  }
  var ss = 0.0;
  for (var c = lid; c < u.cols; c += ${WG}u) { let d = x[o + c] - mu; ss += d * d; }
  let rs = 1.0 / sqrt(wsum(ss, lid) / n + u.eps);
  if (lid == 0u) {
    mean[r] = mu;
    rstd[r] = rs;
  }
  for (var c = lid; c < u.cols; c += ${WG}u) { y[o + c] = affine((x[o + c] - mu) * rs, c); }
}
`,
};

const BWD_ROW: Kernel = {
  name: "layernorm_bwd_dx_row",
  wgsl: BWD_DECLS + `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * ${WG}u;
  if (r >= u.rows) { return; }
  let o = r * u.cols;
  let mu = select(mean[r], 0.0, u.rms != 0u);
  let rs = rstd[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < u.cols; c++) {
    let g = gw(o, c);
    sg += g;
    sgx += g * (x[o + c] - mu) * rs;
  }
  let n = f32(u.cols);
  let mg = select(sg / n, 0.0, u.rms != 0u);
  let mgx = sgx / n;
  for (var c = 0u; c < u.cols; c++) {
    dx[o + c] = rs * (gw(o, c) - mg - (x[o + c] - mu) * rs * mgx);
  }
}
`,
};

const BWD_WG: Kernel = {
  name: "layernorm_bwd_dx_wg",
  wgsl: BWD_DECLS + WG_SUM + `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= u.rows) { return; }
  let o = r * u.cols;
  let mu = select(mean[r], 0.0, u.rms != 0u);
  let rs = rstd[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < u.cols; c += ${WG}u) {
    let g = gw(o, c);
    sg += g;
    sgx += g * (x[o + c] - mu) * rs;
  }
  let n = f32(u.cols);
  let mg = select(wsum(sg, lid) / n, 0.0, u.rms != 0u);
  let mgx = wsum(sgx, lid) / n;
  for (var c = lid; c < u.cols; c += ${WG}u) {
    dx[o + c] = rs * (gw(o, c) - mg - (x[o + c] - mu) * rs * mgx);
  }
}
`,
};

/** Pass 1 of dw/db: part[chunk, 0..cols) = Σ dy·x̂, part[chunk, cols..2cols) = Σ dy. */
const BWD_PARTIAL: Kernel = {
  name: "layernorm_bwd_wb_partial",
  wgsl: `
struct U { rows: u32, cols: u32, rms: u32, chunk: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= u.cols) { return; }
  let r0 = gid.y * u.chunk;
  let r1 = min(r0 + u.chunk, u.rows);
  var sw = 0.0;
  var sb = 0.0;
  for (var r = r0; r < r1; r++) {
    let g = dy[r * u.cols + c];
    sw += g * (x[r * u.cols + c] - select(mean[r], 0.0, u.rms != 0u)) * rstd[r];
    sb += g;
  }
  part[gid.y * 2u * u.cols + c] = sw;
  part[gid.y * 2u * u.cols + u.cols + c] = sb;
}
`,
};

/** Pass 2: sum the partials over chunks; zero dw without w and db for RMSNorm. */
const BWD_FINAL: Kernel = {
  name: "layernorm_bwd_wb_final",
  wgsl: `
struct U { cols: u32, chunks: u32, keepW: u32, keepB: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= 2u * u.cols) { return; }
  var s = 0.0;
  for (var k = 0u; k < u.chunks; k++) { s += part[k * 2u * u.cols + i]; }
  if (i < u.cols) {
    dw[i] = select(0.0, s, u.keepW != 0u);
  } else {
    db[i - u.cols] = select(0.0, s, u.keepB != 0u);
  }
}
`,
};

/**
 * y = (x − mean)·rstd·w + b (RMSNorm: x·rstd·w, b ignored); null w/b mean 1/0.
 * Returns y [rows, cols], mean [rows] (zeros for RMSNorm) and rstd [rows].
 */
export function layerNormGpu(
  rt: Runtime,
  x: GpuBuffer,
  w: GpuBuffer | null,
  b: GpuBuffer | null,
  rows: number,
  cols: number,
  eps: number,
  rms: boolean,
  variant?: NormVariant,
): { y: GpuBuffer; mean: GpuBuffer; rstd: GpuBuffer } {
  const y = rt.alloc(rows * cols * 4);
  const mean = rt.alloc(rows * 4);
  const rstd = rt.alloc(rows * 4);
  // Absent w/b are flagged off in the uniforms; x stands in so every binding is valid.
  const bufs = [x, w ?? x, b ?? x, y, mean, rstd];
  const uni = [rows, cols, eps, rms ? 1 : 0, w ? 1 : 0, b ? 1 : 0];
  if (pick(rt, variant) === "row") {
    rt.dispatch(FWD_ROW, bufs, uni, grid(rt, Math.ceil(rows / WG)), 0b100);
  } else {
    rt.dispatch(FWD_WG, bufs, uni, grid(rt, rows), 0b100);
  }
  return { y, mean, rstd };
}

/**
 * Backward of layerNormGpu: dx [rows, cols], dw [cols] (zeros when w is null) and db [cols]
 * (zeros for RMSNorm).
 */
export function layerNormGradGpu(
  rt: Runtime,
  x: GpuBuffer,
  w: GpuBuffer | null,
  mean: GpuBuffer,
  rstd: GpuBuffer,
  dy: GpuBuffer,
  rows: number,
  cols: number,
  rms: boolean,
  variant?: NormVariant,
): { dx: GpuBuffer; dw: GpuBuffer; db: GpuBuffer } {
  const dx = rt.alloc(rows * cols * 4);
  const dw = rt.alloc(cols * 4);
  const db = rt.alloc(cols * 4);
  const bufs = [x, w ?? x, mean, rstd, dy, dx];
  const uni = [rows, cols, rms ? 1 : 0, w ? 1 : 0];
  if (pick(rt, variant) === "row") {
    rt.dispatch(BWD_ROW, bufs, uni, grid(rt, Math.ceil(rows / WG)));
  } else {
    rt.dispatch(BWD_WG, bufs, uni, grid(rt, rows));
  }
  // ~sqrt(rows) rows per chunk balances the serial work of the two passes.
  const chunk = Math.max(8, Math.ceil(Math.sqrt(rows)));
  const chunks = Math.max(1, Math.ceil(rows / chunk));
  const part = rt.alloc(chunks * 2 * cols * 4);
  rt.dispatch(BWD_PARTIAL, [x, mean, rstd, dy, part], [rows, cols, rms ? 1 : 0, chunk], [
    Math.ceil(cols / WG),
    chunks,
  ]);
  rt.dispatch(BWD_FINAL, [part, dw, db], [cols, chunks, w ? 1 : 0, rms ? 0 : 1], [
    Math.ceil((2 * cols) / WG),
  ]);
  rt.release(part);
  return { dx, dw, db };
}
