/**
 * Matmul WGSL for hardware GPUs, in the structure of the public fast kernels (Boehm's CUDA
 * worklog, tfjs's packed vec4 matmul): a workgroup computes a T×T tile of C, each thread an 8×8
 * register block (4×4 in the 32-wide tile for small outputs), as two vec4 quads along each side
 * spaced T/2 apart so that neighbouring threads read neighbouring 16-byte words of shared
 * memory. Per k-tile of TK
 * the workgroup stages a T×TK panel of A and of B in workgroup memory, k-major; the panels are
 * double-buffered (the next tile's global loads are issued before the current tile's FMAs and
 * stored into the other buffer after them: one barrier per k-tile), and both buffers of both
 * operands fit WebGPU's default 16 KiB. Global loads are vec4 where the operand's contiguous
 * dimension and batch stride are multiples of 4, four clamped scalars otherwise. Chosen when the
 * adapter is hardware; llvmpipe wants the opposite (matmul_sw.ts). No GPU has run it yet.
 */

export interface TiledVariant {
  /** Output tile edge (see TILE): 128 for large outputs, 64, then 32 for few outputs. */
  tile: 128 | 64 | 32;
  transA: boolean;
  transB: boolean;
  /** vec4 global loads of A / B (else four bounds-checked scalar loads per quad). */
  aVec: boolean;
  bVec: boolean;
  /** n is a multiple of 4: C rows are stored as vec4. */
  c4: boolean;
  /** Add a bias row (binding 4, [n]) when storing. */
  bias: boolean;
  /**
   * Split-k: workgroup z is a slice of k (uniform kSplit steps long) of one matrix and writes
   * its partial product to C[z]; the caller sums the slices (matmul_splitk_gpu.ts).
   */
  split: boolean;
  /**
   * Also the sums over k of op(A)'s rows ("rows") or op(B)'s columns ("cols"), from the quads
   * the threads read anyway (matmul_sums.ts): C of batch or slice z at z·cStride, its sums sOff
   * after that, in the one C binding (uniforms cStride, sOff).
   */
  sums: "none" | "rows" | "cols";
}

/**
 * Per tile edge: outputs per thread edge R, threads per edge W = T/R, k-tile TK. Workgroup
 * memory is 2 buffers × 2 operands × TK × T floats: 16 KiB at 128 and 64, 8 KiB at 32.
 * Invocations: 256 at 128 (16×16), 64 at 64 and 32 (8×8); all within WebGPU's defaults.
 */
export const TILE = {
  128: { R: 8, TK: 8 },
  64: { R: 8, TK: 16 },
  32: { R: 4, TK: 16 },
} as const;

export function tiledKernelName(v: TiledVariant): string {
  const mode = (vec: boolean) => vec ? "4" : "s";
  return `matmul_tiled_${v.tile}_a${v.transA ? "T" : "N"}${mode(v.aVec)}` +
    `_b${v.transB ? "T" : "N"}${mode(v.bVec)}${v.c4 ? "_c4" : ""}${v.bias ? "_bias" : ""}` +
    (v.split ? "_splitk" : "") + (v.sums === "none" ? "" : `_sum${v.sums === "rows" ? "r" : "c"}`);
}

/** Workgroups along x (columns of C) and y (rows of C) for an m x n output. */
export function tiledGrid(v: TiledVariant, m: number, n: number): [number, number] {
  return [Math.ceil(n / v.tile), Math.ceil(m / v.tile)];
}

/**
 * The variant for a call: the largest tile that still gives `workgroups` workgroups (a GPU with
 * fewer tiles in flight than it has cores idles; the profile's number is by design, pending
 * measurement), vec4 loads wherever alignment allows.
 */
export function chooseTiled(
  workgroups: number,
  a: { batch: number; m: number; n: number; k: number; transA: boolean; transB: boolean },
  aStride: number,
  bStride: number,
  bias: boolean,
  split = false,
  sums: TiledVariant["sums"] = "none",
): TiledVariant {
  const { batch, m, n, k, transA, transB } = a;
  const tiles = (t: number) => batch * Math.ceil(m / t) * Math.ceil(n / t);
  const tile = tiles(128) >= workgroups ? 128 : tiles(64) >= workgroups ? 64 : 32;
  return {
    tile,
    transA,
    transB,
    aVec: aStride % 4 === 0 && (transA ? m % 4 === 0 : k % 4 === 0),
    bVec: bStride % 4 === 0 && (transB ? k % 4 === 0 : n % 4 === 0),
    c4: n % 4 === 0,
    bias,
    split,
    sums,
  };
}

/**
 * WGSL of the quad fetch for one operand: `fn quadX(base, o, kk, kEnd) -> vec4<f32>`, the four
 * elements starting at (outer index o, k index kk) along the operand's contiguous dimension:
 * along k when it is stored [outer, k] (plain A, transposed B), along o when stored [k, outer]
 * (transposed A, plain B). Out-of-range elements are zero. A vec4 quad is all in or all out:
 * the contiguous size is a multiple of 4 and quads start at multiples of 4.
 */
function quadFn(x: "A" | "B", kMajor: boolean, vec: boolean): string {
  const dim = x === "A" ? "u.m" : "u.n";
  const at = kMajor ? `base + o * u.k + kk` : `base + kk * ${dim} + o`;
  const body = vec
    ? `if (o < ${dim} && kk < kEnd) { return ${x}[(${at}) / 4u]; }
  return vec4<f32>(0.0);`
    : `var q = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    ${
      kMajor
        ? `if (o < ${dim} && kk + i < kEnd) { q[i] = ${x}[${at} + i]; }`
        : `if (o + i < ${dim} && kk < kEnd) { q[i] = ${x}[${at} + i]; }`
    }
  }
  return q;`;
  return `fn quad${x}(base: u32, o: u32, kk: u32, kEnd: u32) -> vec4<f32> {
  ${body}
}`;
}

/**
 * WGSL for one variant; uniforms m, n, k, aStride, bStride, batch0 (and kSplit with `split`),
 * storage bindings A, B (read), C (read_write) and, with `bias`, Bias (read, [n]). Every thread
 * reaches every barrier (the k loop's bounds are workgroup-uniform, stores are masked).
 */
export function tiledKernelWgsl(v: TiledVariant): string {
  const T = v.tile, { R, TK } = TILE[v.tile];
  const W = T / R, NT = W * W, RQ = R / 4; // threads per edge and in all, quads per side
  const NQ = (T * TK) / 4 / NT; // quads of each panel every thread loads
  const BUF = TK * T; // floats per buffer of one operand
  // A quad number e < T·TK/4 of a panel -> its (o, kk) in the panel and its shared-memory stores.
  // kMajor operands (vec4 along k): o = e % T fastest, so a warp's 32 stores to As[kk][o] hit
  // 32 banks. Outer-contiguous operands (vec4 along o): a thread stores 4 consecutive words, and
  // the threads whose quads sit 32 words apart (same banks) would store into one bank at once;
  // each stores its four components in an order rotated by its address / 32: 32 banks per
  // store (for 32 four-byte banks), no padding needed.
  const panel = (x: "A" | "B", kMajor: boolean) => {
    const pos = kMajor
      ? `let o = e % ${T}u; let kk = 4u * (e / ${T}u);`
      : `let o = 4u * (e % ${T / 4}u); let kk = e / ${T / 4}u;`;
    const store = kMajor
      ? [0, 1, 2, 3].map((i) => `${x}s[off + (kk + ${i}u) * ${T}u + o] = q.${"xyzw"[i]};`)
      : [0, 1, 2, 3].map((i) =>
        `{ let c = (${i}u + ((kk * ${T}u + o) >> 5u)) & 3u; ${x}s[off + kk * ${T}u + o + c] = q[c]; }`
      );
    return { pos, store: store.join("\n      ") };
  };
  const kmA = !v.transA, kmB = v.transB;
  const pa = panel("A", kmA), pb = panel("B", kmB);
  const load = (x: "A" | "B", k0: string) => {
    const p = x === "A" ? pa : pb,
      o0 = x === "A" ? "r0" : "c0",
      base = x === "A" ? "aBase" : "bBase";
    return Array.from(
      { length: NQ },
      (_, s) =>
        `{ let e = tid + ${
          s * NT
        }u; ${p.pos} p${x}${s} = quad${x}(${base}, ${o0} + o, ${k0} + kk, kEnd); }`,
    ).join("\n    ");
  };
  const store = (x: "A" | "B", buf: string) => {
    const p = x === "A" ? pa : pb;
    return Array.from(
      { length: NQ },
      (_, s) =>
        `{ let e = tid + ${s * NT}u; ${p.pos} let off = (${buf}) * ${BUF}u; let q = p${x}${s};
      ${p.store} }`,
    ).join("\n    ");
  };
  // Thread (x, y) owns rows 4(y + qa·W) + j and columns 4(x + h·W) + 0..3, qa, h < RQ.
  const quads = (x: "A" | "B", id: string) =>
    Array.from({ length: RQ }, (_, q) => {
      const i = `off + kk * ${T}u + 4u * (${id} + ${q * W}u)`;
      return `let ${x.toLowerCase()}${q} = vec4<f32>(${x}s[${i}], ${x}s[${i} + 1u], ` +
        `${x}s[${i} + 2u], ${x}s[${i} + 3u]);`;
    }).join("\n      ");
  const fmas: string[] = [];
  const stores: string[] = [];
  for (let qa = 0; qa < RQ; qa++) {
    for (let j = 0; j < 4; j++) {
      for (let h = 0; h < RQ; h++) {
        const i = (qa * 4 + j) * RQ + h;
        fmas.push(`acc${i} = fma(vec4<f32>(a${qa}.${"xyzw"[j]}), b${h}, acc${i});`);
        const row = `r0 + 4u * (lid.y + ${qa * W}u) + ${j}u`;
        const col = `c0 + 4u * (lid.x + ${h * W}u)`;
        const bias4 = v.bias
          ? " + vec4<f32>(Bias[col], Bias[col + 1u], Bias[col + 2u], Bias[col + 3u])"
          : "";
        stores.push(
          `{ let row = ${row}; let col = ${col};
    if (row < u.m) {
      ${
            v.c4
              ? `if (col < u.n) { C[(cBase + row * u.n + col) / 4u] = acc${i}${bias4}; }`
              : `for (var c = 0u; c < 4u; c++) {
        if (col + c < u.n) { C[cBase + row * u.n + col + c] = acc${i}[c]${
                v.bias ? " + Bias[col + c]" : ""
              }; }
      }`
          }
    } }`,
        );
      }
    }
  }
  // Sums: every thread adds the quads it reads (thread row 0 keeps op(B)'s columns, thread
  // column 0 op(A)'s rows); only the first workgroup row / column stores them.
  const sums = v.sums !== "none", rowSums = v.sums === "rows";
  const sumVars = Array.from({ length: sums ? RQ : 0 }, (_, q) => `s${q}`);
  const sumAdds = sumVars.map((x, q) => `${x} += ${rowSums ? "a" : "b"}${q};`);
  const sumStores = sumVars.map((x, q) => {
    const at = rowSums ? `r0 + 4u * (lid.y + ${q * W}u)` : `c0 + 4u * (lid.x + ${q * W}u)`;
    const lim = rowSums ? "u.m" : "u.n";
    return `{ let at = ${at};
    ${
      v.c4
        ? `if (at < ${lim}) { C[(cBase + u.sOff + at) / 4u] = ${x}; }`
        : `for (var c = 0u; c < 4u; c++) { if (at + c < ${lim}) { C[cBase + u.sOff + at + c] = ${x}[c]; } }`
    } }`;
  });
  const sumStore = sums
    ? `if (${rowSums ? "wg.x == 0u && lid.x == 0u" : "wg.y == 0u && lid.y == 0u"}) {
    ${sumStores.join("\n    ")}
  }`
    : "";
  const elt = (vec: boolean) => (vec ? "vec4<f32>" : "f32");
  return `struct U { m: u32, n: u32, k: u32, aStride: u32, bStride: u32, batch0: u32${
    v.split ? ", kSplit: u32" : ""
  }${sums ? ", cStride: u32, sOff: u32" : ""} }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<${elt(v.aVec)}>;
@group(0) @binding(2) var<storage, read> B: array<${elt(v.bVec)}>;
@group(0) @binding(3) var<storage, read_write> C: array<${elt(v.c4)}>;
${v.bias ? "@group(0) @binding(4) var<storage, read> Bias: array<f32>;" : ""}

// Two k-major buffers per operand: As[buf·TK·T + kk·T + row]. Scalar arrays: several invocations
// writing components of one workgroup vec4 race (WGSL treats a component store as a store to
// the whole vector; nondeterministic on Metal and D3D12).
var<workgroup> As: array<f32, ${2 * BUF}>;
var<workgroup> Bs: array<f32, ${2 * BUF}>;

${quadFn("A", kmA, v.aVec)}

${quadFn("B", kmB, v.bVec)}

@compute @workgroup_size(${W}, ${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.y * ${W}u + lid.x;
  let bt = wg.z + u.batch0;
  let aBase = bt * u.aStride;
  let bBase = bt * u.bStride;
  ${
    v.split
      ? `// Slice bt of k (strides are 0: one matrix, indexed in place).
  let kBegin = bt * u.kSplit;
  let kEnd = min(u.k, kBegin + u.kSplit);`
      : `let kBegin = 0u;
  let kEnd = u.k;`
  }
  let r0 = wg.y * ${T}u;
  let c0 = wg.x * ${T}u;
  ${Array.from({ length: R * RQ }, (_, i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  ${sumVars.map((x) => `var ${x} = vec4<f32>(0.0);`).join("\n  ")}
  ${
    Array.from({ length: NQ }, (_, s) => `var pA${s}: vec4<f32>; var pB${s}: vec4<f32>;`).join(
      "\n  ",
    )
  }
  ${load("A", "kBegin")}
  ${load("B", "kBegin")}
  ${store("A", "0u")}
  ${store("B", "0u")}
  workgroupBarrier();
  var cur = 0u;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${TK}u) {
    let next = k0 + ${TK}u < kEnd;
    // Issue the next tile's global loads first; their latency hides behind this tile's FMAs.
    if (next) {
    ${load("A", `k0 + ${TK}u`)}
    ${load("B", `k0 + ${TK}u`)}
    }
    let off = cur * ${BUF}u;
    for (var kk = 0u; kk < ${TK}u; kk++) {
      ${quads("A", "lid.y")}
      ${quads("B", "lid.x")}
      ${fmas.join("\n      ")}
      ${sumAdds.join("\n      ")}
    }
    // The other buffer was last read before the previous barrier: safe to overwrite.
    if (next) {
    ${store("A", "1u - cur")}
    ${store("B", "1u - cur")}
    }
    workgroupBarrier();
    cur = 1u - cur;
  }
  let cBase = bt * ${sums ? "u.cStride" : "u.m * u.n"};
  ${stores.join("\n  ")}
  ${sumStore}
}
`;
}
