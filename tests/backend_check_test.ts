/**
 * The first-step check of a WebGPU run against the CPU backend: agreement passes, a kernel that
 * is off (simulated by a loss that differs by backend) stops the run. Skipped without an adapter.
 */
import assert from "node:assert/strict";
import { cpuBackend, webgpuBackend } from "../core/device_select.ts";
import { mul } from "../core/ops/mod.ts";
import { checkAgainstCpu, reportCheck } from "../experiments/lib/backend_check.ts";
import { batchLoss } from "../experiments/lib/icl.ts";
import { makeModel, type ModelConfig } from "../nn/mod.ts";
import { SparseParity } from "../tasks/parity.ts";

const gpu = await webgpuBackend();
const cfg = { arch: "mamba", dModel: 12, nLayer: 2, dState: 5, tokenDim: 4, outDim: 1 };
const task = new SparseParity({ nDims: 4, nPoints: 6, k: 2 });

Deno.test({
  name: "backend check: the WebGPU model agrees with its CPU twin; a wrong kernel is caught",
  ignore: !gpu,
  fn: async () => {
    const model = makeModel(cfg as ModelConfig, { seed: 3, backend: gpu! });
    // A twin with other initial weights: the check copies the model's weights into it.
    const twin = makeModel(cfg as ModelConfig, { seed: 4, backend: cpuBackend() });
    const ok = await checkAgainstCpu(model, twin, task, gpu!);
    assert.ok(ok.ok && ok.worst.error < 1e-4, JSON.stringify(ok));
    assert.match(reportCheck("mamba", ok, "adapter"), /: ok$/);
    assert.ok(model.parameters().every((p) => !p.grad), "gradients are zeroed after the check");
    // 1% off on WebGPU only, as a miscompiled kernel would be (by much more, usually).
    const off = await checkAgainstCpu(model, twin, task, gpu!, (m, b, be) => {
      const l = batchLoss(m, b, task, be);
      return be === gpu ? mul(l, 1.01) : l;
    });
    assert.equal(off.ok, false);
    assert.ok(off.worst.error > 5e-3, JSON.stringify(off));
    assert.throws(() => reportCheck("mamba", off, "adapter"), /disagree with the CPU.*--no-check/s);
    model.dispose();
    twin.dispose();
  },
});
