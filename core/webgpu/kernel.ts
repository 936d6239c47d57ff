/**
 * A compute kernel and what the runtime reads off its WGSL. Every kernel has the entry point
 * `main`, its uniforms as `struct U` of 4-byte scalars (u32, i32, f32) bound as
 * `@group(0) @binding(0) var<uniform> u: U`, and named storage buffers or textures at the other
 * bindings. Dispatches pass buffers and uniforms by those names (Runtime.dispatch), so a kernel's
 * WGSL and its call sites cannot drift apart: a missing, extra or misspelt name is an error
 * naming the kernel, and a field's WGSL type decides how its value is written.
 */

export interface Kernel {
  /** Identifies the WGSL: it keys the WGSL, layout, pipeline and bind-group caches. */
  readonly name: string;
  readonly wgsl: string;
}

const kernels = new Map<string, Kernel>();

/** The kernel called `name`, its WGSL generated on first use (one cache for every kernel file). */
export function kernel(name: string, wgsl: () => string): Kernel {
  let k = kernels.get(name);
  if (!k) kernels.set(name, k = { name, wgsl: wgsl() });
  return k;
}

export type BindingKind = "read" | "read_write" | "texture";

export interface KernelLayout {
  /** Buffers and textures in binding order (binding = index + 1). */
  readonly bindings: readonly { readonly name: string; readonly kind: BindingKind }[];
  /** Fields of `struct U` in order, one 4-byte word each. */
  readonly uniforms: readonly { readonly name: string; readonly type: "u32" | "i32" | "f32" }[];
}

const BINDING_RE =
  /@group\(0\)\s*@binding\((\d+)\)\s*var(?:<storage,\s*(read_write|read)>\s*(\w+)|\s+(\w+)\s*:\s*texture_2d)/g;

/** The bindings and uniform fields declared by a kernel's WGSL (throws on a malformed layout). */
export function parseLayout(k: Kernel): KernelLayout {
  const found: { binding: number; name: string; kind: BindingKind }[] = [];
  for (const m of k.wgsl.matchAll(BINDING_RE)) {
    const kind: BindingKind = m[2] === undefined ? "texture" : m[2] as BindingKind;
    found.push({ binding: Number(m[1]), name: m[3] ?? m[4], kind });
  }
  found.sort((a, b) => a.binding - b.binding);
  found.forEach((b, i) => {
    if (b.binding !== i + 1) throw new Error(`${k.name}: bindings must be 1, 2, ... in order`);
  });
  if (!/@group\(0\)\s*@binding\(0\)\s*var<uniform>\s*u\s*:\s*U\s*;/.test(k.wgsl)) {
    throw new Error(`${k.name}: no \`var<uniform> u: U\` at binding 0`);
  }
  const struct = /struct U\s*\{([^}]*)\}/.exec(k.wgsl);
  if (!struct) throw new Error(`${k.name}: no uniform struct U`);
  const uniforms = struct[1].split(",").map((f) => f.trim()).filter(Boolean).map((f) => {
    const m = /^(\w+)\s*:\s*(u32|i32|f32)$/.exec(f);
    if (!m) throw new Error(`${k.name}: uniform field "${f}" is not a 4-byte scalar`);
    return { name: m[1], type: m[2] as "u32" | "i32" | "f32" };
  });
  checkWorkgroupVectors(k);
  return { bindings: found.map(({ name, kind }) => ({ name, kind })), uniforms };
}

/**
 * Rejects a store into one component of a workgroup vector (`tile[i][c] = ...`, `tile[i].x =
 * ...`). WGSL treats it as a store to the whole vector, so invocations writing different
 * components of one vector race: nondeterministic results on Metal and D3D12 (gpuweb#2112,
 * wgpu#6096), invisible on llvmpipe. Stage scalars instead, or whole vectors.
 */
function checkWorkgroupVectors(k: Kernel): void {
  for (const m of k.wgsl.matchAll(/var<workgroup>\s+(\w+)\s*:\s*array<\s*vec/g)) {
    const store = new RegExp(
      `(?<![\\w.])${m[1]}\\[[^;=]*\\](\\[[^\\]]*\\]|\\.[xyzw])\\s*[-+*/]?=(?!=)`,
    );
    if (store.test(k.wgsl)) {
      throw new Error(`${k.name}: writes components of the workgroup vector "${m[1]}"`);
    }
  }
}
