/**
 * WebGPU fused LSTM cell (semantics in core/cpu/lstm.ts): one time step's four gate
 * nonlinearities and the cell update in one dispatch, forward and backward, one invocation per
 * (row, unit). The composed cell was 4 slices, 3 sigmoids, 2 tanh, 3 muls and an add per step and
 * layer (13 dispatches, and their backwards); this is one each way: a training step of a 2 × 32
 * token LSTM on 16 × 128 tokens takes 6,919 dispatches instead of 14,583. The backward recomputes
 * the activations from the gates instead of saving them. Without a previous state (step 0) the
 * kernels skip c_prev and d(prev): a variant each, so no dummy buffer is bound.
 */
import { type Kernel, kernel } from "../kernel.ts";
import type { Bindings, GpuBuffer, Runtime } from "../runtime.ts";
import { MATH } from "./wgsl_math.ts";

const WG = 64;

function head(bindings: string): string {
  return `
struct U { batch: u32, hidden: u32 }
@group(0) @binding(0) var<uniform> u: U;
${bindings}
${MATH}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * ${WG}u;
  if (t >= u.batch * u.hidden) { return; }
  let H = u.hidden;
  let j = t % H;
  let b = t / H;
  let a = b * 4u * H + j;
  let s = b * 2u * H + j;
  let i = sigm(gates[a]);
  let f = sigm(gates[a + H]);
  let g = tanh_(gates[a + 2u * H]);
  let o = sigm(gates[a + 3u * H]);
`;
}

function fwdWgsl(hasPrev: boolean): string {
  return head(`@group(0) @binding(1) var<storage, read> gates: array<f32>;
${hasPrev ? "@group(0) @binding(2) var<storage, read> prev: array<f32>;" : ""}
@group(0) @binding(${hasPrev ? 3 : 2}) var<storage, read_write> hc: array<f32>;`) + `
  let c = ${hasPrev ? "f * prev[s + H] + " : ""}i * g;
  hc[s] = o * tanh_(c);
  hc[s + H] = c;
}
`;
}

function bwdWgsl(hasPrev: boolean): string {
  return head(`@group(0) @binding(1) var<storage, read> gates: array<f32>;
${hasPrev ? "@group(0) @binding(2) var<storage, read> prev: array<f32>;" : ""}
@group(0) @binding(${hasPrev ? 3 : 2}) var<storage, read> dhc: array<f32>;
@group(0) @binding(${hasPrev ? 4 : 3}) var<storage, read_write> dGates: array<f32>;
${hasPrev ? "@group(0) @binding(5) var<storage, read_write> dPrev: array<f32>;" : ""}`) + `
  let cp = ${hasPrev ? "prev[s + H]" : "0.0"};
  let tc = tanh_(f * cp + i * g);
  let dh = dhc[s];
  let dc = dhc[s + H] + dh * o * (1.0 - tc * tc);
  dGates[a] = dc * g * i * (1.0 - i);
  dGates[a + H] = dc * cp * f * (1.0 - f);
  dGates[a + 2u * H] = dc * i * (1.0 - g * g);
  dGates[a + 3u * H] = dh * tc * o * (1.0 - o);
${hasPrev ? "  dPrev[s] = 0.0;\n  dPrev[s + H] = dc * f;\n" : ""}}
`;
}

const cell = (role: "fwd" | "bwd", hasPrev: boolean): Kernel =>
  kernel(
    `lstm_cell_${role}${hasPrev ? "" : "_first"}`,
    () => (role === "fwd" ? fwdWgsl : bwdWgsl)(hasPrev),
  );

/** hc [B, 2H] from gates [B, 4H] and the previous hc (null: zero state). */
export function lstmCellGpu(
  rt: Runtime,
  gates: GpuBuffer,
  prev: GpuBuffer | null,
  batch: number,
  hidden: number,
): GpuBuffer {
  const hc = rt.alloc(batch * 2 * hidden * 4);
  const groups = rt.grid(Math.ceil((batch * hidden) / WG));
  rt.dispatch(cell("fwd", !!prev), prev ? { gates, prev, hc } : { gates, hc }, {
    batch,
    hidden,
  }, groups);
  return hc;
}

/** Backward of lstmCellGpu: d(gates) [B, 4H] and d(prev) [B, 2H] (null without prev). */
export function lstmCellGradGpu(
  rt: Runtime,
  gates: GpuBuffer,
  prev: GpuBuffer | null,
  dhc: GpuBuffer,
  batch: number,
  hidden: number,
): { dGates: GpuBuffer; dPrev: GpuBuffer | null } {
  const dGates = rt.alloc(batch * 4 * hidden * 4);
  const dPrev = prev ? rt.alloc(batch * 2 * hidden * 4) : null;
  const groups = rt.grid(Math.ceil((batch * hidden) / WG));
  const bufs: Bindings = prev
    ? { gates, prev, dhc, dGates, dPrev: dPrev! }
    : { gates, dhc, dGates };
  rt.dispatch(cell("bwd", !!prev), bufs, { batch, hidden }, groups);
  return { dGates, dPrev };
}
