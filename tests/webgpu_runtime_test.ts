/**
 * The WebGPU runtime's contracts: buffers and uniforms by name (a kernel's WGSL and its call
 * sites cannot drift apart), uniform words typed by the WGSL, packed allocations, the
 * read/write aliasing check, loud WebGPU errors, and the adapter line. Skipped without an
 * adapter.
 */
import assert from "node:assert/strict";
import { createGpuContext } from "../core/webgpu/device.ts";
import { type Kernel, parseLayout } from "../core/webgpu/kernel.ts";
import { Runtime } from "../core/webgpu/runtime.ts";
import { limited, rt } from "./gpu_runtimes.ts";

const COPY: Kernel = {
  name: "test_named_copy",
  wgsl: `struct U { n: u32, scale: f32, shift: i32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < u.n) { dst[gid.x] = src[gid.x] * u.scale + f32(u.shift); }
}`,
};

Deno.test("kernel layout: names and types read off the WGSL; malformed layouts rejected", () => {
  const l = parseLayout(COPY);
  assert.deepEqual(l.bindings, [{ name: "src", kind: "read" }, {
    name: "dst",
    kind: "read_write",
  }]);
  assert.deepEqual(l.uniforms.map((f) => `${f.name}:${f.type}`), [
    "n:u32",
    "scale:f32",
    "shift:i32",
  ]);
  const gap = { name: "gap", wgsl: COPY.wgsl.replace("@binding(2)", "@binding(3)") };
  assert.throws(() => parseLayout(gap), /gap: bindings must be 1, 2, \.\.\. in order/);
  const vec = { name: "vec", wgsl: COPY.wgsl.replace("shift: i32", "shift: vec2<f32>") };
  assert.throws(() => parseLayout(vec), /vec: uniform field "shift: vec2<f32>" is not a 4-byte/);
  // A component store into a workgroup vector races when several invocations make it.
  const race = {
    name: "race",
    wgsl: COPY.wgsl +
      `\nvar<workgroup> tile: array<vec4<f32>, 16>;\nfn f(i: u32) { tile[i / 4u][i % 4u] = 1.0; }`,
  };
  assert.throws(() => parseLayout(race), /race: writes components of the workgroup vector "tile"/);
  const whole = {
    name: "whole",
    wgsl: COPY.wgsl +
      `\nvar<workgroup> tile: array<vec4<f32>, 16>;\nfn f(i: u32) { tile[i] = vec4<f32>(1.0); }`,
  };
  assert.doesNotThrow(() => parseLayout(whole));
});

Deno.test({
  name: "runtime: buffers and uniforms by name, each uniform written as its WGSL type",
  ignore: !rt,
  fn: async () => {
    const r = rt!;
    const src = r.alloc(16), dst = r.alloc(16);
    r.write(src, Float32Array.of(1, 2, 3, 4));
    r.dispatch(COPY, { src, dst }, { n: 4, scale: 0.5, shift: -3 }, [1]);
    assert.deepEqual(new Float32Array(await r.read(dst, 16)), Float32Array.of(-2.5, -2, -1.5, -1));
    const u = { n: 4, scale: 1, shift: 0 };
    assert.throws(
      () => r.dispatch(COPY, { src }, u, [1]),
      /test_named_copy: no buffer for binding "dst"/,
    );
    assert.throws(
      () => r.dispatch(COPY, { src, dst, extra: src }, u, [1]),
      /test_named_copy: no binding named "extra"/,
    );
    assert.throws(
      () => r.dispatch(COPY, { src, dst }, { n: 4, scale: 1 }, [1]),
      /test_named_copy: no value for uniform "shift"/,
    );
    assert.throws(
      () => r.dispatch(COPY, { src, dst }, { ...u, shfit: 1 }, [1]),
      /test_named_copy: no uniform named "shfit"/,
    );
    r.release(src);
    r.release(dst);
  },
});

Deno.test({
  name: "runtime: parts of one packed allocation are buffers of their own; the last release frees",
  ignore: !limited,
  fn: async () => {
    const r = limited!; // WebGPU's default 256-byte binding alignment
    await r.sync();
    const before = r.bytesInUse;
    const p = r.allocParts([12, 1000, 4]);
    assert.deepEqual(p.offsets, [0, 64, 320]);
    assert.ok(p.parts.every((b) => b.buffer === p.whole.buffer));
    // Fill the parts through the whole (as a kernel writing several outputs does) ...
    const data = new Float32Array(330).map((_, i) => i);
    r.write(p.whole, data);
    // ... and read each through a kernel that binds only that part.
    for (const [i, n] of [[0, 3], [1, 250], [2, 1]]) {
      const out = r.alloc(4 * n);
      r.dispatch(COPY, { src: p.parts[i], dst: out }, { n, scale: 1, shift: 0 }, [
        Math.ceil(n / 64),
      ]);
      const got = new Float32Array(await r.read(out, 4 * n));
      assert.deepEqual(got, data.subarray(p.offsets[i], p.offsets[i] + n), `part ${i}`);
      r.release(out);
    }
    // A part read while its whole is written in the same dispatch is an error, not a race.
    assert.throws(
      () => r.dispatch(COPY, { src: p.parts[1], dst: p.whole }, { n: 1, scale: 1, shift: 0 }, [1]),
      /"src" shares a buffer with an output/,
    );
    for (const b of p.parts) r.release(b);
    assert.equal(r.bytesInUse, before);
  },
});

Deno.test({
  name: "runtime: a WebGPU error stops the run at the next read, naming the kernel",
  ignore: !rt,
  fn: async () => {
    // A device of its own: the error must not touch the shared one.
    const ctx = (await createGpuContext("default"))!;
    const r = new Runtime(ctx);
    const wide = {
      name: "test_too_wide",
      wgsl: COPY.wgsl.replace("@workgroup_size(64)", "@workgroup_size(1024)"),
    };
    const src = r.alloc(16), dst = r.alloc(16);
    r.dispatch(wide, { src, dst }, { n: 4, scale: 1, shift: 0 }, [1]);
    await assert.rejects(() => r.read(dst, 16), /WebGPU validation error.*test_too_wide/s);
    // The runtime goes on working after a reported error.
    r.dispatch(COPY, { src, dst }, { n: 4, scale: 1, shift: 0 }, [1]);
    await r.read(dst, 16);
    assert.equal(ctx.failure, null);
    ctx.device.destroy();
  },
});

Deno.test({
  name: "device: the adapter line names the API, the kernel family and the key limits",
  ignore: !rt,
  fn: () => {
    const d = rt!.ctx.description;
    assert.match(d, / via (Vulkan|OpenGL|Metal|D3D12|D3D12 or Vulkan|the browser's WebGPU) \(/);
    assert.match(d, /(software adapter, software|GPU) kernels/);
    assert.match(d, /\d+ of \d+ storage buffers per stage, \d+ MiB per binding/);
    assert.match(limited!.ctx.description, /WebGPU default limits: 8 of \d+ storage buffers/);
    // DENO_WEBGPU_BACKEND names the API when set.
    const env = Deno.env.get("DENO_WEBGPU_BACKEND");
    if (env === "gl") assert.equal(rt!.ctx.api, "OpenGL");
    if (env === "vulkan") assert.equal(rt!.ctx.api, "Vulkan");
  },
});
