/**
 * WebGPU Adam / AdamW step over several parameters at once, in place on p, m, v (semantics in
 * core/cpu/adam.ts). One dispatch updates up to four parameters whose p, m and v live in the
 * same three buffers (nn's Adam packs them with allocParts): P, M, V, the scale and four
 * gradients are the eight storage bindings WebGPU allows by default. A step used to be one
 * dispatch per parameter tensor (31 for the quick-preset Transformer; now 8).
 *
 * The bias corrections and 1 − β are computed on the host in f64 (1 − β2 from an f32 β2 = 0.999
 * would be 1.3e-5 off), so the kernel needs no pow. A 1-element gradScale buffer (a clipping
 * factor computed on the device) multiplies g without a readback. Data moves as vec4s (1.7–1.9×
 * faster on llvmpipe at 9.5 M parameters than scalars); every part, and every pooled buffer, is
 * a whole number of vec4s, so the lanes past a parameter's end are padding nobody reads.
 */
import type { AdamHyper, AdamItem } from "../../backend.ts";
import { kernel } from "../kernel.ts";
import { follows, type GpuBuffer, type Runtime } from "../runtime.ts";

const WG = 256;
/** Parameters per dispatch: P, M, V and the scale take four of the eight bindings. */
const PER_DISPATCH = 4;

const seg = (f: string) => Array.from({ length: PER_DISPATCH }, (_, k) => `${f}${k}: u32`);

const ADAM = kernel("adam_step_x4", () => `
struct U {
  ${seg("end").join(", ")}, ${seg("pOff").join(", ")}, ${seg("mOff").join(", ")},
  ${seg("vOff").join(", ")}, ${
  seg("gOff").join(", ")
}, bc1_0: f32, bc1_1: f32, bc1_2: f32, bc1_3: f32,
  bc2_0: f32, bc2_1: f32, bc2_2: f32, bc2_3: f32,
  lr: f32, beta1: f32, beta2: f32, omb1: f32, omb2: f32, eps: f32, decay: f32, hasScale: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> P: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> M: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<storage, read> g0: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> g1: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> g2: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> g3: array<vec4<f32>>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * ${WG}u;
  if (t >= u.end3) { return; }
  // Which parameter: segments are consecutive ranges of vec4s, [0, end0), [end0, end1), ...
  var j = t;
  var gi: vec4<f32>;
  var po: u32; var mo: u32; var vo: u32; var bc1: f32; var bc2: f32;
  if (t < u.end0) {
    gi = g0[u.gOff0 + j]; po = u.pOff0; mo = u.mOff0; vo = u.vOff0; bc1 = u.bc1_0; bc2 = u.bc2_0;
  } else if (t < u.end1) {
    j = t - u.end0;
    gi = g1[u.gOff1 + j]; po = u.pOff1; mo = u.mOff1; vo = u.vOff1; bc1 = u.bc1_1; bc2 = u.bc2_1;
  } else if (t < u.end2) {
    j = t - u.end1;
    gi = g2[u.gOff2 + j]; po = u.pOff2; mo = u.mOff2; vo = u.vOff2; bc1 = u.bc1_2; bc2 = u.bc2_2;
  } else {
    j = t - u.end2;
    gi = g3[u.gOff3 + j]; po = u.pOff3; mo = u.mOff3; vo = u.vOff3; bc1 = u.bc1_3; bc2 = u.bc2_3;
  }
  if (u.hasScale != 0u) { gi *= scale[0]; }
  let mi = u.beta1 * M[mo + j] + u.omb1 * gi;
  let vi = u.beta2 * V[vo + j] + u.omb2 * gi * gi;
  M[mo + j] = mi;
  V[vo + j] = vi;
  P[po + j] = P[po + j] * u.decay - u.lr * (mi / bc1) / (sqrt(vi / bc2) + u.eps);
}
`);

/** Where a buffer's vec4s start in the GPUBuffer it binds (its pack's whole, or itself). */
function home(b: GpuBuffer): { whole: GpuBuffer; vec4: number } {
  return b.pack ? { whole: b.pack.whole, vec4: b.offset / 16 } : { whole: b, vec4: 0 };
}

/**
 * Consecutive items whose p, g, m and v each follow the previous item's in a zero-padded pack
 * (nn's Adam allocates all four alike), with the same step, as one segment spanning them: a
 * step of any number of parameter tensors is then one dispatch. Between parts g, m and v are
 * zero, so the update leaves that padding zero.
 */
function merged(items: readonly AdamItem[], align: number): AdamItem[] {
  const out: AdamItem[] = [];
  let run: { first: AdamItem; last: AdamItem } | null = null;
  const flush = () => {
    if (!run) return;
    const { first, last } = run;
    const span = 4 * (home(last.p as GpuBuffer).vec4 - home(first.p as GpuBuffer).vec4) + last.n;
    out.push({ ...first, n: span });
  };
  for (const it of items) {
    const bufs = (x: AdamItem) => [x.p, x.g, x.m, x.v] as GpuBuffer[];
    const joins = run && it.step === run.last.step &&
      bufs(it).every((b, k) => follows(bufs(run!.last)[k], b, align));
    if (joins) run!.last = it;
    else {
      flush();
      run = { first: it, last: it };
    }
  }
  flush();
  return out;
}

/** One Adam/AdamW step of every item; gradScale (1 element) multiplies g when given. */
export function adamGpu(
  rt: Runtime,
  items: readonly AdamItem[],
  hyper: AdamHyper,
  gradScale: GpuBuffer | null,
): void {
  const { lr, beta1, beta2, eps, weightDecay } = hyper;
  const common = {
    lr,
    beta1,
    beta2,
    omb1: 1 - beta1,
    omb2: 1 - beta2,
    eps,
    decay: weightDecay > 0 ? 1 - lr * weightDecay : 1,
    hasScale: gradScale ? 1 : 0,
  };
  items = merged(items, rt.partAlign);
  let i = 0;
  while (i < items.length) {
    // Up to four consecutive items whose p, m and v share the same three buffers.
    const first = items[i];
    const [P, M, V] = [first.p, first.m, first.v].map((b) => home(b as GpuBuffer).whole);
    const group: AdamItem[] = [];
    while (i < items.length && group.length < PER_DISPATCH) {
      const it = items[i];
      const same = [it.p, it.m, it.v].every((b, k) =>
        home(b as GpuBuffer).whole.buffer === [P, M, V][k].buffer
      );
      if (!same) break;
      group.push(it);
      i++;
    }
    const u: Record<string, number> = { ...common };
    let end = 0;
    const gs: Record<string, GpuBuffer> = {};
    for (let k = 0; k < PER_DISPATCH; k++) {
      const it = group[Math.min(k, group.length - 1)];
      if (k < group.length) end += Math.ceil(it.n / 4);
      u[`end${k}`] = end; // empty segments past the group end where the last one does
      u[`pOff${k}`] = home(it.p as GpuBuffer).vec4;
      u[`mOff${k}`] = home(it.m as GpuBuffer).vec4;
      u[`vOff${k}`] = home(it.v as GpuBuffer).vec4;
      u[`gOff${k}`] = home(it.g as GpuBuffer).vec4;
      u[`bc1_${k}`] = 1 - Math.pow(beta1, it.step);
      u[`bc2_${k}`] = 1 - Math.pow(beta2, it.step);
      gs[`g${k}`] = home(it.g as GpuBuffer).whole;
    }
    // The first gradient stands in for an absent scale buffer (flagged off).
    const bufs = { P, M, V, scale: gradScale ?? gs.g0, ...gs };
    if (end > 0) rt.dispatch(ADAM, bufs, u, rt.grid(Math.ceil(end / WG)));
  }
}
