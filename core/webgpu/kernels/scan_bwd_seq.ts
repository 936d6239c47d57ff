/**
 * The sequential variant of the scan backward's main kernel (scan_bwd.ts describes the three
 * kernels): one invocation per (b, a few channels: SeqLanes) walks the chunks last to first. Each
 * B_t, C_t texel fetch (the same for every channel of a batch row) serves all of them, and is
 * kept in private arrays for the reverse pass (storage loads are per-lane loops on llvmpipe; a
 * private array indexed by the unrolled k is a register or a fixed stack slot). Per channel the
 * arithmetic and its order are those of one channel per invocation, so results are the same bits.
 * 4 adjacent channels (vec4 words) against 1: 19.9 → 16.0 ms at 32×80×128×16, 150 → 111 ms at
 * 64×280×128×16 (llvmpipe on 2 vCPUs of a Xeon, interleaved). What is left is arithmetic: 16
 * exp2 per element and about twice dB/dC's vector work per state.
 */
import type { Kernel } from "../kernel.ts";
import { bcBinding, gather4, GROUP4, header, loadBC, steps, storage } from "./scan_fwd.ts";
import {
  eachCh,
  rowLoad,
  rowStore,
  rowTag,
  SEQ_WG,
  seqChannels,
  type SeqLanes,
  seqName,
} from "./scan_seq.ts";
import { MAIN_OFFSETS } from "./scan_bwd.ts";

/** Channels per invocation of the sequential backward where D % 4 != 0 (else 4, vec4 words). */
export const BWD_CPI = 2;

/** Grid (seqGridX, B); partial rows = B. Channel layout: `SeqLanes`. */
export function bwdSeqKernel(N: number, hasZ: boolean, l: SeqLanes): Kernel {
  const each = (f: (j: number) => string) => eachCh(l, f);
  const rl = (arr: string) => rowLoad(l, arr, `${arr}q`, "r");
  const [dlr, xr, zr, dor] = [rl("dl"), rl("xs"), rl("zs"), rl("dout")];
  const pre = [dlr.pre, xr.pre, ...(hasZ ? [zr.pre] : []), dor.pre].join("\n      ");
  // Private arrays of the chunk, per channel (gx, gd, yc are accumulated over state groups).
  const decl = (j: number) => `
    var dtv${j}: array<f32, CH>;
    var pre${j}: array<f32, CH>;
    ${hasZ ? `var zk${j}: array<f32, CH>;\n    var dok${j}: array<f32, CH>;` : ""}
    var xv${j}: array<f32, CH>;
    var yb${j}: array<f32, CH>;
    var gx${j}: array<f32, CH>;
    var gd${j}: array<f32, CH>;
    var yc${j}: array<f32, CH>;
    // naga hoists function-scope vars out of loops without re-zeroing them: clear by hand
    for (var k = 0u; k < CH; k++) {
      gx${j}[k] = 0.0;
      gd${j}[k] = 0.0;
      yc${j}[k] = 0.0;
    }`;
  // One pass over the chunk's rows: each row's words are loaded once for all channels.
  const fill = (j: number) => {
    const ybar = hasZ
      ? `let zv${j} = ${zr.get(j)};\n      let dov${j} = ${dor.get(j)};\n      zk${j}[k] = zv${j};
      dok${j}[k] = dov${j};\n      let ybar${j} = dov${j} * zv${j} * sigm(zv${j});`
      : `let ybar${j} = ${dor.get(j)};`;
    return `
      let pv${j} = ${dlr.get(j)} + bi${j};
      ${ybar}
      pre${j}[k] = pv${j};
      dtv${j}[k] = softplus_(pv${j});
      xv${j}[k] = ${xr.get(j)};
      yb${j}[k] = ybar${j};`;
  };
  const load = `${each(decl)}
    ${steps(`\n      let r = (b * u.L + t0 + k) * u.D;\n      ${pre}\n${each(fill)}`)}`;
  const ins = [rowTag(l, "xs"), rowTag(l, "dl"), "sv", bcBinding(N)];
  const bindings = [...ins, ...(hasZ ? [rowTag(l, "zs")] : []), rowTag(l, "dout")];
  const wgsl = /* wgsl */ `${header(N, MAIN_OFFSETS)}
${storage([...bindings, rowTag(l, "go", ":w"), "wk:w"])}
@compute @workgroup_size(${SEQ_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y;
  ${seqChannels(l)}
  ${
    each((j) => `
  var al${j}: array<vec4<f32>, NQ>;
  for (var n = 0u; n < N; n++) { al${j}[n / 4u][n % 4u] = sv[P_A() + d${j} * N + n] * LOG2E; }
  let bi${j} = sv[d${j}];
  let dsk${j} = sv[P_D() + d${j}];
  var dA${j}: array<vec4<f32>, NQ>;
  var dDacc${j} = 0.0;
  var dbacc${j} = 0.0;
  var q${j}: array<vec4<f32>, NQ>;`)
  }
  for (var cc = 0u; cc < u.nC; cc++) {
    let c = u.nC - 1u - cc;
    let t0 = c * CH;
    let cnt = min(CH, u.L - t0);
    ${load}
    let hc = (b * u.nC + c) * N * u.D;
    for (var n4 = 0u; n4 < NP; n4 += 4u) {
      ${GROUP4}
      var bvs: array<vec4<f32>, CH>;
      var cvs: array<vec4<f32>, CH>;
      ${
    each((j) => `
      let al4${j} = al${j}[n4 / 4u];
      var qq${j} = q${j}[n4 / 4u];
      if (live${j}) {
        for (var m = 0u; m < 4u; m++) {
          if (n4 + m < N) { wk[hc + d${j} + (n4 + m) * u.D] = qq${j}[m]; }
        }
      }
      var av${j}: array<vec4<f32>, CH>;
      var ahv${j}: array<vec4<f32>, CH>;
      var h${j} = ${gather4("sv", `HS() + hc + d${j}`, " * u.D")} * okf;`)
  }
      ${
    steps(`
        let bo = (b * u.L + t0 + k) * 2u * N;
        let bv = ${loadBC(N, "B", "bo")};
        let cv = ${loadBC(N, "C", "bo")};
        bvs[k] = bv;
        cvs[k] = cv;
        ${
      each((j) => `
        let a${j} = exp2(dtv${j}[k] * al4${j});
        av${j}[k] = a${j};
        ahv${j}[k] = a${j} * h${j};
        h${j} = ahv${j}[k] + dtv${j}[k] * xv${j}[k] * bv;
        ${hasZ ? `yc${j}[k] += dot(cv, h${j});` : ""}`)
    }`)
  }
      ${
    each((j) => `
      var dan${j} = vec4<f32>(0.0);
      let an${j} = ${gather4("sv", `P_A() + d${j} * N`)} * okf;`)
  }
      ${
    steps(
      `
        let bv = bvs[k];
        let cv = cvs[k];
        ${
        each((j) => `
        let g${j} = cv * yb${j}[k] + qq${j};
        gx${j}[k] += dot(g${j}, bv);
        gd${j}[k] += dot(g${j}, bv * xv${j}[k] + an${j} * ahv${j}[k]);
        dan${j} += g${j} * (dtv${j}[k] * ahv${j}[k]);
        qq${j} = av${j}[k] * g${j};`)
      }`,
      true,
    )
  }
      ${
    each((j) => `
      q${j}[n4 / 4u] = qq${j};
      dA${j}[n4 / 4u] += dan${j};`)
  }
    }
    ${
    steps(`
      let r = (b * u.L + t0 + k) * u.D;
      ${
      each((j) => `
      let ddv${j} = gd${j}[k] * dsoftplus_(pre${j}[k]);
      dbacc${j} += ddv${j};
      dDacc${j} += yb${j}[k] * xv${j}[k];
      ${
        hasZ
          ? `let sz${j} = sigm(zk${j}[k]);
      let dz${j} = dok${j}[k] * (yc${j}[k] + dsk${j} * xv${j}[k]) * sz${j} *
        (1.0 + zk${j}[k] * (1.0 - sz${j}));`
          : ""
      }`)
    }
      ${rowStore(l, "go", "u.oDD + r", (j) => `ddv${j}`)}
      ${rowStore(l, "go", "r", (j) => `dsk${j} * yb${j}[k] + dtv${j}[k] * gx${j}[k]`)}
      ${hasZ ? rowStore(l, "go", "u.oDZ + r", (j) => `dz${j}`) : ""}`)
  }
  }
  let cols = u.D * N + 2u * u.D;
  let pr = u.oParts + b * cols;
  ${
    each((j) => `
  if (live${j}) {
    for (var n = 0u; n < N; n++) { wk[pr + d${j} * N + n] = dA${j}[n / 4u][n % 4u]; }
    wk[pr + u.D * N + d${j}] = dDacc${j};
    wk[pr + u.D * N + u.D + d${j}] = dbacc${j};
  }`)
  }
}`;
  return { name: `scan_bwd_seq_n${N}_z${+hasZ}_${seqName(l)}`, wgsl };
}
