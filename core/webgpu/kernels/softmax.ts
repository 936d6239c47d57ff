/**
 * WebGPU row-wise softmax / log-softmax over the last axis of [rows, cols] and their backward
 * (semantics of softmaxCpu / softmaxGradCpu in core/cpu/elementwise.ts: y = exp(x − lse) or
 * x − lse with lse = max + log Σ exp(x − max)). Two variants, as in norm.ts (the profile's `rows`):
 * - "row": one invocation per row with plain loops (llvmpipe: no barriers, caches act as
 *   shared memory, and the attention-sized row counts give plenty of invocations);
 * - "workgroup": one 64-invocation workgroup per row with workgroup-memory tree reductions
 *   (real GPUs: coalesced loads across the row).
 * The log flag is a uniform, so each variant is one pipeline for both forms.
 */
import type { GpuBuffer, Kernel, Runtime } from "../runtime.ts";
import { FLAT_MAIN, WG } from "./flat.ts";

const FWD_HEAD = `
struct U { rows: u32, cols: u32, log: u32, ninf: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
fn out(v: f32, lse: f32) -> f32 {
  if (u.log != 0u) { return v - lse; }
  return exp(v - lse);
}
`;

const BWD_HEAD = `
struct U { rows: u32, cols: u32, log: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
// softmax: Σ dy·y and dx = y·(dy − s); log-softmax: Σ dy and dx = dy − e^y·s.
fn term(i: u32) -> f32 {
  if (u.log != 0u) { return dy[i]; }
  return dy[i] * y[i];
}
fn grad(i: u32, s: f32) -> f32 {
  if (u.log != 0u) { return dy[i] - exp(y[i]) * s; }
  return y[i] * (dy[i] - s);
}
`;

// The max skips NaN (v > m); a NaN still poisons the row through the sum, as on the CPU.
const FWD_ROW: Kernel = {
  name: "softmax_fwd_row",
  wgsl: FWD_HEAD + `
${FLAT_MAIN}
  if (t >= u.rows) { return; }
  let o = t * u.cols;
  var m = u.ninf;
  for (var c = 0u; c < u.cols; c++) { let v = x[o + c]; m = select(m, v, v > m); }
  var s = 0.0;
  for (var c = 0u; c < u.cols; c++) { s += exp(x[o + c] - m); }
  let lse = m + log(s);
  for (var c = 0u; c < u.cols; c++) { y[o + c] = out(x[o + c], lse); }
}
`,
};

const BWD_ROW: Kernel = {
  name: "softmax_bwd_row",
  wgsl: BWD_HEAD + `
${FLAT_MAIN}
  if (t >= u.rows) { return; }
  let o = t * u.cols;
  var s = 0.0;
  for (var c = 0u; c < u.cols; c++) { s += term(o + c); }
  for (var c = 0u; c < u.cols; c++) { dx[o + c] = grad(o + c, s); }
}
`,
};

/** Tree fold over the workgroup; every invocation must call it (it has barriers). */
const WG_FOLD = `
var<workgroup> red: array<f32, ${WG}>;
fn wfold(v: f32, lid: u32, isMax: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let a = red[lid];
      let b = red[lid + s];
      red[lid] = select(a + b, select(a, b, b > a), isMax);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

const WG_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let o = row * u.cols;`;

const FWD_WG: Kernel = {
  name: "softmax_fwd_wg",
  wgsl: FWD_HEAD + WG_FOLD + `
${WG_MAIN}
  var m = u.ninf;
  for (var c = lid; c < u.cols; c += ${WG}u) { let v = x[o + c]; m = select(m, v, v > m); }
  m = wfold(m, lid, true);
  var s = 0.0;
  for (var c = lid; c < u.cols; c += ${WG}u) { s += exp(x[o + c] - m); }
  let lse = m + log(wfold(s, lid, false));
  for (var c = lid; c < u.cols; c += ${WG}u) { y[o + c] = out(x[o + c], lse); }
}
`,
};

const BWD_WG: Kernel = {
  name: "softmax_bwd_wg",
  wgsl: BWD_HEAD + WG_FOLD + `
${WG_MAIN}
  var s = 0.0;
  for (var c = lid; c < u.cols; c += ${WG}u) { s += term(o + c); }
  s = wfold(s, lid, false);
  for (var c = lid; c < u.cols; c += ${WG}u) { dx[o + c] = grad(o + c, s); }
}
`,
};

function groups(rt: Runtime, rows: number): [number, number] {
  return rt.grid(rt.profile.rows === "row" ? Math.ceil(rows / WG) : rows);
}

/** Row-wise softmax (or log-softmax when `log`) of x [rows, cols]. */
export function softmaxGpu(
  rt: Runtime,
  x: GpuBuffer,
  rows: number,
  cols: number,
  log: boolean,
): GpuBuffer {
  const y = rt.alloc(rows * cols * 4);
  if (rows * cols === 0) return y;
  const k = rt.profile.rows === "row" ? FWD_ROW : FWD_WG;
  rt.dispatch(k, { x, y }, { rows, cols, log: log ? 1 : 0, ninf: -Infinity }, groups(rt, rows));
  return y;
}

/** Backward of softmaxGpu from its output y: dx for dy, both [rows, cols]. */
export function softmaxGradGpu(
  rt: Runtime,
  y: GpuBuffer,
  dy: GpuBuffer,
  rows: number,
  cols: number,
  log: boolean,
): GpuBuffer {
  const dx = rt.alloc(rows * cols * 4);
  if (rows * cols === 0) return dx;
  const k = rt.profile.rows === "row" ? BWD_ROW : BWD_WG;
  rt.dispatch(k, { y, dy, dx }, { rows, cols, log: log ? 1 : 0 }, groups(rt, rows));
  return dx;
}
