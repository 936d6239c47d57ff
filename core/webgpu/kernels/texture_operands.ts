/**
 * Serving read-only vec4 storage arrays from textures, for software adapters. llvmpipe compiles a
 * storage-buffer load into a loop over the vector lanes (exec-mask test, bounds check and one
 * insert per component) but a texel fetch into vector gather code, so kernels whose time goes
 * into loads run faster reading the same words through `textureLoad` (measured: the 32×32 matmul
 * 1.2–1.5×; the sequential selective scan, see scan.ts). Runtime.texture() lays the words out;
 * this rewrites a kernel to read them.
 */
import { type Kernel, TEX_W, TEX_W_LOG2 } from "../runtime.ts";

/** WGSL: vec4 word i of a Runtime.texture() (TEX_W texels per texture row). */
export const TEXEL_FN = `
fn texel(t: texture_2d<f32>, i: u32) -> vec4<f32> {
  return textureLoad(t, vec2<u32>(i & ${TEX_W - 1}u, i >> ${TEX_W_LOG2}u), 0);
}`;

/**
 * The kernel with each named `var<storage, read> NAME: array<vec4<f32>>` declared as a
 * texture_2d<f32> (same binding) and every `NAME[i]` read as `texel(NAME, i)`. Dispatch it with
 * GpuTextures made by Runtime.texture() at those bindings.
 */
export function texturize(kernel: Kernel, names: readonly string[]): Kernel {
  let wgsl = kernel.wgsl;
  for (const name of names) {
    const decl = new RegExp(
      `(@binding\\(\\d+\\)\\s*)var<storage,\\s*read>\\s+${name}\\s*:\\s*array<vec4<f32>>;`,
    );
    if (!decl.test(wgsl)) throw new Error(`texturize: ${kernel.name} has no vec4 array ${name}`);
    wgsl = replaceIndexing(wgsl.replace(decl, `$1var ${name}: texture_2d<f32>;`), name);
  }
  return { name: `${kernel.name}_tex`, wgsl: `${wgsl}\n${TEXEL_FN}\n` };
}

/** `name[expr]` → `texel(name, expr)`, with nested brackets inside expr. */
function replaceIndexing(wgsl: string, name: string): string {
  const start = new RegExp(`(?<![\\w.])${name}\\[`, "g");
  let out = "", from = 0;
  for (let m = start.exec(wgsl); m; m = start.exec(wgsl)) {
    let depth = 1, i = m.index + m[0].length;
    for (; depth > 0; i++) {
      if (i >= wgsl.length) throw new Error(`texturize: unbalanced ${name}[ in WGSL`);
      if (wgsl[i] === "[") depth++;
      else if (wgsl[i] === "]") depth--;
    }
    const inner = wgsl.slice(m.index + m[0].length, i - 1);
    out += wgsl.slice(from, m.index) + `texel(${name}, ${replaceIndexing(inner, name)})`;
    from = i;
    start.lastIndex = i;
  }
  return out + wgsl.slice(from);
}
