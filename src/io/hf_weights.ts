// HF weight names and shapes of a Llama/Qwen2 decoder, and a checker that compares a checkpoint with them.
//
// Linear weights are stored [out_features, in_features], as torch.nn.Linear keeps them.
import { formatShape } from './safetensors_header.ts';
import type { ModelConfig } from './hf_config.ts';

/** Every tensor the model reads, HF-named, with its shape. Order: embeddings, layers, final norm, head. */
export function expectedWeightShapes(cfg: ModelConfig): Map<string, number[]> {
  const h = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const ff = cfg.intermediateSize;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [cfg.vocabSize, h]);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    m.set(`${p}.input_layernorm.weight`, [h]);
    m.set(`${p}.self_attn.q_proj.weight`, [q, h]);
    m.set(`${p}.self_attn.k_proj.weight`, [kv, h]);
    m.set(`${p}.self_attn.v_proj.weight`, [kv, h]);
    if (cfg.attentionBias) {
      m.set(`${p}.self_attn.q_proj.bias`, [q]);
      m.set(`${p}.self_attn.k_proj.bias`, [kv]);
      m.set(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    m.set(`${p}.self_attn.o_proj.weight`, [h, q]);
    if (cfg.oProjBias) m.set(`${p}.self_attn.o_proj.bias`, [h]);
    m.set(`${p}.post_attention_layernorm.weight`, [h]);
    m.set(`${p}.mlp.gate_proj.weight`, [ff, h]);
    m.set(`${p}.mlp.up_proj.weight`, [ff, h]);
    m.set(`${p}.mlp.down_proj.weight`, [h, ff]);
    if (cfg.mlpBias) {
      m.set(`${p}.mlp.gate_proj.bias`, [ff]);
      m.set(`${p}.mlp.up_proj.bias`, [ff]);
      m.set(`${p}.mlp.down_proj.bias`, [h]);
    }
  }
  m.set('model.norm.weight', [h]);
  if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', [cfg.vocabSize, h]);
  return m;
}

/** The part of a checkpoint the checker needs (SafetensorsFile and openCheckpoint() results fit). */
export interface WeightListing {
  readonly label: string;
  names(): string[];
  info(name: string): { shape: number[] };
  fileOf?(name: string): string;
}

export interface WeightReport {
  /** Missing tensors and shape mismatches: the model cannot be built. */
  errors: string[];
  /** Tensors the model does not use (ignored on load). */
  warnings: string[];
  missing: string[];
  unexpected: string[];
}

/** Compare a checkpoint's tensors with what `cfg` needs. Messages name the file and the tensor. */
export function checkWeights(file: WeightListing, cfg: ModelConfig): WeightReport {
  const expected = expectedWeightShapes(cfg);
  const present = new Set(file.names());
  const where = (name: string): string => file.fileOf?.(name) ?? file.label;
  const report: WeightReport = { errors: [], warnings: [], missing: [], unexpected: [] };
  for (const [name, shape] of expected) {
    if (!present.has(name)) {
      report.missing.push(name);
      report.errors.push(`${file.label}: missing tensor '${name}' (config expects shape ${formatShape(shape)})`);
      continue;
    }
    const found = file.info(name).shape;
    if (found.length !== shape.length || found.some((d, i) => d !== shape[i])) {
      report.errors.push(`${where(name)}: tensor '${name}' has shape ${formatShape(found)}, config says ${formatShape(shape)}`);
    }
  }
  for (const name of present) {
    if (expected.has(name)) continue;
    report.unexpected.push(name);
    const why = name === 'lm_head.weight' && cfg.tieWordEmbeddings
      ? 'tie_word_embeddings is true, so the head reuses model.embed_tokens.weight'
      : `not part of a ${cfg.modelType} model with this config`;
    report.warnings.push(`${where(name)}: ignoring tensor '${name}' (${why})`);
  }
  return report;
}

/** checkWeights, throwing one error that lists every problem; returns the warnings. */
export function assertWeights(file: WeightListing, cfg: ModelConfig): string[] {
  const report = checkWeights(file, cfg);
  if (report.errors.length > 0) {
    const more = report.errors.length > 20 ? `\n… and ${report.errors.length - 20} more` : '';
    throw new Error(report.errors.slice(0, 20).join('\n') + more);
  }
  return report.warnings;
}
