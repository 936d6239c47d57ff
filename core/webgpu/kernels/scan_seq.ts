/**
 * The sequential ("software") family's forward, and how its kernels (this one and
 * scan_bwd_seq.ts) give channels to invocations. Shared WGSL pieces are in scan_fwd.ts.
 */
import type { Kernel } from "../kernel.ts";
import { bcBinding, GROUP4, header, loadBC, storage } from "./scan_fwd.ts";

/** Invocations per workgroup of the sequential kernels. */
export const SEQ_WG = 32;

/**
 * How the sequential kernels give channels to invocations. `v4` (D % 4 == 0): invocation i owns
 * channels 4i..4i+3, so each [B, L, D] load or store is one vec4 word (on llvmpipe every storage
 * access is a per-lane loop, so this is 4× fewer of them). Otherwise channel j of invocation i in
 * workgroup w is w·WG·cpi + j·WG + i. Either way, each B_t, C_t texel fetch (the same for every
 * channel of a batch row) serves all of an invocation's channels.
 */
export interface SeqLanes {
  readonly v4: boolean;
  readonly cpi: number;
}

export function seqLanes(D: number, scalarCpi: number): SeqLanes {
  return D % 4 === 0 ? { v4: true, cpi: 4 } : { v4: false, cpi: scalarCpi };
}

/** Workgroups along x for the channels (y is the batch row). */
export function seqGridX(D: number, l: SeqLanes): number {
  return Math.ceil(D / (SEQ_WG * l.cpi));
}

export function seqName(l: SeqLanes): string {
  return l.v4 ? "v4" : `c${l.cpi}`;
}

/** Emits per-channel code (j = 0..cpi−1), joined. */
export function eachCh(l: SeqLanes, f: (j: number) => string): string {
  return Array.from({ length: l.cpi }, (_, j) => f(j)).join("\n");
}

/** Sets up dl0 (the first channel; returns past D), and per channel j: d{j} (clamped), live{j}. */
export function seqChannels(l: SeqLanes): string {
  const first = l.v4 ? `(wid.x * ${SEQ_WG}u + lid) * 4u` : `wid.x * ${SEQ_WG * l.cpi}u + lid`;
  const step = l.v4 ? 1 : SEQ_WG;
  return `
  let dl0 = ${first};
  if (dl0 >= u.D) { return; }
  ${
    eachCh(l, (j) => `
  let live${j} = dl0 + ${j * step}u < u.D;
  let d${j} = min(dl0 + ${j * step}u, u.D - 1u);`)
  }`;
}

/**
 * Loads of one row r = (b·L + t)·D of [B, L, D] tensors: `pre` emits the vec4 loads (v4), and
 * `get(j)` is channel j's value.
 */
export function rowLoad(l: SeqLanes, arr: string, name: string, r: string) {
  return {
    pre: l.v4 ? `let ${name}4 = ${arr}[(${r} + dl0) / 4u];` : "",
    get: (j: number) => (l.v4 ? `${name}4[${j}]` : `${arr}[${r} + d${j}]`),
  };
}

/** Stores channel values v(j) into row r (plus offset `off`) of a [B, L, D] tensor. */
export function rowStore(l: SeqLanes, arr: string, r: string, v: (j: number) => string): string {
  if (l.v4) return `${arr}[(${r} + dl0) / 4u] = vec4<f32>(${[0, 1, 2, 3].map(v).join(", ")});`;
  return eachCh(l, (j) => `if (live${j}) { ${arr}[${r} + d${j}] = ${v(j)}; }`);
}

/** Storage tag for a [B, L, D] binding ("name" or "name:v4", plus `extra` tags). */
export function rowTag(l: SeqLanes, name: string, extra = ""): string {
  return name + extra + (l.v4 ? ":v4" : "");
}

/**
 * Sequential variant: one invocation per (b, `l.cpi` channels) walks all L steps with each
 * channel's N states in a private array. No barriers, which is what llvmpipe wants. 4 adjacent
 * channels per invocation (vec4 words) against 1: 10.6 → 5.6 ms at 32×80×128×16, 82 → 42 ms at
 * 64×280×128×16 (llvmpipe on 2 vCPUs of a Xeon, interleaved, same bits); 8 channels (16 per
 * workgroup) was no faster than 1. Grid (seqGridX, B).
 */
export function fwdSeqKernel(N: number, hasZ: boolean, l: SeqLanes): Kernel {
  const each = (f: (j: number) => string) => eachCh(l, f);
  const x = rowLoad(l, "xs", "xq", "r"), dlr = rowLoad(l, "dl", "dlq", "r");
  const z = rowLoad(l, "zs", "zq", "r");
  const names = [rowTag(l, "xs"), rowTag(l, "dl"), bcBinding(N)];
  const outs = [...(hasZ ? [rowTag(l, "zs")] : []), rowTag(l, "outp", ":w"), "sv:w"];
  const wgsl = /* wgsl */ `${header(N)}
${storage([...names, ...outs])}
@compute @workgroup_size(${SEQ_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y;
  ${seqChannels(l)}
  ${
    each((j) => `
  var al${j}: array<vec4<f32>, NQ>;
  for (var n = 0u; n < N; n++) { al${j}[n / 4u][n % 4u] = sv[P_A() + d${j} * N + n] * LOG2E; }
  var h${j}: array<vec4<f32>, NQ>;
  let bi${j} = sv[d${j}];
  let dsk${j} = sv[P_D() + d${j}];`)
  }
  for (var c = 0u; c < u.nC; c++) {
    let hb = HS() + (b * u.nC + c) * N * u.D;
    ${
    each((j) => `
    if (live${j}) {
      for (var n = 0u; n < N; n++) { sv[hb + n * u.D + d${j}] = h${j}[n / 4u][n % 4u]; }
    }`)
  }
    let t0 = c * CH;
    let cnt = min(CH, u.L - t0);
    for (var k = 0u; k < cnt; k++) {
      let t = t0 + k;
      let r = (b * u.L + t) * u.D;
      let bo = (b * u.L + t) * 2u * N;
      ${x.pre}
      ${dlr.pre}
      ${
    each((j) => `
      let xv${j} = ${x.get(j)};
      let dt${j} = softplus_(${dlr.get(j)} + bi${j});
      let dtx${j} = dt${j} * xv${j};
      var y${j} = dsk${j} * xv${j};`)
  }
      for (var n4 = 0u; n4 < NP; n4 += 4u) {
        ${GROUP4}
        let bq = ${loadBC(N, "B", "bo")};
        let cq = ${loadBC(N, "C", "bo")};
        ${
    each((j) => `
        let hn${j} = exp2(dt${j} * al${j}[n4 / 4u]) * h${j}[n4 / 4u] + dtx${j} * bq;
        h${j}[n4 / 4u] = hn${j};
        y${j} += dot(cq, hn${j});`)
  }
      }
      ${
    hasZ
      ? `${z.pre}
${
        each((j) =>
          `      let zv${j} = ${z.get(j)};
      y${j} *= zv${j} * sigm(zv${j});`
        )
      }`
      : ""
  }
      ${rowStore(l, "outp", "r", (j) => `y${j}`)}
    }
  }
}`;
  return { name: `scan_fwd_seq_n${N}_z${+hasZ}_${seqName(l)}`, wgsl };
}
