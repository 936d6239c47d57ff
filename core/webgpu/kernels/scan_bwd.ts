/**
 * WGSL for the selective-scan backward (engine-notes.md 3.3). Three kernels in one encoder:
 *
 * 1. main (per channel; the sequential variant is in scan_bwd_seq.ts): walks chunks last to first. For each group of four states it
 *    recomputes the chunk's states from the saved chunk-start state hs, then runs the adjoint
 *    g_t = C_t ȳ_t + exp(Δ_{t+1}A) g_{t+1} backwards from q, the adjoint flowing in from the
 *    next chunk. Gives dx, dδ, dz per element (the parts of `go`) and per-row partials of dA,
 *    dD, dbias; saves q at every chunk end (gin, same layout as hs) for kernel 2 (the work
 *    buffer `wk`: gin at 0, the partials at oParts). The chunked variant
 *    runs S chunks of a channel at once and gets each chunk's q from a reverse Blelloch scan of
 *    chunk summaries (ΣΔ, Q_n), Q_n being the chunk's outgoing adjoint from a zero q.
 * 2. dBdC (scan_dbdc.ts): dB and dC, sums over channels, from hs and gin.
 * 3. reduce: sums the dA/dD/dbias partial rows in a fixed order.
 */
import type { Kernel } from "../kernel.ts";
import {
  bcBinding,
  blelloch,
  chunkedShared,
  DC,
  gather4,
  GROUP4,
  header,
  LOAD_AL,
  loadBC,
  S,
  steps,
  storage,
} from "./scan_fwd.ts";

/** Offsets (in floats) of the main kernel's outputs: dδ and dz in `go`, the rest in `wk`. */
export const MAIN_OFFSETS = ["oDD", "oDZ", "oParts"];

export function mainBindings(N: number, hasZ: boolean): string {
  const ins = ["xs", "dl", "sv", bcBinding(N), ...(hasZ ? ["zs"] : []), "dout"];
  return storage([...ins, "go:w", "wk:w"]);
}

/** Per-channel set-up shared by both variants (dd is d clamped into range). */
const PROLOGUE = /* wgsl */ `
  ${LOAD_AL}
  let bi = sv[dd];
  let dsk = sv[P_D() + dd];
  var dA: array<vec4<f32>, NQ>;
  var dDacc = 0.0;
  var dbacc = 0.0;`;

/**
 * Loads the chunk into private arrays (Δ, x, ȳ). Δ's pre-activation, z and dO are reloaded in
 * the last pass instead of kept (48 registers fewer per thread; cached loads are cheap on GPUs).
 */
function emitLoad(hasZ: boolean): string {
  const ybar = hasZ
    ? "let zv = zs[i];\n      let ybar = dout[i] * zv * sigm(zv);"
    : "let ybar = dout[i];";
  return /* wgsl */ `
    var dtv: array<f32, CH>;
    var xv: array<f32, CH>;
    var yb: array<f32, CH>;
    var gx: array<f32, CH>;
    var gd: array<f32, CH>;
    var yc: array<f32, CH>;
    var sig = 0.0;
    // naga hoists function-scope vars out of loops without re-zeroing them: clear by hand
    for (var k = 0u; k < CH; k++) {
      gx[k] = 0.0;
      gd[k] = 0.0;
      yc[k] = 0.0;
    }
    ${
    steps(`
      let i = (b * u.L + t0 + k) * u.D + d;
      let dt = softplus_(dl[i] + bi);
      let x = xs[i];
      ${ybar}
      dtv[k] = dt;
      xv[k] = x;
      yb[k] = ybar;
      sig += dt;`)
  }`;
}

/**
 * For every group of four states (padded states are masked to zero): recompute the chunk's
 * states from hs, then the adjoint backwards from q; accumulate dx, dΔ, y (for dz) per step and
 * dA per state; leave the outgoing adjoint in q. The reverse pass reloads B and C and recomputes
 * exp2(ΔA) (cached loads and exp2 are cheaper on GPUs than 192 more live registers).
 */
function emitAdjoint(N: number, hasZ: boolean): string {
  const dz = hasZ
    ? `let zv = zs[i];
        let sz = sigm(zv);
        go[u.oDZ + i] = dout[i] * (yc[k] + dsk * xv[k]) * sz * (1.0 + zv * (1.0 - sz));`
    : "";
  const bc = `let bo = (b * u.L + t0 + k) * 2u * N;
          let bv = ${loadBC(N, "B", "bo")};
          let cv = ${loadBC(N, "C", "bo")};`;
  return /* wgsl */ `
    if (cnt > 0u) {
      let hb = (b * u.nC + c) * N * u.D + d;
      for (var n4 = 0u; n4 < NP; n4 += 4u) {
        ${GROUP4}
        let al4 = al[n4 / 4u];
        var qq = q[n4 / 4u];
        for (var m = 0u; m < 4u; m++) {
          if (n4 + m < N) { wk[hb + (n4 + m) * u.D] = qq[m]; }
        }
        var ahv: array<vec4<f32>, CH>;
        var h = ${gather4("sv", "HS() + hb", " * u.D")} * okf;
        ${
    steps(`
          ${bc}
          ahv[k] = exp2(dtv[k] * al4) * h;
          h = ahv[k] + dtv[k] * xv[k] * bv;
          ${hasZ ? "yc[k] += dot(cv, h);" : ""}`)
  }
        var dan = vec4<f32>(0.0);
        let an = ${gather4("sv", "P_A() + d * N")} * okf;
        ${
    steps(
      `
          ${bc}
          let g = cv * yb[k] + qq;
          gx[k] += dot(g, bv);
          gd[k] += dot(g, bv * xv[k] + an * ahv[k]);
          dan += g * (dtv[k] * ahv[k]);
          qq = exp2(dtv[k] * al4) * g;`,
      true,
    )
  }
        q[n4 / 4u] = qq;
        dA[n4 / 4u] += dan;
      }
      ${
    steps(`
        let i = (b * u.L + t0 + k) * u.D + d;
        let ddv = gd[k] * dsoftplus_(dl[i] + bi);
        go[u.oDD + i] = ddv;
        go[i] = dsk * yb[k] + dtv[k] * gx[k];
        dbacc += ddv;
        dDacc += yb[k] * xv[k];
        ${dz}`)
  }
    }`;
}

/** Writes this invocation's partial row: dA[d, :], then dD[d], then dbias[d]. */
const EMIT_PARTS = /* wgsl */ `
  if (live) {
    let cols = u.D * N + 2u * u.D;
    let pr = u.oParts + row * cols;
    for (var n = 0u; n < N; n++) { wk[pr + d * N + n] = dA[n / 4u][n % 4u]; }
    wk[pr + u.D * N + d] = dDacc;
    wk[pr + u.D * N + u.D + d] = dbacc;
  }`;

/**
 * Chunked variant of kernel 1: DC channels × S chunks per workgroup, chunk groups last to
 * first. Per invocation: (1) the chunk's reverse summary from a zero adjoint, (2) a reverse
 * Blelloch scan (position S−1−s) seeded by the carry from the later group, giving q at the
 * chunk's end, (3) the same per-state recompute-and-adjoint as the sequential variant. Grid
 * (⌈D/DC⌉, B); rows = B·S.
 */
export function bwdChunkedKernel(N: number, hasZ: boolean): Kernel {
  const wgsl = /* wgsl */ `${header(N, MAIN_OFFSETS)}
${mainBindings(N, hasZ)}
${chunkedShared()}
@compute @workgroup_size(${DC * S})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let dc = lid % DC;
  let s = lid / DC;
  let p = S - 1u - s;
  let d = wid.x * DC + dc;
  let b = wid.y;
  let live = d < u.D;
  let dd = min(d, u.D - 1u);
  ${PROLOGUE}
  if (s == 0u) {
    for (var n = 0u; n < NP; n++) { carry[dc * NP + n] = 0.0; }
  }
  workgroupBarrier();
  let nGroups = (u.nC + S - 1u) / S;
  for (var gi = 0u; gi < nGroups; gi++) {
    let c = (nGroups - 1u - gi) * S + s;
    let t0 = c * CH;
    var cnt = 0u;
    if (live && t0 < u.L) { cnt = min(CH, u.L - t0); }
    ${emitLoad(hasZ)}
    var qz: array<vec4<f32>, NQ>;
    for (var n4 = 0u; n4 < NP; n4 += 4u) {
      ${GROUP4}
      var qq = vec4<f32>(0.0);
      ${
    steps(
      `
        let bo = (b * u.L + t0 + k) * 2u * N;
        qq = exp2(dtv[k] * al[n4 / 4u]) * (${loadBC(N, "C", "bo")} * yb[k] + qq);`,
      true,
    )
  }
      qz[n4 / 4u] = qq;
    }
    var q: array<vec4<f32>, NQ>;
    for (var g = 0u; g < NQ; g++) ${blelloch("qz", "q")}
    ${emitAdjoint(N, hasZ)}
    if (s == 0u) {
      for (var n = 0u; n < NP; n++) { carry[dc * NP + n] = q[n / 4u][n % 4u]; }
    }
    workgroupBarrier();
  }
  let row = b * S + s;
  ${EMIT_PARTS}
}`;
  return { name: `scan_bwd_chunked_n${N}_z${+hasZ}`, wgsl };
}

/** Kernel 3: column sums of parts [rows, D·N + 2D] into dA [D, N], dD [D], dbias [D]. */
export function reduceKernel(N: number): Kernel {
  const wgsl = /* wgsl */ `${header(N, ["oParts"])}
${storage(["wk", "dAo:w", "dDo:w", "dbo:w"])}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let j = (wid.y * nwg.x + wid.x) * 64u + lid;
  let dn = u.D * N;
  let cols = dn + 2u * u.D;
  if (j >= cols) { return; }
  // u.B carries the number of partial rows here
  var acc = 0.0;
  for (var r = 0u; r < u.B; r++) { acc += wk[u.oParts + r * cols + j]; }
  if (j < dn) {
    dAo[j] = acc;
  } else if (j < dn + u.D) {
    dDo[j - dn] = acc;
  } else {
    dbo[j - dn - u.D] = acc;
  }
}`;
  return { name: `scan_bwd_reduce_n${N}`, wgsl };
}
