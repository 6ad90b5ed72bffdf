// HF config.json for Llama and Qwen2 decoders: parse and validate into a ModelConfig, and write one back.
//
// Both transformers layouts are accepted: v4 (`rope_theta` at the top level, `rope_scaling`) and v5
// (`rope_parameters: {rope_theta, rope_type}`; the tiny-qwen2 fixture uses it). Defaults follow
// transformers' LlamaConfig / Qwen2Config, so a config that loads there loads here. Anything we
// would silently compute differently (rope scaling, sliding-window attention, other activations)
// is refused with a message that names the field.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic.ts';

export interface ModelConfig {
  modelType: 'qwen2' | 'llama';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** q, k, v projection biases: always for qwen2; llama: attention_bias ?? false. */
  attentionBias: boolean;
  /** o_proj bias: llama's attention_bias covers o_proj too; qwen2 never has one. Absent means false. */
  oProjBias?: boolean;
  /** gate/up/down biases (llama mlp_bias). */
  mlpBias: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId?: number | null;
  /** As written in the config (`torch_dtype`, or v5's `dtype`), e.g. 'bfloat16'. */
  torchDtype?: string;
}

// transformers' defaults where the config may omit a field.
const DEFAULTS = {
  llama: { maxPositionEmbeddings: 2048, tieWordEmbeddings: false },
  qwen2: { maxPositionEmbeddings: 32768, tieWordEmbeddings: false },
} as const;
const DEFAULT_ROPE_THETA = 10000;
const DEFAULT_RMS_NORM_EPS = 1e-6;

/** Read and validate `<dir>/config.json` (or a path to a config file). */
export function loadHfConfig(dirOrFile: string): ModelConfig {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : join(dirOrFile, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseHfConfig(json, file);
}

/** Validate a parsed config.json object. `file` names it in errors. */
export function parseHfConfig(json: unknown, file = 'config.json'): ModelConfig {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return fail('must be a JSON object');
  const c = json as Record<string, unknown>;

  const modelType = c.model_type;
  if (modelType !== 'qwen2' && modelType !== 'llama') {
    return fail(`model_type ${JSON.stringify(modelType)} is not supported (expected "qwen2" or "llama")`);
  }

  const posInt = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) return fail(`missing field '${key}' (expected a positive integer)`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return fail(`field '${key}' must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const posNum = (v: unknown, key: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail(`field '${key}' must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') return fail(`field '${key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const tokenId = (key: string): number | null => {
    const v = c[key] ?? null;
    if (v !== null && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      return fail(`field '${key}' must be a token id (non-negative integer) or null, got ${JSON.stringify(v)}`);
    }
    return v as number | null;
  };

  const hiddenAct = c.hidden_act ?? c.hidden_activation ?? 'silu';
  if (hiddenAct !== 'silu') fail(`hidden_act ${JSON.stringify(hiddenAct)} is not supported (expected "silu": the SwiGLU MLP)`);
  if (c.use_sliding_window === true) fail(`use_sliding_window is true; sliding-window attention is not supported (expected false)`);

  const vocabSize = posInt('vocab_size');
  const hiddenSize = posInt('hidden_size');
  const intermediateSize = posInt('intermediate_size');
  const numLayers = posInt('num_hidden_layers');
  const numHeads = posInt('num_attention_heads');
  const numKvHeads = posInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    fail(`num_attention_heads ${numHeads} is not divisible by num_key_value_heads ${numKvHeads} (grouped-query attention needs whole groups)`);
  }
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) {
    headDim = posInt('head_dim');
  } else {
    if (hiddenSize % numHeads !== 0) {
      fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads} (give head_dim explicitly if that is intended)`);
    }
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) fail(`head dimension ${headDim} must be even for rotary embeddings`);

  const ropeTheta = parseRope(c, fail, posNum);
  const rmsNormEps = posNum(c.rms_norm_eps ?? DEFAULT_RMS_NORM_EPS, 'rms_norm_eps');

  const isLlama = modelType === 'llama';
  const llamaAttentionBias = isLlama ? bool('attention_bias', false) : false;
  const eos = c.eos_token_id ?? null;
  const eosList = eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  if (!eosList.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    fail(`field 'eos_token_id' must be a token id, a list of token ids, or null, got ${JSON.stringify(eos)}`);
  }
  const torchDtype = c.torch_dtype ?? c.dtype;
  if (torchDtype !== undefined && torchDtype !== null && typeof torchDtype !== 'string') {
    fail(`field 'torch_dtype' must be a string such as "bfloat16", got ${JSON.stringify(torchDtype)}`);
  }

  const cfg: ModelConfig = {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    ropeTheta,
    rmsNormEps,
    tieWordEmbeddings: bool('tie_word_embeddings', DEFAULTS[modelType].tieWordEmbeddings),
    attentionBias: isLlama ? llamaAttentionBias : true,
    oProjBias: llamaAttentionBias,
    mlpBias: isLlama ? bool('mlp_bias', false) : false,
    maxPositionEmbeddings: posInt('max_position_embeddings', DEFAULTS[modelType].maxPositionEmbeddings),
    bosTokenId: tokenId('bos_token_id'),
    eosTokenIds: eosList as number[],
    padTokenId: tokenId('pad_token_id'),
  };
  if (typeof torchDtype === 'string') cfg.torchDtype = torchDtype;
  return cfg;
}

// rope_parameters (v5) wins over the top-level rope_theta (v4), as in transformers v5. Only the
// unscaled ("default") rotary embedding is implemented; scaled variants change the frequencies,
// and running them as default would quietly produce a different model.
function parseRope(
  c: Record<string, unknown>,
  fail: (msg: string) => never,
  posNum: (v: unknown, key: string) => number,
): number {
  const params = c.rope_parameters;
  const scaling = c.rope_scaling;
  for (const [key, p] of [['rope_parameters', params], ['rope_scaling', scaling]] as const) {
    if (p === undefined || p === null) continue;
    if (typeof p !== 'object' || Array.isArray(p)) fail(`field '${key}' must be an object, got ${JSON.stringify(p)}`);
    const type = (p as Record<string, unknown>).rope_type ?? (p as Record<string, unknown>).type ?? 'default';
    if (type !== 'default') {
      fail(`${key}.rope_type ${JSON.stringify(type)} is not supported (only "default", unscaled rotary embeddings)`);
    }
  }
  if (params !== undefined && params !== null) {
    const theta = (params as Record<string, unknown>).rope_theta;
    if (theta !== undefined) return posNum(theta, 'rope_parameters.rope_theta');
  }
  return posNum(c.rope_theta ?? DEFAULT_ROPE_THETA, 'rope_theta');
}

/**
 * An HF config.json object for `cfg` (for exporting merged models). It carries both the v4 layout
 * (`rope_theta`) and the v5 one (`rope_parameters`), so transformers 4.x, 5.x and vLLM all load it.
 */
export function writeConfig(cfg: ModelConfig): Record<string, unknown> {
  const isLlama = cfg.modelType === 'llama';
  const out: Record<string, unknown> = {
    architectures: [isLlama ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
  };
  // Only when it differs from the implied value: older Qwen2Config versions have no head_dim field.
  if (cfg.headDim * cfg.numHeads !== cfg.hiddenSize) out.head_dim = cfg.headDim;
  Object.assign(out, {
    hidden_act: 'silu',
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling: null,
    rope_parameters: { rope_theta: cfg.ropeTheta, rope_type: 'default' },
    tie_word_embeddings: cfg.tieWordEmbeddings,
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenIds.length === 0 ? null : cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : cfg.eosTokenIds,
    pad_token_id: cfg.padTokenId ?? null,
    attention_dropout: 0.0,
    use_cache: true,
  });
  if (isLlama) {
    // Llama has one switch for q, k, v and o biases; refuse a combination it cannot express.
    if (cfg.attentionBias !== (cfg.oProjBias ?? false)) {
      throw new Error(`writeConfig: llama's attention_bias covers q/k/v and o_proj together; got attentionBias ${cfg.attentionBias}, oProjBias ${cfg.oProjBias ?? false}`);
    }
    Object.assign(out, { attention_bias: cfg.attentionBias, mlp_bias: cfg.mlpBias });
  } else {
    if (!cfg.attentionBias || cfg.oProjBias || cfg.mlpBias) {
      throw new Error(`writeConfig: qwen2 always has q/k/v biases and no o_proj or MLP biases; use model_type llama for other combinations`);
    }
    Object.assign(out, { use_sliding_window: false, sliding_window: null });
  }
  if (cfg.torchDtype !== undefined) out.torch_dtype = cfg.torchDtype;
  return out;
}

/** Write `<dir>/config.json` atomically. */
export function saveConfig(dir: string, cfg: ModelConfig): void {
  writeJsonAtomic(join(dir, 'config.json'), writeConfig(cfg));
}

// Weight names and the checkpoint checker live beside the config they derive from.
export { assertWeights, checkWeights, expectedWeightShapes, type WeightListing, type WeightReport } from './hf_weights.ts';
