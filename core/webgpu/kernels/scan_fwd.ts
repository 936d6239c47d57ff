/**
 * WGSL for the selective-scan forward (engine-notes.md 3.2, 3.4; the sequential family's is in
 * scan_seq.ts), plus the pieces every scan kernel shares: the header, storage declarations, B/C
 * loads and the workgroup scan.
 *
 * Layouts, chosen so every kernel binds at most 8 storage buffers (WebGPU's default):
 * - BC [B, L, 2N]: B_t then C_t in each row, as Mamba's x_proj lays them out;
 * - the saved buffer `sv`: [δ bias (D) | A (D·N) | D skip (D) | hs], where hs[b, c, n, d] is the
 *   state at the start of every CH-step chunk (d fastest, so neighbouring threads write
 *   neighbouring words): B·D·N·⌈L/CH⌉ floats, never B·L·D·N. The backward reads the
 *   parameters from there too.
 * Exponentials are exp2 with A pre-multiplied by log2(e). The product of exp(Δ_t A) over a
 * chunk is exp(A·ΣΔ_t), so a chunk summary is (ΣΔ, S_n): one scalar per channel plus the state.
 */
import type { Kernel } from "../kernel.ts";
import { MATH } from "./wgsl_math.ts";

/** Time steps per chunk: the granularity of saved states and of per-thread sequential work. */
export const CH = 16;

/** Chunked variant: DC channels × S chunks per workgroup. */
export const DC = 32;
export const S = 8; // power of two (Blelloch scan)

/**
 * States are handled four at a time as vec4 lanes (and scanned in groups of four), so N is
 * padded to NP = 4·⌈N/4⌉; padded states have A = 0 and masked inputs, so they stay 0.
 */
export function paddedState(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/**
 * Emits `body` (which reads the step index `k`) for k = 0..cnt−1, or backwards, unrolled over
 * the CH possible steps: k is a constant in each copy, so private arrays indexed by k become
 * registers or fixed stack slots. With a loop index they cost a per-lane gather on llvmpipe
 * (measured 25–35% slower backward) and local memory on GPUs.
 */
export function steps(body: string, reverse = false): string {
  const ks = Array.from({ length: CH }, (_, i) => (reverse ? CH - 1 - i : i));
  return ks.map((k) => `{ let k = ${k}u;\n if (k < cnt) {\n${body}\n} }`).join("\n");
}

/**
 * Uniforms U { B, L, D, nC, ...extra } and the constants every scan kernel shares, with the
 * offsets of the saved buffer's parts (P_A, P_D, HS).
 */
export function header(N: number, extra: string[] = []): string {
  return /* wgsl */ `
struct U { B: u32, L: u32, D: u32, nC: u32${extra.map((f) => `, ${f}: u32`).join("")} }
@group(0) @binding(0) var<uniform> u: U;
const N: u32 = ${N}u;
const NP: u32 = ${paddedState(N)}u;
const NQ: u32 = ${paddedState(N) / 4}u;
const CH: u32 = ${CH}u;
const LOG2E: f32 = 1.4426950408889634;
fn P_A() -> u32 { return u.D; }
fn P_D() -> u32 { return u.D * (N + 1u); }
fn HS() -> u32 { return u.D * (N + 2u); }
${MATH}
`;
}

/** Floats of the saved buffer: the parameters, then the chunk-start states. */
export function savedFloats(B: number, L: number, D: number, N: number): number {
  return D * (N + 2) + B * Math.ceil(L / CH) * N * D;
}

/** Storage declarations at bindings 1.. in order; ":w" marks read_write, ":v4" vec4 words. */
export function storage(names: string[]): string {
  return names.map((s, i) => {
    const [name, ...tags] = s.split(":");
    const type = tags.includes("v4") ? "array<vec4<f32>>" : "array<f32>";
    const access = tags.includes("w") ? "read_write" : "read";
    return `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: ${type};`;
  }).join("\n");
}

/** The BC binding: vec4 words when N % 4 == 0, so one load (a per-lane loop on llvmpipe) brings four states. */
export function bcBinding(N: number): string {
  return N % 4 === 0 ? "BC:v4" : "BC";
}

/**
 * Lane bookkeeping for the state group n4..n4+3 (n4 a multiple of 4): clamped indices `nn` and
 * the 0/1 mask `okf` of real states.
 */
export const GROUP4 = /* wgsl */ `
        let nv = vec4<u32>(n4) + vec4<u32>(0u, 1u, 2u, 3u);
        let nn = min(nv, vec4<u32>(N - 1u));
        let okf = select(vec4<f32>(0.0), vec4<f32>(1.0), nv < vec4<u32>(N));`;

/** WGSL gathering four f32 words `arr[base + nn.c·stride]` into a vec4 (needs GROUP4's nn). */
export function gather4(arr: string, base: string, stride = ""): string {
  const at = (c: string) => `${arr}[${base} + nn.${c}${stride}]`;
  return `vec4<f32>(${at("x")}, ${at("y")}, ${at("z")}, ${at("w")})`;
}

/** States n4..n4+3 of B_t or C_t (`bo` = (b·L + t)·2N, the row of BC), zero past N. */
export function loadBC(N: number, which: "B" | "C", bo: string): string {
  const at = which === "B" ? bo : `${bo} + N`;
  return N % 4 === 0 ? `BC[(${at} + n4) / 4u]` : `(${gather4("BC", at)} * okf)`;
}

/** Workgroup memory of the chunked variant: scan slots and the per-channel carry. */
export function chunkedShared(): string {
  return /* wgsl */ `
const DC: u32 = ${DC}u;
const S: u32 = ${S}u;
const NG: u32 = 4u;
var<workgroup> shSig: array<f32, ${S * DC}>;
var<workgroup> shVal: array<f32, ${S * DC * 4}>;
var<workgroup> carry: array<f32, ${DC * 64}>;
`;
}

/**
 * Work-efficient (Blelloch) exclusive scan over the S chunk summaries of one channel column,
 * for states 4g .. 4g+3, in workgroup memory: 2·log2(S) barrier steps, 2(S−1) combines.
 * The operator (σ1, s1)∘(σ2, s2) = (σ1+σ2, exp(Aσ2)·s1 + s2) is not commutative, so the
 * combines keep position order. Position p is the chunk's place in scan order (forward: its
 * index; backward: reversed). The exclusive prefix applied to the column's carry lands in
 * `output[g][k]`. Reads `al` and `input` (vec4 arrays) and `sig`; every invocation must reach it.
 */
export function blelloch(input: string, output: string): string {
  return /* wgsl */ `
    {
      let me = p * DC + dc;
      shSig[me] = sig;
      for (var k = 0u; k < NG; k++) { shVal[me * NG + k] = ${input}[g][k]; }
      workgroupBarrier();
      for (var off = 1u; off < S; off = off * 2u) {
        if ((p + 1u) % (2u * off) == 0u) {
          let l = (p - off) * DC + dc;
          let sr = shSig[me];
          for (var k = 0u; k < NG; k++) {
            shVal[me * NG + k] = exp2(al[g][k] * sr) * shVal[l * NG + k] + shVal[me * NG + k];
          }
          shSig[me] = shSig[l] + sr;
        }
        workgroupBarrier();
      }
      if (p == S - 1u) {
        shSig[me] = 0.0;
        for (var k = 0u; k < NG; k++) { shVal[me * NG + k] = 0.0; }
      }
      workgroupBarrier();
      for (var off = S / 2u; off > 0u; off = off / 2u) {
        if ((p + 1u) % (2u * off) == 0u) {
          let l = (p - off) * DC + dc;
          let ls = shSig[l];
          let ps = shSig[me];
          for (var k = 0u; k < NG; k++) {
            let lv = shVal[l * NG + k];
            let pv = shVal[me * NG + k];
            shVal[l * NG + k] = pv;
            shVal[me * NG + k] = exp2(al[g][k] * ls) * pv + lv;
          }
          shSig[l] = ps;
          shSig[me] = ps + ls;
        }
        workgroupBarrier();
      }
      let es = shSig[me];
      for (var k = 0u; k < NG; k++) {
        ${output}[g][k] = exp2(al[g][k] * es) * carry[dc * NP + g * NG + k] + shVal[me * NG + k];
      }
      workgroupBarrier();
    }`;
}

function fwdBindings(N: number, hasZ: boolean): string {
  return storage(["xs", "dl", bcBinding(N), ...(hasZ ? ["zs"] : []), "outp:w", "sv:w"]);
}

/** Loads A·log2(e) from the saved buffer into `al` (vec4 per state group; padded states get 0). */
export const LOAD_AL = /* wgsl */ `
  var al: array<vec4<f32>, NQ>;
  for (var n = 0u; n < N; n++) { al[n / 4u][n % 4u] = sv[P_A() + dd * N + n] * LOG2E; }`;

/** Stores the state vector h into hs at chunk c (layout [b, c, n, d]). */
const SAVE_H = /* wgsl */ `
      let hb = HS() + (b * u.nC + c) * N * u.D + d;
      for (var n = 0u; n < N; n++) { sv[hb + n * u.D] = h[n / 4u][n % 4u]; }`;

/** Emits the recurrence over steps t0..t0+cnt from state h, writing out (y ⊙ silu(z)). */
function emitOutputs(N: number, hasZ: boolean): string {
  return /* wgsl */ `
    for (var k = 0u; k < cnt; k++) {
      let t = t0 + k;
      let i = (b * u.L + t) * u.D + d;
      let dt = softplus_(dl[i] + bi);
      let xv = xs[i];
      let dtx = dt * xv;
      let bo = (b * u.L + t) * 2u * N;
      var y = dsk * xv;
      for (var n4 = 0u; n4 < NP; n4 += 4u) {
        ${GROUP4}
        let hn = exp2(dt * al[n4 / 4u]) * h[n4 / 4u] + dtx * ${loadBC(N, "B", "bo")};
        h[n4 / 4u] = hn;
        y += dot(${loadBC(N, "C", "bo")}, hn);
      }
      ${hasZ ? "let zv = zs[i];\n      y *= zv * sigm(zv);" : ""}
      outp[i] = y;
    }`;
}

/**
 * Chunked variant: a workgroup holds DC channels × S consecutive chunks. Each invocation
 * (1) scans its chunk from a zero state (summary ΣΔ, S_n), (2) joins a Blelloch scan of the S
 * summaries in workgroup memory seeded by the column's carry, giving its chunk's start state,
 * (3) re-runs its chunk from that state fused with the C-contraction, D-skip and gate. The
 * carry then moves S chunks on. B·D·S invocations in flight; two exponentials per (t, d, n).
 * Grid (⌈D/DC⌉, B).
 */
export function fwdChunkedKernel(N: number, hasZ: boolean): Kernel {
  const wgsl = /* wgsl */ `${header(N)}
${fwdBindings(N, hasZ)}
${chunkedShared()}
@compute @workgroup_size(${DC * S})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let dc = lid % DC;
  let s = lid / DC;
  let p = s;
  let d = wid.x * DC + dc;
  let b = wid.y;
  let live = d < u.D;
  let dd = min(d, u.D - 1u);
  ${LOAD_AL}
  if (s == 0u) {
    for (var n = 0u; n < NP; n++) { carry[dc * NP + n] = 0.0; }
  }
  workgroupBarrier();
  let bi = sv[dd];
  let dsk = sv[P_D() + dd];
  let nGroups = (u.nC + S - 1u) / S;
  for (var grp = 0u; grp < nGroups; grp++) {
    let c = grp * S + s;
    let t0 = c * CH;
    var cnt = 0u;
    if (live && t0 < u.L) { cnt = min(CH, u.L - t0); }
    var hz: array<vec4<f32>, NQ>;
    for (var g = 0u; g < NQ; g++) { hz[g] = vec4<f32>(0.0); } // naga does not re-zero per iteration
    var sig = 0.0;
    for (var k = 0u; k < cnt; k++) {
      let t = t0 + k;
      let i = (b * u.L + t) * u.D + d;
      let dt = softplus_(dl[i] + bi);
      sig += dt;
      let dtx = dt * xs[i];
      let bo = (b * u.L + t) * 2u * N;
      for (var n4 = 0u; n4 < NP; n4 += 4u) {
        ${GROUP4}
        hz[n4 / 4u] = exp2(dt * al[n4 / 4u]) * hz[n4 / 4u] + dtx * ${loadBC(N, "B", "bo")};
      }
    }
    var h: array<vec4<f32>, NQ>;
    for (var g = 0u; g < NQ; g++) ${blelloch("hz", "h")}
    if (cnt > 0u) {
      ${SAVE_H}
    }
    ${emitOutputs(N, hasZ)}
    if (s == S - 1u) {
      for (var n = 0u; n < NP; n++) { carry[dc * NP + n] = h[n / 4u][n % 4u]; }
    }
    workgroupBarrier();
  }
}`;
  return { name: `scan_fwd_chunked_n${N}_z${+hasZ}`, wgsl };
}

/**
 * Copies δ bias, A and D skip into the first D·(N + 2) floats of the saved buffer, so that the
 * scan kernels read every per-channel parameter through one binding. Grid: ⌈D·(N+2) / 64⌉ folded.
 */
export function packKernel(N: number): Kernel {
  const wgsl = /* wgsl */ `${header(N)}
${storage(["bias", "Am", "Ds", "sv:w"])}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= HS()) { return; }
  if (i < P_A()) {
    sv[i] = bias[i];
  } else if (i < P_D()) {
    sv[i] = Am[i - P_A()];
  } else {
    sv[i] = Ds[i - P_D()];
  }
}`;
  return { name: `scan_pack_n${N}`, wgsl };
}
