/** Causal multi-head self-attention with a fused qkv projection (GPT-2 / nanoGPT layout). */
import { causalAttention } from "../core/ops/fused.ts";
import { permute, reshape, slice } from "../core/ops/shape_ops.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Init } from "./init.ts";
import { Linear, type LinearInit } from "./layers.ts";
import { Module } from "./module.ts";

/**
 * c_attn: Linear(E, 3E) producing q, k, v (in that order along the feature axis, each split
 * into heads of E/H features); softmax(q·kᵀ/√dh + causal mask)·v per head; c_proj: Linear(E, E).
 * Weights are [out, in] (HF GPT-2's Conv1D stores the transpose).
 */
export class CausalSelfAttention extends Module {
  readonly c_attn: Linear;
  readonly c_proj: Linear;
  readonly headDim: number;

  constructor(
    init: Init,
    readonly dim: number,
    readonly heads: number,
    attnInit: LinearInit = {},
    projInit: LinearInit = attnInit,
  ) {
    super();
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
      throw new Error(`CausalSelfAttention: dModel ${dim} is not divisible by nHead ${heads}`);
    }
    this.headDim = dim / heads;
    this.c_attn = this.module(
      "c_attn",
      new Linear(init.fork("c_attn"), dim, 3 * dim, true, attnInit),
    );
    this.c_proj = this.module("c_proj", new Linear(init.fork("c_proj"), dim, dim, true, projInit));
  }

  /** x [B, T, E] → [B, T, E]. */
  forward(x: Tensor): Tensor {
    const [B, T] = x.shape;
    const H = this.heads, dh = this.headDim;
    const qkv = reshape(this.c_attn.forward(x), [B, T, 3, H, dh]);
    // One copy to [3, B, H, T, dh]; each of q, k, v is then a contiguous block.
    const heads = permute(qkv, [2, 0, 3, 1, 4]);
    const part = (i: number) => reshape(slice(heads, 0, i, i + 1), [B, H, T, dh]);
    const o = causalAttention(part(0), part(1), part(2));
    const merged = reshape(permute(o, [0, 2, 1, 3]), [B, T, this.dim]);
    return this.c_proj.forward(merged);
  }
}
