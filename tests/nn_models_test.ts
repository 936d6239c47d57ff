/**
 * nn models on the CPU backend: parameter counts against the spec, names, init properties,
 * shapes, causality, gradients against finite differences, and that every model trains.
 */
import assert from "node:assert/strict";
import { backward, noGrad } from "../core/autograd.ts";
import { fromArray } from "../core/create.ts";
import { cpuBackend, setBackend } from "../core/device_select.ts";
import { mseLoss, mul, sum } from "../core/ops/mod.ts";
import { Rng } from "../core/rng.ts";
import { type Tensor, tidy } from "../core/tensor.ts";
import {
  Adam,
  assign,
  causalKernelConv,
  forwardFlops,
  type ICLModel,
  Init,
  layerPlan,
  makeModel,
  MambaMixer,
  type ModelConfig,
  resolveConfig,
  S4DKernel,
  trainingFlops,
} from "../nn/mod.ts";

setBackend(cpuBackend());

const base = { tokenDim: 20, outDim: 1 };
/** [label, config, expected count from spec §3 / §12]. */
const COUNTS: [string, ModelConfig, number][] = [
  ["GPT-2 256/12/8, 202 positions [G]", {
    ...base,
    arch: "transformer",
    dModel: 256,
    nLayer: 12,
    nHead: 8,
    maxLen: 202,
  }, 9_534_977],
  ["GPT-2 small 128/6/4", {
    ...base,
    arch: "transformer",
    dModel: 128,
    nLayer: 6,
    nHead: 4,
    maxLen: 202,
  }, 1_218_561],
  ["GPT-2 256/12/8 no PE [GZ]", {
    ...base,
    arch: "transformer",
    dModel: 256,
    nLayer: 12,
    nHead: 8,
    posEmb: false,
  }, 9_483_265],
  ["GPT-2 128/2/8 [MF]", {
    ...base,
    arch: "transformer",
    dModel: 128,
    nLayer: 2,
    nHead: 8,
    maxLen: 202,
  }, 425_473],
  // Parity: d = 10 tokens and 600 positions give the spec's 9,634,305.
  ["GPT-2 parity 256/12/8, d=10, 600 positions [MF]", {
    arch: "transformer",
    tokenDim: 10,
    outDim: 1,
    dModel: 256,
    nLayer: 12,
    nHead: 8,
    maxLen: 600,
  }, 9_634_305],
  ["Mamba 128×4 LayerNorm [MF]", { ...base, arch: "mamba", dModel: 128, nLayer: 4 }, 470_017],
  ["Mamba 256×24 RMSNorm [GZ]", {
    ...base,
    arch: "mamba",
    dModel: 256,
    nLayer: 24,
    norm: "rms",
  }, 10_518_273],
  [
    "Mamba 64×6 RMSNorm [GZ]",
    { ...base, arch: "mamba", dModel: 64, nLayer: 6, norm: "rms" },
    197_697,
  ],
  [
    "MambaFormer n_layer 4 E=128",
    { ...base, arch: "mambaformer", dModel: 128, nLayer: 4 },
    485_889,
  ],
  ["Standard Hybrid n_layer 4 E=128, 101 positions", {
    ...base,
    arch: "hybrid",
    dModel: 128,
    nLayer: 4,
    maxLen: 101,
  }, 382_081],
  ["S4-Mamba 128×4", { ...base, arch: "s4mamba", dModel: 128, nLayer: 4 }, 437_249],
  ["S4D 128×4 [MF s4d]", { ...base, arch: "s4", dModel: 128, nLayer: 4 }, 153_601],
  ["S4 435×24 post-norm [GZ]", {
    ...base,
    arch: "s4",
    dModel: 435,
    nLayer: 24,
    postNorm: true,
  }, 10_491_331],
  // Park's ablations, from the counts above: GPT-2 128/2/8 without its 202 × 128 positions
  // (425,473 − 25,856) plus one Mamba block (116,480) and its LayerNorm (256) ...
  ["GPT-2 128/2/8, no PE, Mamba first", {
    ...base,
    arch: "transformer",
    dModel: 128,
    nLayer: 2,
    nHead: 8,
    posEmb: false,
    mambaFirst: true,
  }, 516_353],
  // ... and Mamba 128×8 (470,017 + 4 × 116,736) with one mixer swapped for attention (66,048).
  ["Mamba 128×8 with a Standard Hybrid pair", {
    ...base,
    arch: "mamba",
    dModel: 128,
    nLayer: 8,
    nHead: 8,
    hybridMiddle: true,
  }, 886_529],
];

Deno.test("nn: parameter counts match the spec", () => {
  for (const [label, cfg, want] of COUNTS) {
    const m = makeModel(cfg);
    assert.equal(m.numParams(), want, label);
    m.dispose();
  }
});

/** Tiny configs of every architecture (odd sizes on purpose). */
const T_DIM = 5, T_OUT = 2;
const tiny = { tokenDim: T_DIM, outDim: T_OUT, dModel: 16, nLayer: 2 };
export const TINY: [string, ModelConfig][] = [
  ["transformer", { ...tiny, arch: "transformer", nHead: 2, maxLen: 16 }],
  ["mamba", { ...tiny, arch: "mamba", dState: 4 }],
  ["mamba-rms", { ...tiny, arch: "mamba", dState: 4, norm: "rms" }],
  ["s4", { ...tiny, arch: "s4", dState: 4 }],
  ["s4-postnorm", { ...tiny, arch: "s4", dState: 4, postNorm: true }],
  ["s4mamba", { ...tiny, arch: "s4mamba", dState: 4 }],
  ["mambaformer", { ...tiny, arch: "mambaformer", nHead: 2, dState: 4 }],
  ["hybrid", { ...tiny, arch: "hybrid", nHead: 2, dState: 4, maxLen: 16 }],
  [
    "transformer-mamba-first",
    { ...tiny, arch: "transformer", nHead: 2, posEmb: false, mambaFirst: true, dState: 4 },
  ],
  ["mamba-hybrid-middle", { ...tiny, arch: "mamba", nHead: 2, dState: 4, hybridMiddle: true }],
];

function tokens(B: number, T: number, seed: number, dim = T_DIM): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(B * T * dim));
}

Deno.test("nn: the layer plan of every architecture and ablation", () => {
  const plan = (c: Partial<ModelConfig>) =>
    layerPlan(resolveConfig({ ...base, dModel: 16, nHead: 2, nLayer: 4, ...c })).join(",");
  assert.equal(plan({ arch: "mambaformer" }), "mamba,attn,mamba,attn,mamba");
  assert.equal(plan({ arch: "hybrid", maxLen: 8 }), "attn,mamba,attn,mamba");
  assert.equal(
    plan({ arch: "transformer", posEmb: false, mambaFirst: true }),
    "mamba,gpt2,gpt2,gpt2,gpt2",
  );
  assert.equal(
    plan({ arch: "mamba", nLayer: 8, hybridMiddle: true }),
    "mamba,mamba,mamba,attn,mamba,mamba,mamba,mamba",
  );
  assert.equal(plan({ arch: "mamba", nLayer: 2, hybridMiddle: true }), "attn,mamba");
  assert.throws(
    () => resolveConfig({ ...base, arch: "mamba", dModel: 16, nLayer: 2, mambaFirst: true }),
    /mambaFirst/,
  );
  assert.throws(() => plan({ arch: "mamba", nLayer: 1, hybridMiddle: true }), /nLayer/);
});

Deno.test("nn: state_dict names follow the reference", () => {
  const names = (c: ModelConfig) => makeModel(c).namedParameters().map(([n]) => n);
  const mamba = names({ ...base, arch: "mamba", dModel: 32, nLayer: 4 });
  for (
    const n of [
      "_read_in.weight",
      "_read_in.bias",
      "_backbone.layers.3.mixer.in_proj.weight",
      "_backbone.layers.0.mixer.conv1d.weight",
      "_backbone.layers.0.mixer.dt_proj.bias",
      "_backbone.layers.0.mixer.A_log",
      "_backbone.layers.0.norm.bias",
      "_backbone.norm_f.weight",
      "_read_out.weight",
    ]
  ) assert.ok(mamba.includes(n), n);
  const gpt = names({ ...base, arch: "transformer", dModel: 32, nLayer: 2, nHead: 4, maxLen: 8 });
  for (
    const n of [
      "_backbone.wpe.weight",
      "_backbone.h.1.attn.c_attn.weight",
      "_backbone.h.0.mlp.c_proj.bias",
      "_backbone.ln_f.weight",
    ]
  ) assert.ok(gpt.includes(n), n);
  const mf = names({ ...base, arch: "mambaformer", dModel: 32, nLayer: 4 });
  // M, A, M, A, M
  assert.ok(mf.includes("_backbone.layers.0.mixer.A_log"));
  assert.ok(mf.includes("_backbone.layers.1.mixer.c_attn.weight"));
  assert.ok(mf.includes("_backbone.layers.4.mixer.A_log"));
  assert.ok(!mf.some((n) => n.includes("layers.5")));
  const hy = names({ ...base, arch: "hybrid", dModel: 32, nLayer: 4, maxLen: 8 });
  assert.ok(hy.includes("wpe.weight") && hy.includes("_backbone.layers.0.mixer.c_attn.weight"));
  assert.ok(hy.includes("_backbone.layers.3.mixer.A_log"));
  const s4m = names({ ...base, arch: "s4mamba", dModel: 32, nLayer: 1 });
  assert.ok(s4m.includes("_backbone.layers.0.mixer.S4DMamba.kernel.log_A_real"));
  const s4 = names({ ...base, arch: "s4", dModel: 32, nLayer: 1 });
  assert.ok(s4.includes("_backbone.layers.0.mixer.s4.output_linear.0.weight"));
});

Deno.test("nn: same seed gives the same initial weights, another seed does not", async () => {
  for (const [label, cfg] of TINY) {
    const a = makeModel(cfg, { seed: 5 }), b = makeModel(cfg, { seed: 5 });
    const c = makeModel(cfg, { seed: 6 });
    const pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
    let differs = false;
    for (let i = 0; i < pa.length; i++) {
      const [x, y, z] = [await pa[i].floats(), await pb[i].floats(), await pc[i].floats()];
      assert.deepEqual(x, y, `${label}: ${pa[i].name}`);
      if (x.some((v, j) => v !== z[j])) differs = true;
    }
    assert.ok(differs, label);
    [a, b, c].forEach((m) => m.dispose());
  }
});

Deno.test("nn: Mamba init follows mamba-ssm", async () => {
  const nLayer = 3;
  const m = new MambaMixer(new Init(new Rng(1)), 40, { nLayer });
  const bias = await m.dt_proj.bias!.floats();
  for (const b of bias) {
    const dt = Math.log1p(Math.exp(b));
    assert.ok(dt >= 0.001 * 0.999 && dt <= 0.1 * 1.001, `softplus(b_dt) = ${dt}`);
  }
  const aLog = await m.A_log.floats();
  for (let i = 0; i < aLog.length; i++) {
    assert.ok(Math.abs(Math.exp(aLog[i]) - (1 + (i % 16))) < 1e-4);
  }
  assert.ok((await m.D.floats()).every((v) => v === 1));
  const bound = 1 / Math.sqrt(m.dInner) / Math.sqrt(nLayer);
  const w = await m.out_proj.weight.floats();
  assert.ok(w.every((v) => Math.abs(v) <= bound * (1 + 1e-6)));
  assert.ok(w.some((v) => Math.abs(v) > 0.8 * bound)); // really rescaled, not shrunk further
  const dtw = await m.dt_proj.weight.floats(), r = 1 / Math.sqrt(m.dtRank);
  assert.ok(dtw.every((v) => Math.abs(v) <= r) && dtw.some((v) => Math.abs(v) > 0.8 * r));
  m.dispose();
});

async function std(t: Tensor): Promise<number> {
  const d = await t.floats();
  const mean = d.reduce((a, b) => a + b, 0) / d.length;
  return Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
}

Deno.test("nn: GPT-2 and hybrid inits", async () => {
  const g = makeModel({
    ...base,
    arch: "transformer",
    dModel: 64,
    nLayer: 8,
    nHead: 4,
    maxLen: 50,
  });
  const p = Object.fromEntries(g.namedParameters());
  assert.ok(Math.abs(await std(p["_backbone.h.0.attn.c_attn.weight"]) - 0.02) < 0.001);
  assert.ok(Math.abs(await std(p["_backbone.h.0.mlp.c_proj.weight"]) - 0.02 / 4) < 0.0005);
  assert.ok(Math.abs(await std(p["_backbone.h.0.attn.c_proj.weight"]) - 0.02 / 4) < 0.0005);
  assert.ok(Math.abs(await std(p["_backbone.wpe.weight"]) - 0.02) < 0.002);
  assert.ok((await p["_backbone.h.0.attn.c_attn.bias"].floats()).every((v) => v === 0));
  // Read-in keeps PyTorch's default U(±1/√fan_in): std = 1/√(3·fan_in).
  assert.ok(Math.abs(await std(p["_read_in.weight"]) - 1 / Math.sqrt(60)) < 0.02);
  const h = makeModel({ ...base, arch: "hybrid", dModel: 64, nLayer: 2, maxLen: 50 });
  const q = Object.fromEntries(h.namedParameters());
  assert.ok(Math.abs(await std(q["wpe.weight"]) - 1) < 0.05);
  assert.ok((await q["_backbone.layers.0.mixer.c_proj.bias"].floats()).every((v) => v === 0));
  g.dispose();
  h.dispose();
});

Deno.test("nn: config errors name the bad field", () => {
  const ok = { arch: "mamba", dModel: 8, nLayer: 1, tokenDim: 3, outDim: 1 };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...ok, arch: "rnn" }, /arch/],
    [{ ...ok, dModel: 0 }, /dModel/],
    [{ ...ok, nLayers: 2 }, /nLayers/],
    [{ ...ok, arch: "transformer" }, /nHead/],
    [{ ...ok, arch: "transformer", nHead: 3 }, /nHead/],
    [{ ...ok, arch: "transformer", nHead: 2 }, /maxLen/],
    [{ ...ok, arch: "hybrid" }, /maxLen/],
    [{ ...ok, norm: "batch" }, /norm/],
    [{ ...ok, arch: "s4", dState: 5 }, /dState/],
    [{ ...ok, posEmb: false }, /posEmb/],
    [{ ...ok, dropout: 0.5 }, /dropout/],
    [{ ...ok, tokenDim: 2.5 }, /tokenDim/],
  ];
  for (const [c, re] of cases) assert.throws(() => resolveConfig(c), re, JSON.stringify(c));
  assert.equal(resolveConfig(ok).norm, "layer");
});

Deno.test("nn: every model maps [B, T, tokenDim] to [B, T, outDim] causally", async () => {
  const B = 3, T = 7;
  const x1 = tokens(B, T, 1);
  const x2 = x1.slice();
  for (let b = 0; b < B; b++) { // change only the last token of every sequence
    for (let k = 0; k < T_DIM; k++) x2[(b * T + T - 1) * T_DIM + k] += 1;
  }
  for (const [label, cfg] of TINY) {
    const m = makeModel(cfg, { seed: 2 }).eval();
    const [y1, y2] = tidy(() =>
      [x1, x2].map((x) => noGrad(() => m.forward(fromArray(x, [B, T, T_DIM]))))
    );
    assert.deepEqual(y1.shape, [B, T, T_OUT], label);
    const a = await y1.floats(), b = await y2.floats();
    for (let bi = 0; bi < B; bi++) {
      for (let t = 0; t < T; t++) {
        for (let o = 0; o < T_OUT; o++) {
          const i = (bi * T + t) * T_OUT + o;
          if (t < T - 1) {
            assert.ok(Math.abs(a[i] - b[i]) < 1e-5, `${label}: position ${t} saw the future`);
          }
        }
      }
    }
    assert.ok(
      a.some((v, i) => Math.abs(v - b[i]) > 1e-4),
      `${label}: last position ignores its input`,
    );
    [y1, y2].forEach((t) => t.dispose());
    m.dispose();
  }
});

Deno.test("nn: hidden states are exposed for probing", () => {
  const m = makeModel(TINY[6][1]); // mambaformer: M, A, M → read-in + 3 blocks
  const hidden: Tensor[] = [];
  tidy(() => {
    m.forward(fromArray(tokens(1, 4, 3), [1, 4, T_DIM]), hidden);
    assert.equal(hidden.length, 4);
    assert.deepEqual(hidden[3].shape, [1, 4, 16]);
  });
  m.dispose();
});

/** Loss L = Σ y ⊙ R for a fixed R, so every output contributes. */
function probeLoss(m: ICLModel, x: Float32Array, B: number, T: number, R: Float32Array): Tensor {
  const y = m.forward(fromArray(x, [B, T, T_DIM]));
  return sum(mul(y, fromArray(R, y.shape)));
}

Deno.test("nn: model gradients match finite differences", async () => {
  // Every tensor of every architecture is probed at 2 random entries. f32 central differences
  // with h = 1e-2: truncation O(h²) plus rounding ~1e-7·|L|/h ≈ 1e-4 for |L| ~ 10.
  const B = 2, T = 5, h = 1e-2;
  const x = tokens(B, T, 4);
  const R = new Rng(9).fillNormal(new Float32Array(B * T * T_OUT));
  const rng = new Rng(11);
  for (const [label, cfg] of TINY) {
    const m = makeModel(cfg, { seed: 3 }).eval();
    tidy(() => backward(probeLoss(m, x, B, T, R)));
    const evalAt = async () => {
      const l = tidy(() => noGrad(() => probeLoss(m, x, B, T, R)));
      const v = await l.item();
      l.dispose();
      return v;
    };
    for (const [name, p] of m.namedParameters()) {
      const g = await p.grad!.floats();
      const data = await p.floats();
      for (let k = 0; k < 2; k++) {
        const j = rng.int(p.size);
        const orig = data[j];
        data[j] = orig + h;
        assign(p, data);
        const lp = await evalAt();
        data[j] = orig - h;
        assign(p, data);
        const lm = await evalAt();
        data[j] = orig;
        assign(p, data);
        const num = (lp - lm) / (2 * h);
        assert.ok(
          Math.abs(g[j] - num) <= 3e-3 + 3e-2 * Math.abs(num),
          `${label} ${name}[${j}]: analytic ${g[j]} vs numeric ${num}`,
        );
      }
    }
    m.dispose();
  }
});

Deno.test("nn: S4D kernel and Toeplitz convolution match a direct complex computation", async () => {
  const H = 3, N = 6, L = 9, M = N / 2;
  const k = new S4DKernel(new Init(new Rng(4)), H, N);
  const K = await tidy(() => k.forward(L)).floats();
  const C = await k.C.floats(), logDt = await k.log_dt.floats();
  const lar = await k.log_A_real.floats(), ai = await k.A_imag.floats();
  for (let h = 0; h < H; h++) {
    const dt = Math.exp(logDt[h]);
    for (let l = 0; l < L; l++) {
      let acc = 0;
      for (let n = 0; n < M; n++) {
        const ar = -Math.exp(lar[h * M + n]), aim = ai[h * M + n];
        const [cr, ci] = [C[(h * M + n) * 2], C[(h * M + n) * 2 + 1]];
        // C·(exp(dtA) − 1)/A · exp(dtA·l), in f64
        const e = Math.exp(dt * ar);
        const er = e * Math.cos(dt * aim) - 1, ei = e * Math.sin(dt * aim);
        const den = ar * ar + aim * aim;
        const qr = (er * ar + ei * aim) / den, qi = (ei * ar - er * aim) / den;
        const pr = cr * qr - ci * qi, pi = cr * qi + ci * qr;
        const v = Math.exp(dt * ar * l);
        acc += pr * v * Math.cos(dt * aim * l) - pi * v * Math.sin(dt * aim * l);
      }
      assert.ok(Math.abs(K[h * L + l] - 2 * acc) < 1e-5, `K[${h}, ${l}]`);
    }
  }
  const B = 2, u = tokens(B, L, 5, H);
  const Kt = new Rng(6).fillNormal(new Float32Array(H * L));
  const y = await tidy(() => causalKernelConv(fromArray(u, [B, L, H]), fromArray(Kt, [H, L])))
    .floats();
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      for (let h = 0; h < H; h++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) acc += Kt[h * L + t - s] * u[(b * L + s) * H + h];
        assert.ok(Math.abs(y[(b * L + t) * H + h] - acc) < 1e-5);
      }
    }
  }
  k.dispose();
});

Deno.test("nn: every model trains on a tiny regression task", async () => {
  // A fixed batch whose targets are a fixed linear map of each token: any architecture can fit
  // it through read-in → residual stream → read-out, so 30 Adam steps must cut the loss.
  const B = 4, T = 6;
  const x = tokens(B, T, 7);
  const W = new Rng(8).fillNormal(new Float32Array(T_DIM * T_OUT));
  const yT = new Float32Array(B * T * T_OUT);
  for (let i = 0; i < B * T; i++) {
    for (let o = 0; o < T_OUT; o++) {
      for (let k = 0; k < T_DIM; k++) yT[i * T_OUT + o] += x[i * T_DIM + k] * W[k * T_OUT + o];
    }
  }
  for (const [label, cfg] of TINY) {
    const m = makeModel(cfg, { seed: 1 });
    const opt = new Adam(m.namedParameters(), { lr: 1e-2 });
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) {
      const loss = tidy(() => {
        const l = mseLoss(m.forward(fromArray(x, [B, T, T_DIM])), fromArray(yT, [B, T, T_OUT]));
        backward(l);
        return l;
      });
      losses.push(await loss.item());
      loss.dispose();
      opt.step();
      opt.zeroGrad();
    }
    const [first, last] = [losses[0], losses.at(-1)!];
    assert.ok(last < 0.7 * first, `${label}: loss ${first} → ${last}`);
    opt.dispose();
    m.dispose();
  }
});

Deno.test("nn: FLOP estimates agree with the weights they count", () => {
  const T = 11;
  for (const cfg of [TINY[0][1], TINY[1][1]]) {
    const m = makeModel(cfg);
    // Every 2-D weight except the position table is one matmul over T tokens: 2·T·size.
    const linear = m.namedParameters()
      .filter(([n, p]) => p.rank === 2 && n.endsWith(".weight") && !n.includes("wpe"))
      .reduce((s, [, p]) => s + p.size, 0);
    const f = forwardFlops(cfg, T);
    assert.equal(f.matmul, 2 * T * linear, cfg.arch);
    if (cfg.arch === "transformer") assert.equal(f.attention, 2 * 4 * T * T * 16);
    if (cfg.arch === "mamba") {
      assert.equal(f.scan, 2 * 9 * T * 32 * 4);
      assert.equal(f.conv, 2 * 2 * T * 32 * 4);
    }
    assert.equal(trainingFlops(cfg, T, 3), 9 * f.total);
    m.dispose();
  }
});
