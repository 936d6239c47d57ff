/**
 * Fused primitives with hand-written backwards: layer/RMS norm, causal depthwise conv1d, the
 * selective scan and causal attention. Each checks shapes, calls one backend kernel, and wires
 * the backend's gradient kernel into autograd.
 */
import { backendOf, isGradEnabled } from "../autograd.ts";
import type { DeviceBuffer, ScanArgs, ScanInputs } from "../backend.ts";
import { fmt } from "../shape.ts";
import { fromArray } from "../create.ts";
import { Tensor } from "../tensor.ts";
import { add, mul } from "./elementwise.ts";
import { matmul, matmulT } from "./matmul.ts";
import { softmax } from "./nn_ops.ts";
import { concat } from "./shape_ops.ts";

function expectShape(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${op}: ${what} should be ${fmt(shape)}, got ${t.describe()}`);
  }
}

/** Autograd node for a kernel with several outputs of which only `out` is returned. */
function node(
  op: string,
  out: Tensor,
  inputs: (Tensor | null)[],
  backward: (dy: Tensor) => (Tensor | null)[],
): Tensor {
  const real = inputs.filter((t): t is Tensor => t !== null);
  if (isGradEnabled() && real.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = {
      op,
      inputs: real,
      backward: (dy) => {
        const gs = backward(dy);
        return inputs.map((t, i) => (t ? gs[i] : null)).filter((_, i) => inputs[i] !== null);
      },
    };
  }
  return out;
}

function wrap(like: Tensor, buf: DeviceBuffer, shape: readonly number[]): Tensor {
  return new Tensor(like.backend, buf, shape);
}

function normImpl(
  op: string,
  x: Tensor,
  w: Tensor | null,
  b: Tensor | null,
  eps: number,
  rms: boolean,
): Tensor {
  const be = backendOf(op, [x, ...(w ? [w] : []), ...(b ? [b] : [])]);
  const cols = x.shape[x.rank - 1], rows = x.size / cols;
  if (w) expectShape(op, "weight", w, [cols]);
  if (b) expectShape(op, "bias", b, [cols]);
  const { y, mean, rstd } = be.layerNorm(
    x.buf(op),
    w?.buf(op) ?? null,
    b?.buf(op) ?? null,
    rows,
    cols,
    eps,
    rms,
  );
  const out = wrap(x, y, x.shape);
  const meanT = wrap(x, mean, [rows]), rstdT = wrap(x, rstd, [rows]);
  return node(op, out, [x, w, b], (dy) => {
    const g = be.layerNormGrad(
      x.buf(op),
      w?.buf(op) ?? null,
      meanT.buf(op),
      rstdT.buf(op),
      dy.buf(op),
      rows,
      cols,
      rms,
    );
    return [wrap(x, g.dx, x.shape), wrap(x, g.dw, [cols]), wrap(x, g.db, [cols])];
  });
}

/** LayerNorm over the last axis (weight and bias optional). */
export function layerNorm(x: Tensor, w: Tensor | null, b: Tensor | null, eps = 1e-5): Tensor {
  return normImpl("layerNorm", x, w, b, eps, false);
}

/** RMSNorm over the last axis (weight only). */
export function rmsNorm(x: Tensor, w: Tensor | null, eps = 1e-5): Tensor {
  return normImpl("rmsNorm", x, w, null, eps, true);
}

/** Causal depthwise conv over time: x [B, L, C], w [C, K], bias [C]; left padding K−1. */
export function causalConv1d(x: Tensor, w: Tensor, bias: Tensor): Tensor {
  const be = backendOf("causalConv1d", [x, w, bias]);
  if (x.rank !== 3) throw new Error(`causalConv1d: x should be [B, L, C], got ${x.describe()}`);
  const [B, L, C] = x.shape;
  if (w.rank !== 2 || w.shape[0] !== C) {
    throw new Error(`causalConv1d: weight should be [${C}, K], got ${w.describe()}`);
  }
  expectShape("causalConv1d", "bias", bias, [C]);
  const K = w.shape[1];
  const out = wrap(x, be.conv1d(x.buf(), w.buf(), bias.buf(), B, L, C, K), x.shape);
  return node("causalConv1d", out, [x, w, bias], (dy) => {
    const g = be.conv1dGrad(x.buf(), w.buf(), dy.buf(), B, L, C, K);
    return [wrap(x, g.dx, x.shape), wrap(x, g.dw, w.shape), wrap(x, g.db, [C])];
  });
}

export interface SelectiveScanInputs {
  /** [B, L, D] */ x: Tensor;
  /** [B, L, D], before softplus */ delta: Tensor;
  /** [D] */ deltaBias: Tensor;
  /** [D, N], negative (−exp(A_log)) */ A: Tensor;
  /** [B, L, 2N]: B_t then C_t in each row, as Mamba's x_proj lays them out (or Bm and Cm) */
  BC?: Tensor;
  /** [B, L, N], with Cm instead of BC */ Bm?: Tensor;
  /** [B, L, N] */ Cm?: Tensor;
  /** [D] */ D: Tensor;
  /** [B, L, D] optional gate: out = y ⊙ silu(z) */ z?: Tensor;
}

/**
 * Mamba's selective scan: Δ = softplus(δ + bias), h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t x_t,
 * y_t = C_t·h_t + D x_t, out = y ⊙ silu(z). Never materialises the [B, L, D, N] states.
 */
export function selectiveScan(inp: SelectiveScanInputs): Tensor {
  const op = "selectiveScan";
  const { x, delta, deltaBias, A, D, z } = inp;
  const split = inp.Bm !== undefined || inp.Cm !== undefined;
  if (inp.BC ? split : !(inp.Bm && inp.Cm)) {
    throw new Error(`${op}: give either BC or both Bm and Cm`);
  }
  if (inp.Bm) expectShape(op, "B", inp.Bm, inp.Cm!.shape);
  const BC = inp.BC ?? concat([inp.Bm!, inp.Cm!], 2);
  const all = [x, delta, deltaBias, A, BC, D, ...(z ? [z] : [])];
  const be = backendOf(op, all);
  if (x.rank !== 3) throw new Error(`${op}: x should be [B, L, D], got ${x.describe()}`);
  const [batch, length, channels] = x.shape;
  if (A.rank !== 2) throw new Error(`${op}: A should be [D, N], got ${A.describe()}`);
  const state = A.shape[1];
  expectShape(op, "A", A, [channels, state]);
  expectShape(op, "delta", delta, x.shape);
  expectShape(op, "deltaBias", deltaBias, [channels]);
  expectShape(op, "BC", BC, [batch, length, 2 * state]);
  expectShape(op, "D", D, [channels]);
  if (z) expectShape(op, "z", z, x.shape);
  const args: ScanArgs = { batch, length, channels, state, hasZ: !!z };
  const bufs: ScanInputs = {
    x: x.buf(op),
    delta: delta.buf(op),
    deltaBias: deltaBias.buf(op),
    A: A.buf(op),
    BC: BC.buf(op),
    Dskip: D.buf(op),
    z: z?.buf(op),
  };
  const { out, saved } = be.selectiveScan(bufs, args);
  // Saved buffers are owned by tensors so that the step's scope frees them.
  const savedT = saved.map((s) => wrap(x, s, [s.bytes / 4]));
  const outT = wrap(x, out, x.shape);
  return node(op, outT, [x, delta, deltaBias, A, BC, D, z ?? null], (dy) => {
    const g = be.selectiveScanGrad(bufs, savedT.map((t) => t.buf(op)), dy.buf(op), args);
    return [
      wrap(x, g.dx, x.shape),
      wrap(x, g.dDelta, x.shape),
      wrap(x, g.dDeltaBias, [channels]),
      wrap(x, g.dA, A.shape),
      wrap(x, g.dBC, BC.shape),
      wrap(x, g.dDskip, [channels]),
      z && g.dz ? wrap(x, g.dz, x.shape) : null,
    ];
  });
}

/**
 * Causal multi-head softmax attention on q, k, v [B, H, T, dh] with scale 1/√dh by default.
 * Fused: the [T, T] scores are never stored; the backward recomputes them from the saved
 * log-sum-exp.
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, scale?: number): Tensor {
  const op = "causalAttention";
  const be = backendOf(op, [q, k, v]);
  if (q.rank !== 4) throw new Error(`${op}: q should be [B, H, T, dh], got ${q.describe()}`);
  expectShape(op, "k", k, q.shape);
  expectShape(op, "v", v, q.shape);
  const [batch, heads, length, headDim] = q.shape;
  const args = { batch, heads, length, headDim, scale: scale ?? 1 / Math.sqrt(headDim) };
  const { o, lse } = be.attention(q.buf(op), k.buf(op), v.buf(op), args);
  const oT = wrap(q, o, q.shape), lseT = wrap(q, lse, [batch, heads, length]);
  return node(op, oT, [q, k, v], (dy) => {
    const g = be.attentionGrad(
      q.buf(op),
      k.buf(op),
      v.buf(op),
      oT.buf(op),
      lseT.buf(op),
      dy.buf(op),
      args,
    );
    return [wrap(q, g.dq, q.shape), wrap(q, g.dk, q.shape), wrap(q, g.dv, q.shape)];
  });
}

/**
 * Causal multi-head attention straight from a fused qkv projection: qkv [B, T, 3, H, dh] (q, k,
 * v along axis 2, as GPT-2's c_attn lays them out) → o [B, T, H, dh] (ready for c_proj). The
 * same math as causalAttention on the split heads, without the copies that split the heads out
 * and merge them back (two transposes, three slices and their backward: 15 dispatches a layer).
 */
export function causalAttentionPacked(qkv: Tensor, scale?: number): Tensor {
  const op = "causalAttentionPacked";
  const be = backendOf(op, [qkv]);
  if (qkv.rank !== 5 || qkv.shape[2] !== 3) {
    throw new Error(`${op}: qkv should be [B, T, 3, H, dh], got ${qkv.describe()}`);
  }
  const [batch, length, , heads, headDim] = qkv.shape;
  const args = { batch, heads, length, headDim, scale: scale ?? 1 / Math.sqrt(headDim) };
  const { o, lse } = be.attentionPacked(qkv.buf(op), args);
  const oT = wrap(qkv, o, [batch, length, heads, headDim]),
    lseT = wrap(qkv, lse, [batch, heads, length]);
  return node(op, oT, [qkv], (dy) => [
    wrap(
      qkv,
      be.attentionPackedGrad(qkv.buf(op), oT.buf(op), lseT.buf(op), dy.buf(op), args),
      qkv.shape,
    ),
  ]);
}

/**
 * The same attention composed from primitive ops (matmul, additive causal mask, softmax,
 * matmul): the oracle for the fused kernel and the baseline it is measured against. It stores
 * the [B, H, T, T] scores, which the fused kernel never does.
 */
export function causalAttentionUnfused(q: Tensor, k: Tensor, v: Tensor, scale?: number): Tensor {
  const [, , T, dh] = q.shape;
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e30;
  const scores = add(
    mul(matmulT(q, k, false, true), scale ?? 1 / Math.sqrt(dh)),
    fromArray(mask, [T, T], q.backend),
  );
  return matmul(softmax(scores), v);
}

/**
 * One LSTM time step, fused (one kernel each way): gate pre-activations [B, 4H] in PyTorch's
 * order (i, f, g, o) and the previous state hc [B, 2H] (h then c per row; null: zero) → the
 * new hc [B, 2H], c = σ(f)·c_prev + σ(i)·tanh(g), h = σ(o)·tanh(c). The next step reads c from
 * hc itself; h is `slice(hc, 1, 0, H)`. Semantics and backward: core/cpu/lstm.ts.
 */
export function lstmCell(gates: Tensor, prev: Tensor | null): Tensor {
  const op = "lstmCell";
  const be = backendOf(op, prev ? [gates, prev] : [gates]);
  if (gates.rank !== 2 || gates.shape[1] % 4 !== 0) {
    throw new Error(`${op}: gates should be [B, 4H], got ${gates.describe()}`);
  }
  const [batch, four] = gates.shape, hidden = four / 4;
  if (prev) expectShape(op, "prev (h | c)", prev, [batch, 2 * hidden]);
  const out = wrap(gates, be.lstmCell(gates.buf(op), prev?.buf(op) ?? null, batch, hidden), [
    batch,
    2 * hidden,
  ]);
  return node(op, out, [gates, prev], (dy) => {
    const g = be.lstmCellGrad(gates.buf(op), prev?.buf(op) ?? null, dy.buf(op), batch, hidden);
    return [wrap(gates, g.dGates, gates.shape), g.dPrev && wrap(gates, g.dPrev, out.shape)];
  });
}
