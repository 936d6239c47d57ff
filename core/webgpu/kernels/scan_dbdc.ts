/**
 * WGSL for the scan backward's dB/dC kernels: dB[b,t,n] = Σ_d g·Δx and dC[b,t,n] = Σ_d ȳ·h,
 * written as dBC [B, L, 2N] like BC. Both re-run one chunk's recurrence per channel from the
 * saved chunk-start state hs and the chunk-end adjoint gin (and Δ, Δx, ȳ from δ, x, dO and z:
 * storing them would take 3·B·L·D floats more, past WebGPU's default 128 MiB per binding at the
 * paper's Mamba). Neither uses atomics: every sum has one owner and a fixed order.
 *
 * - software (llvmpipe): one invocation owns G groups of four states of one (b, chunk) and
 *   loops over channels, so each channel's loads, softplus and gate serve 4G states (each
 *   storage load is a per-lane loop there). G = 4 against the former one group per invocation:
 *   13.5 → 7.9 ms at 32×80×128×16, 100 → 60 ms at 64×280×128×16 (llvmpipe on 2 vCPUs of a
 *   Xeon, interleaved, same bits). Tried and dropped: channels four at a time as vec4 words
 *   (δ, x, dO, z, hs, gin), 1.05× slower at both shapes (the per-channel component selects
 *   cost what the loads saved).
 * - gpu: one workgroup per (b, chunk, state group), its threads over channels, each summing a
 *   strided subset; the partial sums meet in an ordered tree in workgroup memory.
 */
import type { Kernel } from "../kernel.ts";
import { bcBinding, CH, gather4, GROUP4, header, loadBC, steps, storage } from "./scan_fwd.ts";

function bindings(N: number, hasZ: boolean): string {
  return storage(["sv", "wk", bcBinding(N), "dBC:w", "xs", "dl", "dout", ...(hasZ ? ["zs"] : [])]);
}

function ybarOf(hasZ: boolean): string {
  return hasZ ? "let zv = zs[i];\n      let yv = dout[i] * zv * sigm(zv);" : "let yv = dout[i];";
}

/** Δ, Δx and ȳ of channel d over the chunk, into private arrays (once per channel). */
function perChannel(hasZ: boolean): string {
  return `
    let bi = sv[d];
    ${
    steps(`
      let i = (b * u.L + t0 + k) * u.D + d;
      let dt = softplus_(dl[i] + bi);
      dts[k] = dt;
      dxs[k] = dt * xs[i];
      ${ybarOf(hasZ)}
      ybs[k] = yv;`)
  }`;
}

/**
 * Groups of four states per software invocation: the largest of 4, 3, 2, 1 that divides the
 * group count (all 16 states at d_state 16), so no invocation owns a group past N.
 */
export function dbdcGroups(N: number): number {
  const nq = Math.ceil(N / 4);
  return [4, 3, 2, 1].find((g) => nq % g === 0)!;
}

/** Invocations per workgroup of the software kernel. */
export const DBDC_SW_WG = 8;

/**
 * Software variant. Invocation (b, c, jg) owns state groups jg·G .. jg·G+G−1 (vec4 lanes) of
 * chunk c. Workgroups fold into y; DBDC_SW_WG invocations each.
 */
export function dBdCSeqKernel(N: number, hasZ: boolean): Kernel {
  const G = dbdcGroups(N);
  const gs = Array.from({ length: G }, (_, g) => g);
  const each = (f: (g: number) => string) => gs.map(f).join("\n");
  const wgsl = /* wgsl */ `${header(N)}
${bindings(N, hasZ)}
const NQG: u32 = NQ / ${G}u;
@compute @workgroup_size(${DBDC_SW_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * ${DBDC_SW_WG}u + lid;
  let jg = idx % NQG;
  let c = (idx / NQG) % u.nC;
  let b = idx / (NQG * u.nC);
  if (b >= u.B) { return; }
  let t0 = c * CH;
  let cnt = min(CH, u.L - t0);
  var dts: array<f32, CH>;
  var dxs: array<f32, CH>;
  var ybs: array<f32, CH>;
  var av: array<vec4<f32>, CH>;
  ${
    each((g) => `
  let nv${g} = vec4<u32>((jg * ${G}u + ${g}u) * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  let nn${g} = min(nv${g}, vec4<u32>(N - 1u));
  var bv${g}: array<vec4<f32>, CH>;
  var cv${g}: array<vec4<f32>, CH>;
  var db${g}: array<vec4<f32>, CH>;
  var dc${g}: array<vec4<f32>, CH>;
  {
    let n4 = (jg * ${G}u + ${g}u) * 4u;
    ${GROUP4}
    ${
      steps(`
    let bo = (b * u.L + t0 + k) * 2u * N;
    bv${g}[k] = ${loadBC(N, "B", "bo")};
    cv${g}[k] = ${loadBC(N, "C", "bo")};`)
    }
  }`)
  }
  let hb = (b * u.nC + c) * N * u.D;
  for (var d = 0u; d < u.D; d++) {
    ${perChannel(hasZ)}
    ${
    each((g) => `
    {
      let nn = nn${g};
      let al = ${gather4("sv", "P_A() + d * N")} * LOG2E;
      var h = ${gather4("sv", "HS() + hb + d", " * u.D")};
      var q = ${gather4("wk", "hb + d", " * u.D")};
      ${
      steps(`
        let a = exp2(dts[k] * al);
        av[k] = a;
        h = a * h + dxs[k] * bv${g}[k];
        dc${g}[k] += ybs[k] * h;`)
    }
      ${
      steps(
        `
        let gq = cv${g}[k] * ybs[k] + q;
        db${g}[k] += gq * dxs[k];
        q = av[k] * gq;`,
        true,
      )
    }
    }`)
  }
  }
  ${
    each((g) => `
  for (var m = 0u; m < 4u; m++) {
    if (nv${g}[m] < N) {
      ${
      steps(`
        let bo = (b * u.L + t0 + k) * 2u * N + nv${g}[m];
        dBC[bo] = db${g}[k][m];
        dBC[bo + N] = dc${g}[k][m];`)
    }
    }
  }`)
  }
}`;
  return { name: `scan_bwd_dbdc_n${N}`, wgsl };
}

/** Threads per workgroup of the GPU kernel (over channels) and steps per reduction round. */
export const DBDC_T = 64;
const ROUND = 4;

/**
 * GPU variant: workgroup (b, c, j) for state group j (four states) of chunk c; thread tid sums
 * channels tid, tid + T, ... in order into per-step partials (registers: 2·CH vec4), then
 * ROUND steps at a time the T partials of each (step, dB|dC) are summed by a fixed binary tree
 * in workgroup memory, so the result has the same bits on every run and every GPU. The
 * decay exp2(ΔA) is recomputed in the reverse pass instead of kept (CH vec4 fewer registers).
 * Grid: B·⌈L/CH⌉·⌈N/4⌉ workgroups, folded into y.
 */
export function dBdCParKernel(N: number, hasZ: boolean): Kernel {
  const T = DBDC_T;
  const rounds = Array.from({ length: CH / ROUND }, (_, r) => r);
  const slot = (m: number) => `red[${m}u * ${T}u + tid]`;
  const reduceRound = (r: number) => {
    const writes = Array.from(
      { length: ROUND },
      (_, m) => `${slot(m)} = db[${r * ROUND + m}];\n  ${slot(ROUND + m)} = dc[${r * ROUND + m}];`,
    )
      .join("\n  ");
    return /* wgsl */ `
  ${writes}
  workgroupBarrier();
  for (var s = ${T / 2}u; s > 0u; s = s / 2u) {
    if (tid < s) {
      for (var m = 0u; m < ${2 * ROUND}u; m++) {
        red[m * ${T}u + tid] = red[m * ${T}u + tid] + red[m * ${T}u + tid + s];
      }
    }
    workgroupBarrier();
  }
  if (tid < ${2 * ROUND}u) {
    let k = ${r * ROUND}u + tid % ${ROUND}u;
    if (k < cnt) {
      let v = red[tid * ${T}u];
      let bo = (b * u.L + t0 + k) * 2u * N + select(0u, N, tid >= ${ROUND}u);
      for (var m = 0u; m < 4u; m++) {
        if (nv[m] < N) { dBC[bo + nv[m]] = v[m]; }
      }
    }
  }
  workgroupBarrier();`;
  };
  const wgsl = /* wgsl */ `${header(N)}
${bindings(N, hasZ)}
var<workgroup> shB: array<vec4<f32>, ${CH}>;
var<workgroup> shC: array<vec4<f32>, ${CH}>;
var<workgroup> red: array<vec4<f32>, ${2 * ROUND * T}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let w = wid.y * nwg.x + wid.x;
  let j = w % NQ;
  let c = (w / NQ) % u.nC;
  let b = w / (NQ * u.nC);
  if (b >= u.B) { return; }
  let t0 = c * CH;
  let cnt = min(CH, u.L - t0);
  let n4 = j * 4u;
  ${GROUP4}
  if (tid < cnt) {
    let bo = (b * u.L + t0 + tid) * 2u * N;
    shB[tid] = ${loadBC(N, "B", "bo")};
    shC[tid] = ${loadBC(N, "C", "bo")};
  }
  workgroupBarrier();
  var dts: array<f32, CH>;
  var dxs: array<f32, CH>;
  var ybs: array<f32, CH>;
  var db: array<vec4<f32>, CH>;
  var dc: array<vec4<f32>, CH>;
  let hb = (b * u.nC + c) * N * u.D;
  for (var d = tid; d < u.D; d += ${T}u) {
    ${perChannel(hasZ)}
    let al = ${gather4("sv", "P_A() + d * N")} * LOG2E;
    var h = ${gather4("sv", "HS() + hb + d", " * u.D")};
    var q = ${gather4("wk", "hb + d", " * u.D")};
    ${
    steps(`
      h = exp2(dts[k] * al) * h + dxs[k] * shB[k];
      dc[k] += ybs[k] * h;`)
  }
    ${
    steps(
      `
      let gq = shC[k] * ybs[k] + q;
      db[k] += gq * dxs[k];
      q = exp2(dts[k] * al) * gq;`,
      true,
    )
  }
  }
  ${rounds.map(reduceRound).join("\n")}
}`;
  return { name: `scan_bwd_dbdc_par_n${N}`, wgsl };
}
