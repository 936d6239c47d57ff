/** Causal multi-head self-attention with a fused qkv projection (GPT-2 / nanoGPT layout). */
import { causalAttentionPacked } from "../core/ops/fused.ts";
import { reshape } from "../core/ops/shape_ops.ts";
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
    // The kernels read the heads out of qkv and write o token-major: no split or merge copies.
    const qkv = reshape(this.c_attn.forward(x), [B, T, 3, H, dh]);
    const o = causalAttentionPacked(qkv);
    return this.c_proj.forward(reshape(o, [B, T, this.dim]));
  }
}
