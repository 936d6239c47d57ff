/**
 * The sequential variant of the scan backward's main kernel (scan_bwd.ts describes the three
 * kernels): one invocation per (b, BWD_CPI channels) walks the chunks last to first. Each B_t,
 * C_t texel fetch (the same for every channel of a batch row) serves BWD_CPI channels, and is
 * kept in private arrays for the reverse pass (storage loads are per-lane loops on llvmpipe; a
 * private array indexed by the unrolled k is a register or a fixed stack slot). Per channel the
 * arithmetic and its order are those of one channel per invocation, so results are the same bits.
 */
import type { Kernel } from "../kernel.ts";
import { gather4, GROUP4, header, loadBC, SEQ_WG, steps } from "./scan_fwd.ts";
import { MAIN_OFFSETS, mainBindings } from "./scan_bwd.ts";

/** Channels per invocation of the sequential backward. */
export const BWD_CPI = 2;

/**
 * Channel j of invocation i in workgroup w is w·WG·CPI + j·WG + i (WG = SEQ_WG). Grid
 * (⌈D/(WG·CPI)⌉, B); partial rows = B.
 */
export function bwdSeqKernel(N: number, hasZ: boolean): Kernel {
  const js = Array.from({ length: BWD_CPI }, (_, j) => j);
  const each = (f: (j: number) => string) => js.map(f).join("\n");
  const load = (j: number) => {
    const ybar = hasZ
      ? `let zv = zs[i];\n      let dov = dout[i];\n      zk${j}[k] = zv;\n      dok${j}[k] = dov;
      let ybar = dov * zv * sigm(zv);`
      : "let ybar = dout[i];";
    return `
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
    }
    ${
      steps(`
      let i = (b * u.L + t0 + k) * u.D + d${j};
      let pv = dl[i] + bi${j};
      let dt = softplus_(pv);
      ${ybar}
      pre${j}[k] = pv;
      dtv${j}[k] = dt;
      xv${j}[k] = xs[i];
      yb${j}[k] = ybar;`)
    }`;
  };
  const wgsl = /* wgsl */ `${header(N, MAIN_OFFSETS)}
${mainBindings(N, hasZ)}
@compute @workgroup_size(${SEQ_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let dl0 = wid.x * ${SEQ_WG * BWD_CPI}u + lid;
  let b = wid.y;
  if (dl0 >= u.D) { return; }
  ${
    each((j) => `
  let live${j} = dl0 + ${j * SEQ_WG}u < u.D;
  let d${j} = min(dl0 + ${j * SEQ_WG}u, u.D - 1u);
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
    ${each(load)}
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
    each((j) => `
    if (live${j}) {
      ${
      steps(`
        let i = (b * u.L + t0 + k) * u.D + d${j};
        let ddv = gd${j}[k] * dsoftplus_(pre${j}[k]);
        go[u.oDD + i] = ddv;
        go[i] = dsk${j} * yb${j}[k] + dtv${j}[k] * gx${j}[k];
        dbacc${j} += ddv;
        dDacc${j} += yb${j}[k] * xv${j}[k];
        ${
        hasZ
          ? `let zv = zk${j}[k];
        let sz = sigm(zv);
        go[u.oDZ + i] = dok${j}[k] * (yc${j}[k] + dsk${j} * xv${j}[k]) * sz * (1.0 + zv * (1.0 - sz));`
          : ""
      }`)
    }
    }`)
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
  return { name: `scan_bwd_seq_n${N}_z${+hasZ}`, wgsl };
}
