/**
 * The six ICL architectures: read-in Linear(tokenDim → E), a backbone, read-out
 * Linear(E → outDim), built exactly as the reference code builds them (spec §3). Parameter
 * names follow the reference state_dicts (`_read_in`, `_backbone.layers.3.mixer.in_proj.weight`,
 * `_read_out`, `wpe`) minus the unused token tables (GPT-2's wte, MixerModel's embedding).
 */
import type { Backend } from "../core/backend.ts";
import { add } from "../core/ops/elementwise.ts";
import { Rng } from "../core/rng.ts";
import type { Tensor } from "../core/tensor.ts";
import { CausalSelfAttention } from "./attention.ts";
import {
  type BlockKind,
  layerPlan,
  type ModelConfig,
  resolveConfig,
  type ResolvedConfig,
} from "./config.ts";
import { Init } from "./init.ts";
import {
  dropout,
  LayerNorm,
  Linear,
  makeNorm,
  MLP,
  type Norm,
  PositionalEmbedding,
  RngRef,
} from "./layers.ts";
import { MambaMixer } from "./mamba.ts";
import { Module, ModuleList } from "./module.ts";
import { S4MambaMixer, S4Wrapper } from "./s4.ts";
import { embedTokens } from "./tokens.ts";

/** Anything with a sequence-to-sequence forward [B, L, E] → [B, L, E]. */
interface Mixer extends Module {
  forward(x: Tensor): Tensor;
}

/** mamba-ssm's Block: x ← x + mixer(norm(x)) (its Add → Norm → Mixer order, same math). */
export class PreNormBlock extends Module {
  readonly mixer: Mixer;
  readonly norm: Norm;
  constructor(init: Init, dim: number, norm: "layer" | "rms", mixer: (init: Init) => Mixer) {
    super();
    this.mixer = this.module("mixer", mixer(init.fork("mixer")));
    this.norm = this.module("norm", makeNorm(init.fork("norm"), norm, dim));
  }
  forward(x: Tensor): Tensor {
    return add(x, this.mixer.forward(this.norm.forward(x)));
  }
}

/** [GZ] S4Model layer: x ← LayerNorm(x + channel-dropout(mixer(x))). */
export class PostNormBlock extends Module {
  readonly mixer: Mixer;
  readonly norm: LayerNorm;
  constructor(
    init: Init,
    dim: number,
    mixer: (init: Init) => Mixer,
    readonly p: number,
    readonly dropRng: RngRef,
  ) {
    super();
    this.mixer = this.module("mixer", mixer(init.fork("mixer")));
    this.norm = this.module("norm", new LayerNorm(init.fork("norm"), dim));
  }
  forward(x: Tensor): Tensor {
    const [B, , H] = x.shape;
    const z = dropout(this.mixer.forward(x), this.p, this.dropRng.rng, this.training, [B, 1, H]);
    return this.norm.forward(add(x, z));
  }
}

/** A stack of blocks plus an optional final norm (mamba-ssm's MixerModel). */
export class MixerBackbone extends Module {
  readonly layers: ModuleList<PreNormBlock | PostNormBlock>;
  readonly norm_f: Norm | null;
  constructor(blocks: (PreNormBlock | PostNormBlock)[], finalNorm: Norm | null) {
    super();
    this.layers = this.module("layers", new ModuleList(blocks));
    this.norm_f = finalNorm ? this.module("norm_f", finalNorm) : null;
  }
  forward(h: Tensor, hidden?: Tensor[]): Tensor {
    for (const b of this.layers.items) {
      h = b.forward(h);
      hidden?.push(h);
    }
    return this.norm_f ? this.norm_f.forward(h) : h;
  }
}

/** GPT-2's pre-LN block: h ← h + attn(ln_1(h)); h ← h + mlp(ln_2(h)). */
export class GPT2Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;
  constructor(init: Init, dim: number, heads: number, nLayer: number) {
    super();
    // HF GPT-2 init: weights N(0, 0.02), biases 0, both c_proj N(0, 0.02/√(2·n_layer)).
    const w = { weightStd: 0.02, zeroBias: true };
    const proj = { weightStd: 0.02 / Math.sqrt(2 * nLayer), zeroBias: true };
    this.ln_1 = this.module("ln_1", new LayerNorm(init.fork("ln_1"), dim));
    this.attn = this.module(
      "attn",
      new CausalSelfAttention(init.fork("attn"), dim, heads, w, proj),
    );
    this.ln_2 = this.module("ln_2", new LayerNorm(init.fork("ln_2"), dim));
    this.mlp = this.module("mlp", new MLP(init.fork("mlp"), dim, 4 * dim, w, proj));
  }
  forward(h: Tensor): Tensor {
    h = add(h, this.attn.forward(this.ln_1.forward(h)));
    return add(h, this.mlp.forward(this.ln_2.forward(h)));
  }
}

/**
 * HF GPT2Model without the token table: wpe (optional), blocks `h`, final `ln_f`. With
 * `mambaFirst`, a mamba-ssm Block (LayerNorm, Mamba mixer) named `mamba_in` runs before `h`.
 */
export class GPT2Backbone extends Module {
  readonly wpe: PositionalEmbedding | null;
  readonly mamba_in: PreNormBlock | null;
  readonly h: ModuleList<GPT2Block>;
  readonly ln_f: LayerNorm;
  constructor(init: Init, c: ResolvedConfig) {
    super();
    this.wpe = c.posEmb
      ? this.module("wpe", new PositionalEmbedding(init.fork("wpe"), c.maxLen!, c.dModel, 0.02))
      : null;
    // Its out_proj is rescaled like GPT-2's c_proj, by the 2·nLayer residual branches after it.
    this.mamba_in = c.mambaFirst
      ? this.module(
        "mamba_in",
        new PreNormBlock(
          init.fork("mamba_in"),
          c.dModel,
          c.norm,
          (i) => mambaMixer(i, c, 2 * c.nLayer),
        ),
      )
      : null;
    const blocks = Array.from(
      { length: c.nLayer },
      (_, i) => new GPT2Block(init.fork(`h.${i}`), c.dModel, c.nHead!, c.nLayer),
    );
    this.h = this.module("h", new ModuleList(blocks));
    this.ln_f = this.module("ln_f", new LayerNorm(init.fork("ln_f"), c.dModel));
  }
  forward(h: Tensor, hidden?: Tensor[]): Tensor {
    if (this.wpe) h = add(h, this.wpe.forward(h.shape[1]));
    if (this.mamba_in) {
      h = this.mamba_in.forward(h);
      hidden?.push(h);
    }
    for (const b of this.h.items) {
      h = b.forward(h);
      hidden?.push(h);
    }
    return this.ln_f.forward(h);
  }
}

/** A Mamba mixer of config `c` whose out_proj is rescaled by 1/√nLayer. */
function mambaMixer(init: Init, c: ResolvedConfig, nLayer: number): MambaMixer {
  return new MambaMixer(init, c.dModel, {
    dState: c.dState,
    dConv: c.dConv,
    expand: c.expand,
    dtRank: c.dtRank,
    nLayer,
  });
}

/** What `makeModel` accepts besides the config. */
export interface ModelOptions {
  /** Seed of the initial weights and dropout masks (ignored when `rng` is given). Default 0. */
  seed?: number;
  rng?: Rng;
  /** Where the parameters live (default: the current backend). */
  backend?: Backend;
}

/**
 * An in-context learner: tokens [B, T, tokenDim] → predictions [B, T, outDim], causal in T.
 * Subclasses only build `_backbone` (and `wpe` for the Standard Hybrid).
 */
export abstract class ICLModel extends Module {
  /** The config as given (JSON; `makeModel(model.spec)` rebuilds the same architecture). */
  readonly spec: ModelConfig;
  /** The validated config with every default filled in. */
  readonly config: ResolvedConfig;
  readonly _read_in: Linear;
  readonly _read_out: Linear;
  /** Dropout stream shared by every layer; replace `.rng` to restore a checkpoint's state. */
  readonly dropRng: RngRef;
  protected readonly init: Init;

  constructor(config: ModelConfig, opts: ModelOptions = {}) {
    super();
    this.config = resolveConfig(config);
    this.spec = structuredClone(config);
    const rng = opts.rng ?? new Rng(opts.seed ?? 0);
    this.init = new Init(rng.fork("init"), opts.backend);
    this.dropRng = new RngRef(rng.fork("dropout"));
    const c = this.config;
    // Read-in and read-out keep PyTorch's default Linear init in every reference model.
    this._read_in = this.module(
      "_read_in",
      new Linear(this.init.fork("_read_in"), c.tokenDim, c.dModel),
    );
    this._read_out = this.module(
      "_read_out",
      new Linear(this.init.fork("_read_out"), c.dModel, c.outDim),
    );
  }

  /** What learned positions do past maxLen (see setPositionsBeyond). */
  positionsBeyond: "error" | "repeat" = "error";

  /** Past maxLen: "error" (default) or "repeat" the last learned position in every table. */
  setPositionsBeyond(mode: "error" | "repeat"): void {
    this.positionsBeyond = mode;
    const visit = (m: Module) => {
      if (m instanceof PositionalEmbedding) m.beyond = mode;
      for (const [, c] of m.children()) visit(c);
    };
    visit(this);
  }

  protected abstract get backbone(): { forward(h: Tensor, hidden?: Tensor[]): Tensor };

  /** Embedding added after the read-in (the Standard Hybrid's positions); none by default. */
  protected embed(h: Tensor): Tensor {
    return h;
  }

  /**
   * tokens [B, T, tokenDim] → [B, T, outDim]. When `hidden` is given, the residual stream after
   * the read-in and after every block is appended to it (for probing).
   */
  forward(tokens: Tensor, hidden?: Tensor[]): Tensor {
    const c = this.config;
    if (tokens.rank !== 3 || tokens.shape[2] !== c.tokenDim) {
      throw new Error(
        `${c.arch}: tokens ${tokens.describe()} should be [batch, length, ${c.tokenDim}]`,
      );
    }
    if (c.maxLen !== null && tokens.shape[1] > c.maxLen && this.positionsBeyond === "error") {
      throw new Error(
        `${c.arch}: sequence length ${
          tokens.shape[1]
        } exceeds maxLen ${c.maxLen} (learned positions)`,
      );
    }
    return this.afterReadIn(this._read_in.forward(tokens), hidden);
  }

  /**
   * Token ids [B·T] (row-major [B, T]) of a vocabulary of tokenDim → [B, T, outDim]: the same
   * model as `forward` on one-hot tokens, with the read-in computed as an embedding lookup
   * (nn/tokens.ts). With outDim = tokenDim the output is next-token logits.
   */
  forwardIds(ids: Int32Array, batch: number, length: number, hidden?: Tensor[]): Tensor {
    const c = this.config;
    if (c.maxLen !== null && length > c.maxLen && this.positionsBeyond === "error") {
      throw new Error(`${c.arch}: sequence length ${length} exceeds maxLen ${c.maxLen}`);
    }
    return this.afterReadIn(embedTokens(this._read_in, ids, batch, length), hidden);
  }

  private afterReadIn(readIn: Tensor, hidden?: Tensor[]): Tensor {
    const h = this.embed(readIn);
    hidden?.push(h);
    return this._read_out.forward(this.backbone.forward(h, hidden));
  }
}

/**
 * GPT-2 as in Garg et al.: learned positions (unless posEmb = false), pre-LN, final LN; with
 * mambaFirst, Park's ablation (a Mamba block first; use it with posEmb = false as the paper).
 */
export class Transformer extends ICLModel {
  readonly _backbone: GPT2Backbone;
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super(config, opts);
    this._backbone = this.module(
      "_backbone",
      new GPT2Backbone(this.init.fork("_backbone"), this.config),
    );
    this.nameParameters();
  }
  protected get backbone() {
    return this._backbone;
  }
}

/** Builds the MixerModel block list of one of the Mamba-family architectures (`layerPlan`). */
function mixerBackbone(init: Init, c: ResolvedConfig, drop: RngRef): MixerBackbone {
  const E = c.dModel;
  const make: Record<Exclude<BlockKind, "gpt2">, (i: Init) => Mixer> = {
    mamba: (i) => mambaMixer(i, c, c.nLayer),
    // mamba-ssm's _init_weights zeroes every Linear bias inside the backbone (attention included).
    attn: (i) => new CausalSelfAttention(i, E, c.nHead!, { zeroBias: true }),
    s4: (i) => new S4Wrapper(i, E, c.dState, c.dropout, drop),
    s4mamba: (i) => new S4MambaMixer(i, E, { ...c, dropout: c.dropout }, drop),
  };
  const blocks = layerPlan(c).map((k, i) => {
    if (k === "gpt2") throw new Error(`${c.arch}: a GPT-2 block in a MixerModel`);
    const bi = init.fork(`layers.${i}`);
    return c.arch === "s4" && c.postNorm
      ? new PostNormBlock(bi, E, make[k], c.dropout, drop)
      : new PreNormBlock(bi, E, c.norm, make[k]);
  });
  const finalNorm = c.arch === "s4" && c.postNorm ? null : makeNorm(init.fork("norm_f"), c.norm, E);
  return new MixerBackbone(blocks, finalNorm);
}

/** Shared shape of the Mamba-family models: a MixerModel backbone. */
abstract class MixerICLModel extends ICLModel {
  readonly _backbone: MixerBackbone;
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super(config, opts);
    this._backbone = this.module(
      "_backbone",
      mixerBackbone(this.init.fork("_backbone"), this.config, this.dropRng),
    );
  }
  protected get backbone() {
    return this._backbone;
  }
}

/**
 * Stacked pre-norm Mamba blocks + final norm ([MF] LayerNorm; norm "rms" = [GZ]); with
 * hybridMiddle, one Standard Hybrid pair in the middle (Park A.3.8).
 */
export class Mamba extends MixerICLModel {
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super({ ...config, arch: "mamba" }, opts);
    this.nameParameters();
  }
}

/** S4D layers: [MF] "s4d" pre-norm blocks (default) or [GZ] S4Model post-norm (postNorm). */
export class S4 extends MixerICLModel {
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super({ ...config, arch: "s4" }, opts);
    this.nameParameters();
  }
}

/** [MF] S4-Mamba: Mamba blocks whose selective scan is an S4D convolution. */
export class S4Mamba extends MixerICLModel {
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super({ ...config, arch: "s4mamba" }, opts);
    this.nameParameters();
  }
}

/** [MF] MambaFormer: Mamba, then (attention, Mamba) × nLayer/2; no positional embedding. */
export class MambaFormer extends MixerICLModel {
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super({ ...config, arch: "mambaformer" }, opts);
    this.nameParameters();
  }
}

/** [MF] Standard Hybrid: (attention, Mamba) × nLayer/2 + learned positions drawn N(0, 1). */
export class StandardHybrid extends MixerICLModel {
  readonly wpe: PositionalEmbedding;
  constructor(config: ModelConfig, opts?: ModelOptions) {
    super({ ...config, arch: "hybrid" }, opts);
    const c = this.config;
    // nn.Embedding outside MixerModel keeps PyTorch's N(0, 1) init.
    this.wpe = this.module(
      "wpe",
      new PositionalEmbedding(this.init.fork("wpe"), c.maxLen!, c.dModel, 1),
    );
    this.nameParameters();
  }
  protected override embed(h: Tensor): Tensor {
    return add(h, this.wpe.forward(h.shape[1]));
  }
}

/** Build a model from a plain JSON config (validated; errors name the bad field). */
export function makeModel(config: ModelConfig, opts: ModelOptions = {}): ICLModel {
  const c = resolveConfig(config);
  switch (c.arch) {
    case "transformer":
      return new Transformer(config, opts);
    case "mamba":
      return new Mamba(config, opts);
    case "s4":
      return new S4(config, opts);
    case "s4mamba":
      return new S4Mamba(config, opts);
    case "mambaformer":
      return new MambaFormer(config, opts);
    case "hybrid":
      return new StandardHybrid(config, opts);
  }
}
