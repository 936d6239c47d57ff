/**
 * The global gradient norm and PyTorch's clipping factor over many buffers in a few dispatches
 * (it used to take four to six per parameter tensor: 136 for the quick-preset Transformer).
 * Pass 1 binds up to seven gradients per dispatch; each invocation sums the squares of one chunk
 * of one of them into a partial. Pass 2, one invocation, adds the partials in order and writes
 * ‖g‖ and min(1, maxNorm / (‖g‖ + 1e-6)) into the two parts of one allocation. Deterministic: the
 * same partials in the same order on every run.
 */
import { kernel } from "../kernel.ts";
import { follows, type GpuBuffer, type Runtime } from "../runtime.ts";

const WG = 64;
/** Gradients per pass-1 dispatch (the eighth binding holds the partials). */
const PER_DISPATCH = 7;
/** Partials pass 2 sums serially at most (chunks grow with the parameter count). */
const MAX_PARTIALS = 8192;

const range = (n: number) => Array.from({ length: n }, (_, k) => k);

function partialKernel(count: number) {
  return kernel(`grad_norm_partial_${count}`, () => {
    const ks = range(count);
    const fields = ks.flatMap((k) => [`n${k}: u32`, `end${k}: u32`]);
    const sums = ks.map((k) =>
      `fn ss${k}(i0: u32, i1: u32) -> f32 {
  var s = 0.0;
  for (var i = i0; i < i1; i++) { let x = g${k}[i]; s += x * x; }
  return s;
}`
    ).join("\n");
    // Invocation t (partials base + t) sums chunk t − (previous ends) of the gradient it falls in.
    const pick = ks.map((k) => {
      const start = k === 0 ? "0u" : `u.end${k - 1}`;
      return `${k ? "else " : ""}if (t < u.end${k}) {
    let i0 = (t - ${start}) * u.chunk;
    s = ss${k}(i0, min(i0 + u.chunk, u.n${k}));
  }`;
    }).join(" ");
    return `struct U { chunk: u32, base: u32, ${fields.join(", ")} }
@group(0) @binding(0) var<uniform> u: U;
${ks.map((k) => `@group(0) @binding(${k + 1}) var<storage, read> g${k}: array<f32>;`).join("\n")}
@group(0) @binding(${count + 1}) var<storage, read_write> part: array<f32>;
${sums}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * ${WG}u;
  if (t >= u.end${count - 1}) { return; }
  var s = 0.0;
  ${pick}
  part[u.base + t] = s;
}`;
  });
}

const FINAL = kernel("grad_norm_final", () => `
struct U { parts: u32, maxNorm: f32, oScale: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < u.parts; i++) { s += part[i]; }
  let norm = sqrt(s);
  out[0] = norm;
  out[u.oScale] = select(1.0, min(1.0, u.maxNorm / (norm + 1e-6)), u.maxNorm > 0.0);
}
`);

/**
 * Runs of items that follow one another in a zero-padded pack (an optimizer's gradients) as
 * one item over their whole range: the padding adds zero squares.
 */
function merged(rt: Runtime, items: readonly { buf: GpuBuffer; n: number }[]) {
  const out: { buf: GpuBuffer; n: number }[] = [];
  let first: GpuBuffer | null = null, last: { buf: GpuBuffer; n: number } | null = null;
  const flush = () => {
    if (!first || !last) return;
    if (first === last.buf) out.push(last);
    else {
      const n = (last.buf.offset - first.offset) / 4 + last.n;
      out.push({ buf: rt.span(first, 4 * n), n });
    }
  };
  for (const it of items) {
    if (last && follows(last.buf, it.buf, rt.partAlign)) last = it;
    else {
      flush();
      first = it.buf;
      last = it;
    }
  }
  flush();
  return out;
}

/** [‖g‖₂, clipping factor] over the items' first n values, as two 1-element buffers. */
export function gradNormGpu(
  rt: Runtime,
  given: readonly { buf: GpuBuffer; n: number }[],
  maxNorm: number,
): [GpuBuffer, GpuBuffer] {
  const items = merged(rt, given);
  const total = items.reduce((s, it) => s + it.n, 0);
  const chunk = Math.max(256, Math.ceil(total / MAX_PARTIALS));
  const counts = items.map((it) => Math.ceil(it.n / chunk));
  const nParts = counts.reduce((s, c) => s + c, 0);
  const part = rt.alloc(Math.max(1, nParts) * 4);
  let base = 0;
  for (let i = 0; i < items.length; i += PER_DISPATCH) {
    const group = items.slice(i, i + PER_DISPATCH);
    const u: Record<string, number> = { chunk, base };
    const bufs: Record<string, GpuBuffer> = { part };
    let end = 0;
    group.forEach((it, k) => {
      end += counts[i + k];
      u[`n${k}`] = it.n;
      u[`end${k}`] = end;
      bufs[`g${k}`] = it.buf;
    });
    if (end > 0) rt.dispatch(partialKernel(group.length), bufs, u, rt.grid(Math.ceil(end / WG)));
    base += end;
  }
  const out = rt.allocParts([4, 4]);
  rt.dispatch(FINAL, { part, out: out.whole }, {
    parts: nParts,
    maxNorm,
    oScale: out.offsets[1],
  }, [1]);
  rt.release(part);
  return [out.parts[0], out.parts[1]];
}
