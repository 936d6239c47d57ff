/**
 * FLOP estimates per model and sequence length, for comparing architectures at equal training
 * compute (as the MambaFormer paper does) and for reporting utilisation.
 *
 * Convention (documented because papers differ):
 * - a multiply-add counts 2 FLOPs; matmuls [m, k]·[k, n] count 2·m·n·k;
 * - attention counts the dense T×T score and value products, 2·T²·E each per layer, although a
 *   causal kernel only needs about half (the same convention as nanoGPT's estimate_mfu);
 * - the selective scan counts 9·T·D·N (discretise, exp, state update, readout per state element:
 *   mamba-ssm's own flop counter uses 9·B·L·D·N); the depthwise conv 2·T·C·K;
 * - S4D counts its kernel generation (4·H·M·T for the complex Vandermonde sum) and the dense
 *   Toeplitz convolution as implemented (2·T²·H per sequence);
 * - norms, activations, residual adds, softmax and other elementwise work are ignored (they are
 *   O(T·E), small next to the matmuls);
 * - training ≈ 3 × forward (the backward costs about twice the forward).
 */
import { layerPlan, type ModelConfig, resolveConfig, type ResolvedConfig } from "./config.ts";

export interface FlopsBreakdown {
  /** Dense projections (read-in/out, qkv, MLP, Mamba projections, pointwise convs). */
  matmul: number;
  /** Attention T² terms (q·kᵀ and p·v). */
  attention: number;
  /** Selective-scan state terms, or the S4D kernel and Toeplitz convolution. */
  scan: number;
  /** Depthwise causal convolutions. */
  conv: number;
  total: number;
}

const lin = (T: number, i: number, o: number) => 2 * T * i * o;

function zero(): FlopsBreakdown {
  return { matmul: 0, attention: 0, scan: 0, conv: 0, total: 0 };
}

function addInto(a: FlopsBreakdown, b: Partial<FlopsBreakdown>): void {
  a.matmul += b.matmul ?? 0;
  a.attention += b.attention ?? 0;
  a.scan += b.scan ?? 0;
  a.conv += b.conv ?? 0;
}

function attentionLayer(T: number, E: number): Partial<FlopsBreakdown> {
  return { matmul: lin(T, E, 3 * E) + lin(T, E, E), attention: 4 * T * T * E };
}

function mambaLayer(T: number, c: ResolvedConfig): Partial<FlopsBreakdown> {
  const D = c.dModel, Di = c.expand * D, N = c.dState, R = c.dtRank;
  return {
    matmul: lin(T, D, 2 * Di) + lin(T, Di, R + 2 * N) + lin(T, R, Di) + lin(T, Di, D),
    conv: 2 * T * Di * c.dConv,
    scan: 9 * T * Di * N,
  };
}

function s4dConv(T: number, H: number, N: number): number {
  return 4 * H * (N / 2) * T + 2 * T * T * H;
}

/** Forward FLOPs for one sequence of `seqLen` tokens. */
export function forwardFlops(config: ModelConfig, seqLen: number): FlopsBreakdown {
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new Error(`forwardFlops: seqLen must be a positive integer, got ${seqLen}`);
  }
  const c = resolveConfig(config);
  const T = seqLen, E = c.dModel;
  const f = zero();
  addInto(f, { matmul: lin(T, c.tokenDim, E) + lin(T, E, c.outDim) });
  const Di = c.expand * E;
  for (const kind of layerPlan(c)) {
    switch (kind) {
      case "gpt2":
        addInto(f, attentionLayer(T, E));
        addInto(f, { matmul: lin(T, E, 4 * E) + lin(T, 4 * E, E) });
        break;
      case "attn":
        addInto(f, attentionLayer(T, E));
        break;
      case "mamba":
        addInto(f, mambaLayer(T, c));
        break;
      case "s4":
        addInto(f, { scan: s4dConv(T, E, c.dState), matmul: lin(T, E, 2 * E) });
        break;
      case "s4mamba":
        addInto(f, {
          matmul: lin(T, E, 2 * Di) + lin(T, Di, E),
          conv: 2 * T * Di * c.dConv,
          scan: s4dConv(T, Di, c.dState),
        });
        break;
    }
  }
  f.total = f.matmul + f.attention + f.scan + f.conv;
  return f;
}

/** Training FLOPs (forward + backward ≈ 3 × forward) for `batch` sequences of `seqLen`. */
export function trainingFlops(config: ModelConfig, seqLen: number, batch = 1): number {
  return 3 * batch * forwardFlops(config, seqLen).total;
}
