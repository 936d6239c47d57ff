/**
 * WebGPU Adam / AdamW step, in place on p, m, v (semantics in core/cpu/adam.ts). The bias
 * corrections and 1 − β are computed on the host in f64 (1 − β2 from an f32 β2 = 0.999 would be
 * 1.3e-5 off), so the kernel needs no pow and the step number costs nothing on the device. A
 * 1-element gradScale buffer (e.g. a clipping factor computed on the GPU) multiplies g without a
 * readback. The bulk runs on vec4s (1.7–1.9× faster on llvmpipe at 9.5 M parameters, where
 * every storage access is a per-lane loop); a scalar dispatch covers the last n mod 4 elements.
 */
import type { AdamArgs } from "../../backend.ts";
import type { GpuBuffer, Kernel, Runtime } from "../runtime.ts";

const WG = 256;

function adamKernel(vec: boolean): Kernel {
  const ty = vec ? "vec4<f32>" : "f32";
  return {
    name: vec ? "adam_step_vec4" : "adam_step_f32",
    wgsl: `
struct U {
  n: u32, off: u32, lr: f32, beta1: f32, beta2: f32, omb1: f32, omb2: f32, eps: f32,
  decay: f32, bc1: f32, bc2: f32, hasScale: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> p: array<${ty}>;
@group(0) @binding(2) var<storage, read> g: array<${ty}>;
@group(0) @binding(3) var<storage, read_write> m: array<${ty}>;
@group(0) @binding(4) var<storage, read_write> v: array<${ty}>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = gid.x + gid.y * nwg.x * ${WG}u;
  if (k >= u.n) { return; }
  let i = k + u.off;
  var gi = g[i];
  if (u.hasScale != 0u) { gi *= scale[0]; }
  let mi = u.beta1 * m[i] + u.omb1 * gi;
  let vi = u.beta2 * v[i] + u.omb2 * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * u.decay - u.lr * (mi / u.bc1) / (sqrt(vi / u.bc2) + u.eps);
}
`,
  };
}

const ADAM_VEC4 = adamKernel(true);
const ADAM_F32 = adamKernel(false);

/** One Adam/AdamW step on n elements; gradScale (1 element) multiplies g when given. */
export function adamGpu(
  rt: Runtime,
  p: GpuBuffer,
  g: GpuBuffer,
  m: GpuBuffer,
  v: GpuBuffer,
  args: AdamArgs,
  gradScale: GpuBuffer | null,
): void {
  const { n, lr, beta1, beta2, eps, weightDecay, step } = args;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const decay = weightDecay > 0 ? 1 - lr * weightDecay : 1;
  const hyper = {
    lr,
    beta1,
    beta2,
    omb1: 1 - beta1,
    omb2: 1 - beta2,
    eps,
    decay,
    bc1,
    bc2,
    hasScale: gradScale ? 1 : 0,
  };
  // g stands in for an absent scale buffer (flagged off) so the binding stays valid.
  const bufs = { p, g, m, v, scale: gradScale ?? g };
  const run = (kernel: Kernel, count: number, off: number) => {
    rt.dispatch(kernel, bufs, { n: count, off, ...hyper }, rt.grid(Math.ceil(count / WG)));
  };
  const n4 = Math.floor(n / 4);
  if (n4 > 0) run(ADAM_VEC4, n4, 0);
  if (n % 4) run(ADAM_F32, n % 4, 4 * n4);
}
