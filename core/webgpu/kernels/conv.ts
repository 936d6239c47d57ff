/**
 * WebGPU causal depthwise conv1d over time (semantics in core/cpu/conv.ts): x [B, L, C],
 * w [C, K], bias [C]. Each invocation owns one channel of one sequence over a chunk of TC time
 * steps and slides a window of K inputs held in named registers (the WGSL is generated per K),
 * so a step costs one load, K FMAs and one store, and index arithmetic (integer division, which
 * llvmpipe runs per lane) happens once per invocation. Neighbouring invocations are neighbouring
 * channels: contiguous addresses. dw/db are reduced deterministically in two passes: per-chunk
 * partials for every (channel, tap) column, then a sum over chunks; no atomics.
 */
import { type Kernel, kernel as cachedKernel } from "../kernel.ts";
import type { GpuBuffer, Runtime } from "../runtime.ts";

const WG = 64;
/** Time steps per invocation: enough to amortise the K − 1 warm-up loads. */
const TC = 32;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Entry point over (batch, time chunk, channel) with c fastest. `at(t)` is the element index of
 * (b, t, c) and `get(buf, t)` a read that yields 0 outside 0 ≤ t < L.
 */
function head(bindings: string): string {
  return `
struct U { batch: u32, length: u32, channels: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> u: U;
${bindings}
fn at(b: u32, t: i32, c: u32) -> u32 { return (b * u.length + u32(t)) * u.channels + c; }

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= u.batch * u.chunks * u.channels) { return; }
  let c = i % u.channels;
  let bc = i / u.channels;
  let b = bc / u.chunks;
  let t0 = i32((bc % u.chunks) * ${TC}u);
  let t1 = min(t0 + ${TC}, i32(u.length));
  let L = i32(u.length);
`;
}

const get = (buf: string, t: string) =>
  `select(0.0, ${buf}[at(b, clamp(${t}, 0, L - 1), c)], ${t} >= 0 && ${t} < L)`;

/** y[t] = bias + Σ_j w_j·x[t − (K−1) + j]; window x_j = x[t − (K−1) + j] for j < K − 1. */
function fwdWgsl(K: number): string {
  const win = range(K - 1);
  return head(`@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;`) +
    range(K).map((j) => `  let w${j} = w[c * ${K}u + ${j}u];\n`).join("") +
    win.map((j) => `  var x${j} = ${get("x", `t0 - ${K - 1 - j}`)};\n`).join("") +
    `  for (var t = t0; t < t1; t++) {
    let xn = x[at(b, t, c)];
    y[at(b, t, c)] = bias[c] + ${
      [...win.map((j) => `w${j} * x${j}`), `w${K - 1} * xn`].join(" + ")
    };
` + win.map((j) => `    x${j} = ${j + 1 < K - 1 ? `x${j + 1}` : "xn"};\n`).join("") + "  }\n}\n";
}

/** dx[s] = Σ_d w_{K−1−d}·dy[s + d] (zero past the end); window g_d = dy[s + d] for d < K − 1. */
function dxWgsl(K: number): string {
  const win = range(K - 1);
  return head(`@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;`) +
    range(K).map((j) => `  let w${j} = w[c * ${K}u + ${j}u];\n`).join("") +
    win.map((d) => `  var g${d} = ${get("dy", `t0 + ${d}`)};\n`).join("") +
    `  for (var s = t0; s < t1; s++) {
    let gn = ${get("dy", `s + ${K - 1}`)};
    dx[at(b, s, c)] = ${[...win.map((d) => `w${K - 1 - d} * g${d}`), "w0 * gn"].join(" + ")};
` + win.map((d) => `    g${d} = ${d + 1 < K - 1 ? `g${d + 1}` : "gn"};\n`).join("") + "  }\n}\n";
}

/**
 * Partials part[chunk, c·(K+1) + j]: Σ_t dy[t]·x[t − (K−1) + j] over the chunk's steps for
 * j < K, Σ_t dy[t] for j = K; chunk = b·chunks + time chunk.
 */
function partialWgsl(K: number): string {
  const win = range(K - 1);
  return head(`@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;`) +
    win.map((j) => `  var x${j} = ${get("x", `t0 - ${K - 1 - j}`)};\n`).join("") +
    range(K + 1).map((j) => `  var a${j} = 0.0;\n`).join("") +
    `  for (var t = t0; t < t1; t++) {
    let xn = x[at(b, t, c)];
    let g = dy[at(b, t, c)];
` + range(K).map((j) => `    a${j} += g * ${j < K - 1 ? `x${j}` : "xn"};\n`).join("") +
    `    a${K} += g;\n` +
    win.map((j) => `    x${j} = ${j + 1 < K - 1 ? `x${j + 1}` : "xn"};\n`).join("") + "  }\n" +
    `  let o = bc * u.channels * ${K + 1}u + c * ${K + 1}u;\n` +
    range(K + 1).map((j) => `  part[o + ${j}u] = a${j};\n`).join("") + "}\n";
}

const WB_FINAL: Kernel = {
  name: "conv1d_bwd_wb_final",
  wgsl: `
struct U { channels: u32, kernel: u32, parts: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let cols = u.channels * (u.kernel + 1u);
  let col = gid.x;
  if (col >= cols) { return; }
  var s = 0.0;
  for (var k = 0u; k < u.parts; k++) { s += part[k * cols + col]; }
  let c = col / (u.kernel + 1u);
  let j = col % (u.kernel + 1u);
  if (j == u.kernel) { db[c] = s; } else { dw[c * u.kernel + j] = s; }
}
`,
};

function kernel(role: "fwd" | "dx" | "wb", K: number): Kernel {
  const gen = role === "fwd" ? fwdWgsl : role === "dx" ? dxWgsl : partialWgsl;
  return cachedKernel(`conv1d_${role}_k${K}`, () => gen(K));
}

function chunked(batch: number, length: number, channels: number) {
  const chunks = Math.ceil(length / TC);
  return { chunks, threads: batch * chunks * channels };
}

/** y [B, L, C] = bias + causal depthwise conv of x [B, L, C] with w [C, K]. */
export function conv1dGpu(
  rt: Runtime,
  x: GpuBuffer,
  w: GpuBuffer,
  bias: GpuBuffer,
  batch: number,
  length: number,
  channels: number,
  kernel: number,
): GpuBuffer {
  const y = rt.alloc(batch * length * channels * 4);
  const { chunks, threads } = chunked(batch, length, channels);
  const uni = { batch, length, channels, chunks };
  rt.dispatch(kernelFor("fwd", kernel), { x, w, bias, y }, uni, rt.grid(Math.ceil(threads / WG)));
  return y;
}

function kernelFor(role: "fwd" | "dx" | "wb", K: number): Kernel {
  if (!Number.isInteger(K) || K < 1 || K > 16) throw new Error(`conv1d: kernel width ${K}`);
  return kernel(role, K);
}

/** Backward of conv1dGpu: dx [B, L, C], dw [C, K], db [C]. */
export function conv1dGradGpu(
  rt: Runtime,
  x: GpuBuffer,
  w: GpuBuffer,
  dy: GpuBuffer,
  batch: number,
  length: number,
  channels: number,
  kernel: number,
): { dx: GpuBuffer; dw: GpuBuffer; db: GpuBuffer } {
  const dx = rt.alloc(batch * length * channels * 4);
  const dw = rt.alloc(channels * kernel * 4);
  const db = rt.alloc(channels * 4);
  const { chunks, threads } = chunked(batch, length, channels);
  const uni = { batch, length, channels, chunks };
  const g = rt.grid(Math.ceil(threads / WG));
  rt.dispatch(kernelFor("dx", kernel), { w, dy, dx }, uni, g);
  const parts = batch * chunks;
  const part = rt.alloc(parts * channels * (kernel + 1) * 4);
  rt.dispatch(kernelFor("wb", kernel), { x, dy, part }, uni, g);
  const cols = channels * (kernel + 1);
  rt.dispatch(WB_FINAL, { part, dw, db }, { channels, kernel, parts }, [Math.ceil(cols / WG)]);
  rt.release(part);
  return { dx, dw, db };
}
