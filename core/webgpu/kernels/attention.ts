/**
 * WebGPU fused causal attention (FlashAttention-2 style; semantics in core/cpu/attention.ts) on
 * q, k, v [B, H, T, dh]. Each invocation owns a few query rows (forward, dQ) or key rows (dK/dV)
 * and keeps them and their accumulators in registers as named vec4s: the WGSL is generated per
 * head dim and tiling, so every loop over dh and over a tile is unrolled. Tiles of K/V (or Q/dO)
 * are staged in workgroup memory, the workgroup walking them up to its last row (causal: tiles
 * past it are skipped, the diagonal is masked). Scores never touch memory: the forward runs an
 * online softmax and saves lse; the backward recomputes P = exp(S − lse) in two kernels split by
 * role (dK/dV, dQ) because WGSL has no float atomics, after a Δ = rowsum(dO ⊙ O) pass.
 */
import type { AttentionArgs } from "../../backend.ts";
import { type Kernel, kernel as cachedKernel } from "../kernel.ts";
import type { AttentionTiling } from "../profile.ts";
import type { GpuBuffer, Runtime } from "../runtime.ts";

/**
 * The kernel shape is the profile's `attention` tiling (profile.ts): on GPUs one row per
 * invocation, 64 invocations, 16-row tiles (many threads, few registers each, broadcast reads
 * from workgroup memory); on llvmpipe 8 rows per invocation in workgroups of 8 (one AVX2
 * vector), 4-row tiles: a read of workgroup memory at a constant index is one broadcast load
 * while every storage-buffer read is a per-lane scalar loop, so each staged key is reused across
 * 8 rows (measured on llvmpipe at B16 H8 T280 dh32, fwd / bwd ms: 1 row × 16-tile 308 / 586,
 * 4 rows × 8-tile 120 / 295, 8 rows × 4-tile 59 / 123, 16 rows × 4-tile 60 / 125 with 3× the
 * JIT time).
 */

/**
 * Masked-score sentinel. Finite as WGSL requires, and small enough that exp(NEG − m), which
 * llvmpipe computes as exp2 of NEG·log2(e), cannot overflow f32 to −inf.
 */
const NEG = "-1.0e30";

interface Gen extends AttentionTiling {
  dh: number;
  d4: number;
  /** dh % 4 == 0: rows are whole vec4s, so buffers are declared array<vec4<f32>>. */
  vec: boolean;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function decl(g: Gen, binding: number, name: string, rw: "read" | "read_write"): string {
  const ty = g.vec ? "vec4<f32>" : "f32";
  return `@group(0) @binding(${binding}) var<storage, ${rw}> ${name}: array<${ty}>;\n`;
}

function scalarDecl(binding: number, name: string, rw: "read" | "read_write"): string {
  return `@group(0) @binding(${binding}) var<storage, ${rw}> ${name}: array<f32>;\n`;
}

/**
 * Where time step t of this head's rows starts in a [.., dh] operand: `name_at` (the head's base,
 * set up by `entry`) plus t times the operand's row stride, both from the uniforms (in the
 * array's units: vec4s when dh % 4 == 0, else floats), so one kernel reads [B, H, T, dh] tensors
 * and q, k, v straight out of a packed [B, T, 3, H, dh] qkv alike.
 */
const rowAt = (name: string, t: string) => `${name}_at + (${t}) * u.${name}T`;

/** vec4 chunk c (a number or a u32 expression) of time step `t` of an operand. */
function ld(g: Gen, name: string, t: string, c: number | string): string {
  const at = rowAt(name, t);
  if (g.vec) return `${name}[${at} + ${typeof c === "number" ? `${c}u` : `(${c})`}]`;
  if (typeof c === "number") {
    const comp = range(4).map((e) => {
      const d = 4 * c + e;
      return d < g.dh ? `${name}[${at} + ${d}u]` : "0.0";
    });
    return `vec4<f32>(${comp.join(", ")})`;
  }
  const comp = range(4).map((e) => {
    const d = `4u * (${c}) + ${e}u`;
    return `select(0.0, ${name}[${at} + min(${d}, ${g.dh - 1}u)], ${d} < ${g.dh}u)`;
  });
  return `vec4<f32>(${comp.join(", ")})`;
}

/**
 * Store vec4 expression `val` as chunk c of time step `t` of operand `name`, in array `arr`
 * (default the operand's own; dk and dv share one when packed, see dkdvWgsl).
 */
function st(g: Gen, name: string, t: string, c: number, val: string, arr = name): string {
  const at = rowAt(name, t);
  if (g.vec) return `${arr}[${at} + ${c}u] = ${val};`;
  return `{ let t = ${val}; ` + range(4).filter((e) => 4 * c + e < g.dh)
    .map((e) => `${arr}[${at} + ${4 * c + e}u] = t.${"xyzw"[e]};`).join(" ") +
    " }";
}

/** Σ over chunks of dot(a_c, b_c). */
function dotAll(g: Gen, a: (c: number) => string, b: (c: number) => string): string {
  return range(g.d4).map((c) => `dot(${a(c)}, ${b(c)})`).join(" + ");
}

/** One line per (row slot i, chunk c). */
function perRowChunk(g: Gen, line: (i: number, c: number) => string): string {
  return range(g.rows).flatMap((i) => range(g.d4).map((c) => `  ${line(i, c)}\n`)).join("");
}

/** Per strided operand X: its offsets per batch (XB), per head (XH), per time step (XT), and X0. */
function strideFields(names: readonly string[]): string {
  return names.map((n) => `, ${n}B: u32, ${n}H: u32, ${n}T: u32, ${n}0: u32`).join("");
}

function uniforms(names: readonly string[]): string {
  return `struct U { T: u32, bh: u32, scale: f32, H: u32${strideFields(names)} }
@group(0) @binding(0) var<uniform> u: U;
`;
}

/**
 * Entry point: `base` is the head's first row of the per-row scalars (lse, Δ: [B, H, T]),
 * `X_at` each strided operand's start for this head, `row_i`/`rc_i` (clamped) the rows owned.
 */
function entry(g: Gen, names: readonly string[]): string {
  const rb = g.wg * g.rows;
  return `@compute @workgroup_size(${g.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= u.bh) { return; }
  let base = bh * u.T;
  let hb = bh / u.H;
  let hh = bh - hb * u.H;
` + names.map((n) => `  let ${n}_at = hb * u.${n}B + hh * u.${n}H + u.${n}0;\n`).join("") +
    `  let r0 = wid.x * ${rb}u;
` +
    range(g.rows).map((i) =>
      `  let row_${i} = r0 + ${i * g.wg}u + lid;\n  let rc_${i} = min(row_${i}, u.T - 1u);\n`
    ).join("");
}

/**
 * Stage tile rows t0 .. t0 + tile of the given [rows, dh] buffers (and per-row scalars) into
 * workgroup memory, clamping rows past the end (their results are masked). Every invocation
 * reaches both barriers: the loops around this code have workgroup-uniform bounds.
 */
function stage(g: Gen, t0: string, vecs: [string, string][], scalars: [string, string][]): string {
  const n = g.tile * g.d4;
  let s = `    workgroupBarrier();\n    for (var e = lid; e < ${n}u; e += ${g.wg}u) {\n`;
  s += `      let tr = min(${t0} + e / ${g.d4}u, u.T - 1u);\n`;
  for (const [sm, buf] of vecs) s += `      ${sm}[e] = ${ld(g, buf, "tr", `e % ${g.d4}u`)};\n`;
  s += `    }\n`;
  if (scalars.length) {
    s += `    for (var e = lid; e < ${g.tile}u; e += ${g.wg}u) {\n`;
    s += `      let tr = base + min(${t0} + e, u.T - 1u);\n`;
    for (const [sm, buf] of scalars) s += `      ${sm}[e] = ${buf}[tr];\n`;
    s += `    }\n`;
  }
  s += `    workgroupBarrier();\n`;
  for (let t = 0; t < g.tile; t++) {
    for (let c = 0; c < g.d4; c++) {
      for (const [sm] of vecs) s += `    let ${sm}_${t}_${c} = ${sm}[${t * g.d4 + c}];\n`;
    }
  }
  return s;
}

function smem(g: Gen, vecs: string[], scalars: string[] = []): string {
  return vecs.map((n) => `var<workgroup> ${n}: array<vec4<f32>, ${g.tile * g.d4}>;\n`).join("") +
    scalars.map((n) => `var<workgroup> ${n}: array<f32, ${g.tile}>;\n`).join("");
}

/** Loop over key tiles from 0 to the workgroup's last row (forward and dQ). */
function keyLoop(g: Gen, body: string): string {
  return `  let jEnd = min(r0 + ${g.wg * g.rows}u, u.T);
  for (var j0 = 0u; j0 < jEnd; j0 += ${g.tile}u) {
` + stage(g, "j0", [["kt", "k"], ["vt", "v"]], []) + body + "  }\n";
}

function fwdWgsl(g: Gen): string {
  const ts = range(g.tile);
  let body = "";
  for (let i = 0; i < g.rows; i++) {
    for (const t of ts) {
      const dot = dotAll(g, (c) => `q_${i}_${c}`, (c) => `kt_${t}_${c}`);
      body += `    let s_${i}_${t} = select(${NEG}, ${dot}, j0 + ${t}u <= row_${i});\n`;
    }
    const mx = ts.map((t) => `s_${i}_${t}`).reduce((a, b) => `max(${a}, ${b})`);
    body += `    let mt_${i} = max(m_${i}, ${mx});\n    let corr_${i} = exp(m_${i} - mt_${i});\n`;
    for (const t of ts) {
      body +=
        `    let p_${i}_${t} = select(0.0, exp(s_${i}_${t} - mt_${i}), j0 + ${t}u <= row_${i});\n`;
    }
    body += `    l_${i} = l_${i} * corr_${i} + ${ts.map((t) => `p_${i}_${t}`).join(" + ")};\n`;
    for (let c = 0; c < g.d4; c++) {
      const pv = ts.map((t) => `p_${i}_${t} * vt_${t}_${c}`).join(" + ");
      body += `    a_${i}_${c} = a_${i}_${c} * corr_${i} + ${pv};\n`;
    }
    body += `    m_${i} = mt_${i};\n`;
  }
  const names = FWD_NAMES;
  return uniforms(names) + decl(g, 1, "q", "read") + decl(g, 2, "k", "read") +
    decl(g, 3, "v", "read") + decl(g, 4, "o", "read_write") + scalarDecl(5, "lse", "read_write") +
    smem(g, ["kt", "vt"]) + entry(g, names) +
    perRowChunk(g, (i, c) => `let q_${i}_${c} = ${ld(g, "q", `rc_${i}`, c)} * u.scale;`) +
    perRowChunk(g, (i, c) => `var a_${i}_${c} = vec4<f32>();`) +
    range(g.rows).map((i) => `  var m_${i} = ${NEG};\n  var l_${i} = 0.0;\n`).join("") +
    keyLoop(g, body) +
    range(g.rows).map((i) =>
      `  if (row_${i} < u.T) {\n    let inv = 1.0 / l_${i};\n` +
      range(g.d4).map((c) => `    ${st(g, "o", `row_${i}`, c, `a_${i}_${c} * inv`)}\n`)
        .join("") +
      `    lse[base + row_${i}] = m_${i} + log(l_${i});\n  }\n`
    ).join("") + "}\n";
}

function dqWgsl(g: Gen): string {
  let body = "";
  for (let i = 0; i < g.rows; i++) {
    for (let t = 0; t < g.tile; t++) {
      const s = dotAll(g, (c) => `q_${i}_${c}`, (c) => `kt_${t}_${c}`);
      const dp = dotAll(g, (c) => `g_${i}_${c}`, (c) => `vt_${t}_${c}`);
      body += `    let p_${i}_${t} = select(0.0, exp(${s} - li_${i}), j0 + ${t}u <= row_${i});\n`;
      body += `    let ds_${i}_${t} = p_${i}_${t} * (${dp} - di_${i});\n`;
    }
    for (let c = 0; c < g.d4; c++) {
      const sum = range(g.tile).map((t) => `ds_${i}_${t} * kt_${t}_${c}`).join(" + ");
      body += `    dq_${i}_${c} += ${sum};\n`;
    }
  }
  const names = DQ_NAMES;
  return uniforms(names) + decl(g, 1, "q", "read") + decl(g, 2, "k", "read") +
    decl(g, 3, "v", "read") + decl(g, 4, "dO", "read") + scalarDecl(5, "lse", "read") +
    scalarDecl(6, "delta", "read") + decl(g, 7, "dq", "read_write") + smem(g, ["kt", "vt"]) +
    entry(g, names) +
    perRowChunk(g, (i, c) => `let q_${i}_${c} = ${ld(g, "q", `rc_${i}`, c)} * u.scale;`) +
    perRowChunk(g, (i, c) => `let g_${i}_${c} = ${ld(g, "dO", `rc_${i}`, c)};`) +
    perRowChunk(g, (i, c) => `var dq_${i}_${c} = vec4<f32>();`) +
    range(g.rows).map((i) =>
      `  let li_${i} = lse[base + rc_${i}];\n  let di_${i} = delta[base + rc_${i}];\n`
    ).join("") + keyLoop(g, body) +
    range(g.rows).map((i) =>
      `  if (row_${i} < u.T) {\n` +
      range(g.d4).map((c) => `    ${st(g, "dq", `row_${i}`, c, `dq_${i}_${c} * u.scale`)}\n`)
        .join("") +
      "  }\n"
    ).join("") + "}\n";
}

/** dK/dV: each invocation owns key rows and walks the query tiles from the workgroup's first. */
/**
 * With `shared`, dk and dv are written into one binding `dkv` at their own offsets: packed
 * gradients live in one buffer, and WebGPU forbids binding a buffer twice as writable storage in
 * one dispatch (Chrome's Dawn rejects it; Deno's wgpu does not check).
 */
function dkdvWgsl(g: Gen, shared = false): string {
  let s = `  for (var i0 = r0; i0 < u.T; i0 += ${g.tile}u) {\n` +
    stage(g, "i0", [["qt", "q"], ["gt", "dO"]], [["lt", "lse"], ["dt", "delta"]]);
  for (let i = 0; i < g.rows; i++) {
    for (let t = 0; t < g.tile; t++) {
      const sc = dotAll(g, (c) => `k_${i}_${c}`, (c) => `qt_${t}_${c}`);
      const dp = dotAll(g, (c) => `v_${i}_${c}`, (c) => `gt_${t}_${c}`);
      s += `    let ok_${i}_${t} = i0 + ${t}u >= row_${i} && i0 + ${t}u < u.T;\n`;
      s += `    let p_${i}_${t} = select(0.0, exp(${sc} - lt[${t}]), ok_${i}_${t});\n`;
      s += `    let ds_${i}_${t} = p_${i}_${t} * (${dp} - dt[${t}]);\n`;
    }
    for (let c = 0; c < g.d4; c++) {
      const ts = range(g.tile);
      s += `    dv_${i}_${c} += ${ts.map((t) => `p_${i}_${t} * gt_${t}_${c}`).join(" + ")};\n`;
      s += `    dk_${i}_${c} += ${ts.map((t) => `ds_${i}_${t} * qt_${t}_${c}`).join(" + ")};\n`;
    }
  }
  s += "  }\n";
  const names = DKDV_NAMES;
  return uniforms(names) + decl(g, 1, "q", "read") + decl(g, 2, "k", "read") +
    decl(g, 3, "v", "read") + decl(g, 4, "dO", "read") + scalarDecl(5, "lse", "read") +
    scalarDecl(6, "delta", "read") +
    (shared
      ? decl(g, 7, "dkv", "read_write")
      : decl(g, 7, "dk", "read_write") + decl(g, 8, "dv", "read_write")) +
    smem(g, ["qt", "gt"], ["lt", "dt"]) + entry(g, names) +
    perRowChunk(g, (i, c) => `let k_${i}_${c} = ${ld(g, "k", `rc_${i}`, c)} * u.scale;`) +
    perRowChunk(g, (i, c) => `let v_${i}_${c} = ${ld(g, "v", `rc_${i}`, c)};`) +
    perRowChunk(g, (i, c) => `var dk_${i}_${c} = vec4<f32>();\n  var dv_${i}_${c} = vec4<f32>();`) +
    s +
    range(g.rows).map((i) =>
      `  if (row_${i} < u.T) {\n` +
      range(g.d4).map((c) =>
        `    ${st(g, "dk", `row_${i}`, c, `dk_${i}_${c} * u.scale`, shared ? "dkv" : "dk")}\n` +
        `    ${st(g, "dv", `row_${i}`, c, `dv_${i}_${c}`, shared ? "dkv" : "dv")}\n`
      ).join("") + "  }\n"
    ).join("") + "}\n";
}

/** The strided operands of each kernel (their offsets are uniforms, see `rowAt`). */
const FWD_NAMES = ["q", "k", "v", "o"];
const DQ_NAMES = ["q", "k", "v", "dO", "dq"];
const DKDV_NAMES = ["q", "k", "v", "dO", "dk", "dv"];

/** Δ[b, h, t] = rowsum(o ⊙ dO), o and dO read with their strides (in floats). */
const DELTA: Kernel = cachedKernel("attn_bwd_delta", () => `
struct U { rows: u32, dh: u32, T: u32, H: u32${strideFields(["o", "dO"])} }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> dO: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= u.rows) { return; }
  let bh = r / u.T;
  let t = r - bh * u.T;
  let hb = bh / u.H;
  let hh = bh - hb * u.H;
  let oa = hb * u.oB + hh * u.oH + t * u.oT + u.o0;
  let ga = hb * u.dOB + hh * u.dOH + t * u.dOT + u.dO0;
  var s = 0.0;
  for (var e = 0u; e < u.dh; e++) { s += o[oa + e] * dO[ga + e]; }
  delta[r] = s;
}
`);

/**
 * How the operands lie: "heads", every one [B, H, T, dh]; "packed", q, k, v (and dq, dk, dv)
 * in one [B, T, 3, H, dh] buffer (the qkv projection's output as it is), o and dO [B, T, H, dh]
 * (the input of the output projection as it is): no head split or merge copies either way.
 */
export type AttentionLayout = "heads" | "packed";

/** Uniform offsets (in floats) of every strided operand for a layout. */
function strides(layout: AttentionLayout, a: AttentionArgs): Record<string, number> {
  const { heads: H, length: T, headDim: dh } = a;
  const u: Record<string, number> = {};
  const set = (n: string, B: number, Hs: number, Ts: number, z: number) =>
    Object.assign(u, { [`${n}B`]: B, [`${n}H`]: Hs, [`${n}T`]: Ts, [`${n}0`]: z });
  for (const [i, names] of [["q", "dq"], ["k", "dk"], ["v", "dv"]].entries()) {
    for (const n of names) {
      if (layout === "heads") set(n, H * T * dh, T * dh, dh, 0);
      else set(n, T * 3 * H * dh, dh, 3 * H * dh, i * H * dh);
    }
  }
  for (const n of ["o", "dO"]) {
    if (layout === "heads") set(n, H * T * dh, T * dh, dh, 0);
    else set(n, T * H * dh, dh, H * dh, 0);
  }
  return u;
}

/** The named operands' strides, in units of `unit` floats (4: vec4 arrays). */
function operandStrides(names: readonly string[], all: Record<string, number>, unit: number) {
  const u: Record<string, number> = {};
  for (const n of names) for (const f of ["B", "H", "T", "0"]) u[n + f] = all[n + f] / unit;
  return u;
}

/** The uniforms of one attention kernel: sizes and its operands' strides. */
function kernelUniforms(names: readonly string[], all: Record<string, number>, a: AttentionArgs) {
  const unit = a.headDim % 4 === 0 ? 4 : 1;
  const { length: T, batch, heads: H, scale } = a;
  return { T, bh: batch * H, scale, H, ...operandStrides(names, all, unit) };
}

/** "dkdv_shared": dk and dv into one buffer (the packed layout's gradient). */
type Role = "fwd" | "dq" | "dkdv" | "dkdv_shared";

function kernel(role: Role, dh: number, t: AttentionTiling): Kernel {
  return cachedKernel(`attn_${role}_d${dh}_w${t.wg}_r${t.rows}_t${t.tile}`, () => {
    const g: Gen = { ...t, dh, d4: Math.ceil(dh / 4), vec: dh % 4 === 0 };
    if (role === "dkdv_shared") return dkdvWgsl(g, true);
    return (role === "fwd" ? fwdWgsl : role === "dq" ? dqWgsl : dkdvWgsl)(g);
  });
}

/** The generated WGSL of one kernel (for inspection and experiments). */
export function attentionWgsl(role: Role, dh: number, t: AttentionTiling): string {
  return kernel(role, dh, t).wgsl;
}

/**
 * The profile's tiling for head dim dh and sequence length T. With several rows per invocation
 * (llvmpipe), rows × dh stays at the profile's rows × 32 (at most 16 rows) so registers per
 * invocation and llvmpipe's JIT time (~15 s for the three dh = 32 kernels) stay bounded; within
 * that, more rows reuse each staged key more often, and the rows are balanced so a head's
 * workgroups cover T with the fewest idle ones (fwd + bwd at dh 16, T 80: 10 rows 29 ms, 8 rows
 * 34–42, 16 rows 32; T 280: 12 rows 296–322 ms, 8 rows 375, 16 rows 341; interleaved). Tiles
 * shrink until the staged rows fit the device's workgroup memory (16 KiB by default: 16-row
 * tiles hold dh ≤ 120).
 */
export function attentionTiling(rt: Runtime, dh: number, T?: number): AttentionTiling {
  let t = rt.profile.attention;
  if (t.rows > 1) {
    const most = Math.max(1, Math.min(16, Math.floor((t.rows * 32) / dh)));
    const blocks = T === undefined ? 0 : Math.ceil(T / (t.wg * most));
    t = { ...t, rows: blocks === 0 ? most : Math.ceil(T! / (t.wg * blocks)) };
  }
  const bytes = (tile: number) => 2 * tile * Math.ceil(dh / 4) * 16 + 2 * tile * 4;
  while (t.tile > 1 && bytes(t.tile) > rt.ctx.limits.maxComputeWorkgroupStorageSize) {
    t = { ...t, tile: t.tile / 2 };
  }
  if (bytes(t.tile) > rt.ctx.limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`attention: head dim ${dh} needs ${bytes(t.tile)} B of workgroup memory`);
  }
  return t;
}

/** [row blocks, heads folded into y/z] so B·H may exceed the per-dimension limit. */
function rowGrid(rt: Runtime, a: AttentionArgs, t: AttentionTiling): [number, number, number] {
  const max = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
  const bh = a.batch * a.heads;
  const y = Math.max(1, Math.min(bh, max));
  return [Math.ceil(a.length / (t.wg * t.rows)), y, Math.ceil(bh / y)];
}

/**
 * Causal attention forward: o and lse [B, H, T]. Layout "heads": q, k, v, o [B, H, T, dh];
 * "packed": q = k = v the qkv buffer [B, T, 3, H, dh], o [B, T, H, dh].
 */
export function attentionGpu(
  rt: Runtime,
  q: GpuBuffer,
  k: GpuBuffer,
  v: GpuBuffer,
  args: AttentionArgs,
  layout: AttentionLayout = "heads",
): { o: GpuBuffer; lse: GpuBuffer } {
  const { batch, heads, length: T, headDim: dh } = args;
  const t = attentionTiling(rt, dh, T);
  const o = rt.alloc(batch * heads * T * dh * 4);
  const lse = rt.alloc(batch * heads * T * 4);
  const uni = kernelUniforms(FWD_NAMES, strides(layout, args), args);
  rt.dispatch(kernel("fwd", dh, t), { q, k, v, o, lse }, uni, rowGrid(rt, args, t));
  return { o, lse };
}

/**
 * Causal attention backward from the saved o and lse: dq, dk, dv in the layout of q, k, v (for
 * "packed" the three are one new [B, T, 3, H, dh] buffer, returned thrice).
 */
export function attentionGradGpu(
  rt: Runtime,
  q: GpuBuffer,
  k: GpuBuffer,
  v: GpuBuffer,
  o: GpuBuffer,
  lse: GpuBuffer,
  dO: GpuBuffer,
  args: AttentionArgs,
  layout: AttentionLayout = "heads",
): { dq: GpuBuffer; dk: GpuBuffer; dv: GpuBuffer } {
  const { batch, heads, length: T, headDim: dh } = args;
  const t = attentionTiling(rt, dh, T);
  const n = batch * heads * T * dh;
  const rows = batch * heads * T;
  const st = strides(layout, args);
  const delta = rt.alloc(rows * 4);
  const du = { rows, dh, T, H: heads, ...operandStrides(["o", "dO"], st, 1) };
  rt.dispatch(DELTA, { o, dO, delta }, du, rt.grid(Math.ceil(rows / 64)));
  let dq: GpuBuffer, dk: GpuBuffer, dv: GpuBuffer;
  if (layout === "packed") dq = dk = dv = rt.alloc(3 * n * 4);
  else [dq, dk, dv] = [rt.alloc(n * 4), rt.alloc(n * 4), rt.alloc(n * 4)];
  const grid = rowGrid(rt, args, t);
  const bufs = { q, k, v, dO, lse, delta };
  const packed = layout === "packed";
  rt.dispatch(
    kernel(packed ? "dkdv_shared" : "dkdv", dh, t),
    packed ? { ...bufs, dkv: dk } : { ...bufs, dk, dv },
    kernelUniforms(DKDV_NAMES, st, args),
    grid,
  );
  rt.dispatch(kernel("dq", dh, t), { ...bufs, dq }, kernelUniforms(DQ_NAMES, st, args), grid);
  rt.release(delta);
  return { dq, dk, dv };
}
