/**
 * gather's index bounds: indices from the host are checked by the op on every backend (a
 * RangeError naming the index, its position and the bound); indices only a device holds gather
 * zeros and scatter nothing out of range, identically on the CPU and WebGPU kernels.
 */
import assert from "node:assert/strict";
import * as cpu from "../core/cpu/elementwise.ts";
import { fromArray, fromInts } from "../core/create.ts";
import { cpuBackend, webgpuBackend } from "../core/device_select.ts";
import * as op from "../core/ops/mod.ts";
import { gatherGpu, scatterAddGpu } from "../core/webgpu/kernels/gather.ts";
import { gpuTests } from "./gpu_runtimes.ts";
import type { Backend } from "../core/backend.ts";

const gpu = await webgpuBackend();
const backends: [string, Backend | null][] = [["cpu", cpuBackend()], ["webgpu", gpu]];

for (const [name, be] of backends) {
  Deno.test({
    name: `gather bounds: host indices out of range throw a RangeError (${name})`,
    ignore: be === null,
    fn: async () => {
      const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3], be!);
      for (const [idx, bad, pos] of [[[0, 3], 3, 1], [[-1, 0], -1, 0], [[2, 0, 7], 7, 2]]) {
        assert.throws(
          () => op.gather(x, fromInts(idx as number[], undefined, be!), 1),
          (e: Error) =>
            e instanceof RangeError &&
            e.message ===
              `gather: index ${bad} (position ${pos}) is out of range [0, 3) for axis 1 of f32[2, 3]`,
        );
      }
      // Along axis 0 the bound is 2; a reshaped index tensor keeps its host values.
      const idx2 = op.reshape(fromInts([0, 1, 2, 1], [2, 2], be!), [4]);
      assert.throws(() => op.gather(x, idx2, 0), /index 2 \(position 2\) is out of range \[0, 2\)/);
      // In range still works, and the caller mutating its array later changes nothing checked.
      const arr = Int32Array.from([2, 0]);
      const ok = fromInts(arr, undefined, be!);
      arr[0] = 99;
      assert.deepEqual([...await op.gather(x, ok, 1).data()], [3, 1, 6, 4]);
    },
  });
}

// Device-only indices (no host copy): the kernels must agree, zeros out of range.
gpuTests(
  "gather bounds: device-only out-of-range indices give zeros on CPU and WebGPU",
  async (rt) => {
    const [outer, axis, inner] = [2, 3, 4];
    const x = Float32Array.from({ length: outer * axis * inner }, (_, i) => i + 1);
    const idx = Int32Array.from([1, 3, -1, 0, 1 << 30, 2]);
    const nIdx = idx.length;
    const want = cpu.gatherCpu(x, idx, outer, axis, inner, nIdx);
    assert.ok(want.every(Number.isFinite), "CPU gather gives no NaN");
    assert.equal(want[1 * inner], 0, "index 3 gathers zeros");
    assert.equal(want[0], 5, "index 1 gathers row 1");
    const up = (d: Float32Array | Int32Array) => {
      const b = rt.alloc(d.byteLength);
      rt.write(b, d);
      return b;
    };
    const xb = up(x), ib = up(idx);
    const gb = gatherGpu(rt, xb, ib, outer, axis, inner, nIdx);
    const got = new Float32Array(await rt.read(gb, want.length * 4));
    assert.deepEqual([...got], [...want]);
    const dy = Float32Array.from({ length: outer * nIdx * inner }, (_, i) => i % 5 - 2);
    const dyb = up(dy);
    const wantS = cpu.scatterAddCpu(dy, idx, outer, axis, inner, nIdx);
    assert.ok(wantS.every(Number.isFinite));
    for (const mode of ["scan", "sorted"] as const) {
      const sb = scatterAddGpu(rt, dyb, ib, outer, axis, inner, nIdx, mode);
      const s = new Float32Array(await rt.read(sb, wantS.length * 4));
      assert.deepEqual([...s], [...wantS], `scatterAdd ${mode}`);
      rt.release(sb);
    }
    for (const b of [xb, ib, gb, dyb]) rt.release(b);
  },
);
