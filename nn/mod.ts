/**
 * iclab/nn: modules, the six ICL architectures (and Park's two ablations), Adam and schedules, safetensors checkpoints and
 * FLOP estimates.
 *
 * ```ts
 * import { makeModel, Adam, clipGradNorm } from "./nn/mod.ts";
 * const model = makeModel({ arch: "mamba", dModel: 128, nLayer: 4, tokenDim: 20, outDim: 1 });
 * const opt = new Adam(model.namedParameters(), { lr: 1e-4 });
 * ```
 *
 * @module
 */
export { Module, ModuleList } from "./module.ts";
export { assign, Init, inverseSoftplus } from "./init.ts";
export {
  dropout,
  LayerNorm,
  Linear,
  type LinearInit,
  makeNorm,
  MLP,
  type Norm,
  type NormKind,
  PositionalEmbedding,
  RMSNorm,
  RngRef,
} from "./layers.ts";
export { CausalSelfAttention } from "./attention.ts";
export { DepthwiseConv1d, MambaMixer, type MambaOptions, mambaSizes } from "./mamba.ts";
export {
  causalKernelConv,
  clearToeplitzCache,
  PointwiseConv1d,
  S4D,
  S4DKernel,
  S4DMamba,
  S4MambaMixer,
  S4Wrapper,
} from "./s4.ts";
export {
  type Arch,
  ARCHS,
  type BlockKind,
  layerPlan,
  type ModelConfig,
  resolveConfig,
  type ResolvedConfig,
} from "./config.ts";
export {
  GPT2Backbone,
  GPT2Block,
  ICLModel,
  makeModel,
  Mamba,
  MambaFormer,
  MixerBackbone,
  type ModelOptions,
  PostNormBlock,
  PreNormBlock,
  S4,
  S4Mamba,
  StandardHybrid,
  Transformer,
} from "./models.ts";
export { Lstm, lstmLayer, lstmLayerSteps, stackSteps, timeSteps } from "./lstm.ts";
export { LstmLm, type LstmLmConfig } from "./lstm_lm.ts";
export { argmaxRows, embedTokens, nextTokenLoss } from "./tokens.ts";
export { type FlopsBreakdown, forwardFlops, trainingFlops } from "./flops.ts";
export {
  Adam,
  type AdamOptions,
  type AdamParamState,
  type AdamStateJSON,
  AdamW,
  clipGradNorm,
  constantSchedule,
  cosineSchedule,
  globalGradNorm,
  type Schedule,
  stepSchedule,
} from "./optim.ts";
export {
  loadCheckpoint,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  readCheckpoint,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./checkpoint.ts";
export { applyCheckpoint, decodeCheckpoint, encodeCheckpoint } from "./checkpoint_bytes.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type NamedArray,
  type Safetensors,
} from "./safetensors.ts";
