// HF config.json parsing (qwen2 v5 layout, llama v4 layout), weight-shape checks, and one test per bad config.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertWeights, checkWeights, expectedWeightShapes, loadHfConfig, parseHfConfig, saveConfig, writeConfig } from '../src/io/hf_config.ts';
import { openCheckpoint, writeSafetensors, type TensorInput } from '../src/io/safetensors.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'tiny-qwen2');
const dir = mkdtempSync(join(tmpdir(), 'still-io-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A small Llama in the transformers v4 layout: top-level rope_theta, untied head, no biases.
const LLAMA = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 300,
  hidden_size: 48,
  intermediate_size: 96,
  num_hidden_layers: 3,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  hidden_act: 'silu',
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  tie_word_embeddings: false,
  attention_bias: false,
  mlp_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'bfloat16',
};

describe('config.json parsing', () => {
  it('reads tiny-qwen2 (v5 rope_parameters, tied, q/k/v biases, GQA)', () => {
    const cfg = loadHfConfig(FIXTURE);
    expect(cfg).toEqual({
      modelType: 'qwen2', vocabSize: 512, hiddenSize: 64, intermediateSize: 176, numLayers: 2, numHeads: 4, numKvHeads: 2,
      headDim: 16, ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: true, oProjBias: false,
      mlpBias: false, maxPositionEmbeddings: 256, bosTokenId: null, eosTokenIds: [], padTokenId: null, torchDtype: 'float32',
    });
  });

  it('reads a llama config (v4 top-level rope_theta 1e4, eps 1e-5, untied, no biases)', () => {
    const cfg = parseHfConfig(LLAMA);
    expect(cfg).toMatchObject({
      modelType: 'llama', numHeads: 6, numKvHeads: 2, headDim: 8, ropeTheta: 1e4, rmsNormEps: 1e-5,
      tieWordEmbeddings: false, attentionBias: false, oProjBias: false, mlpBias: false, bosTokenId: 1, eosTokenIds: [2], torchDtype: 'bfloat16',
    });
    const shapes = expectedWeightShapes(cfg);
    expect(shapes.get('lm_head.weight')).toEqual([300, 48]);
    expect(shapes.get('model.layers.2.self_attn.k_proj.weight')).toEqual([16, 48]);
    expect(shapes.get('model.layers.0.self_attn.o_proj.weight')).toEqual([48, 48]);
    expect([...shapes.keys()].some((n) => n.endsWith('.bias'))).toBe(false);
    expect(shapes.size).toBe(1 + 3 * 9 + 2);
  });

  it('applies transformers defaults for omitted fields', () => {
    const { num_key_value_heads, rope_theta, rms_norm_eps, max_position_embeddings, tie_word_embeddings, ...rest } = LLAMA;
    const cfg = parseHfConfig(rest);
    expect(cfg).toMatchObject({ numKvHeads: 6, ropeTheta: 10000, rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, tieWordEmbeddings: false });
  });

  it('honours llama attention_bias (q/k/v and o_proj) and mlp_bias, an explicit head_dim and a list of eos ids', () => {
    const cfg = parseHfConfig({ ...LLAMA, attention_bias: true, mlp_bias: true, head_dim: 16, eos_token_id: [2, 5] });
    expect(cfg).toMatchObject({ attentionBias: true, oProjBias: true, mlpBias: true, headDim: 16, eosTokenIds: [2, 5] });
    const shapes = expectedWeightShapes(cfg);
    expect(shapes.get('model.layers.0.self_attn.q_proj.weight')).toEqual([96, 48]);
    expect(shapes.get('model.layers.0.self_attn.o_proj.weight')).toEqual([48, 96]);
    expect(shapes.get('model.layers.0.self_attn.o_proj.bias')).toEqual([48]);
    expect(shapes.get('model.layers.0.self_attn.v_proj.bias')).toEqual([32]);
    expect(shapes.get('model.layers.1.mlp.down_proj.bias')).toEqual([48]);
  });

  it('writeConfig round-trips through parseHfConfig for both model types, and saveConfig writes it', () => {
    for (const cfg of [loadHfConfig(FIXTURE), parseHfConfig(LLAMA), parseHfConfig({ ...LLAMA, attention_bias: true, head_dim: 16, eos_token_id: [2, 5] })]) {
      const json = writeConfig(cfg);
      expect(json.rope_theta).toBe(cfg.ropeTheta);
      expect(json.rope_parameters).toEqual({ rope_theta: cfg.ropeTheta, rope_type: 'default' });
      expect(parseHfConfig(JSON.parse(JSON.stringify(json)))).toEqual(cfg);
    }
    const out = join(dir, 'export');
    mkdirSync(out);
    saveConfig(out, parseHfConfig(LLAMA));
    expect(loadHfConfig(out)).toEqual(parseHfConfig(LLAMA));
    expect(writeConfig(parseHfConfig(LLAMA)).architectures).toEqual(['LlamaForCausalLM']);
  });
});

describe('bad configs: each names config.json, the field and the expectation', () => {
  const bad = (patch: Record<string, unknown>): (() => unknown) => () => parseHfConfig({ ...LLAMA, ...patch });

  it('unsupported model_type', () => {
    expect(bad({ model_type: 'mistral' })).toThrow('config.json: model_type "mistral" is not supported (expected "qwen2" or "llama")');
  });
  it('missing required field', () => {
    const { hidden_size, ...rest } = LLAMA;
    expect(() => parseHfConfig(rest)).toThrow("config.json: missing field 'hidden_size' (expected a positive integer)");
  });
  it('non-integer field', () => {
    expect(bad({ num_hidden_layers: 2.5 })).toThrow("config.json: field 'num_hidden_layers' must be a positive integer, got 2.5");
  });
  it('zero or string field', () => {
    expect(bad({ vocab_size: 0 })).toThrow("field 'vocab_size' must be a positive integer, got 0");
    expect(bad({ intermediate_size: '96' })).toThrow(`field 'intermediate_size' must be a positive integer, got "96"`);
  });
  it('heads do not divide hidden_size', () => {
    expect(bad({ num_attention_heads: 5, num_key_value_heads: 5 })).toThrow(
      'config.json: hidden_size 48 is not divisible by num_attention_heads 5 (give head_dim explicitly if that is intended)',
    );
  });
  it('kv heads do not divide heads', () => {
    expect(bad({ num_key_value_heads: 4 })).toThrow('config.json: num_attention_heads 6 is not divisible by num_key_value_heads 4');
  });
  it('odd head dimension', () => {
    expect(bad({ head_dim: 7 })).toThrow('config.json: head dimension 7 must be even for rotary embeddings');
  });
  it('unsupported rope scaling (v4 rope_scaling and v5 rope_parameters)', () => {
    expect(bad({ rope_scaling: { type: 'linear', factor: 2 } })).toThrow(
      'config.json: rope_scaling.rope_type "linear" is not supported (only "default", unscaled rotary embeddings)',
    );
    expect(bad({ rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, factor: 8 } })).toThrow('config.json: rope_parameters.rope_type "llama3" is not supported');
  });
  it('bad rope_theta and rms_norm_eps', () => {
    expect(bad({ rope_parameters: { rope_type: 'default', rope_theta: -1 } })).toThrow("field 'rope_parameters.rope_theta' must be a positive number, got -1");
    expect(bad({ rms_norm_eps: 0 })).toThrow("config.json: field 'rms_norm_eps' must be a positive number, got 0");
  });
  it('unsupported activation and sliding window', () => {
    expect(bad({ hidden_act: 'gelu' })).toThrow('config.json: hidden_act "gelu" is not supported (expected "silu"');
    expect(() => parseHfConfig({ ...LLAMA, model_type: 'qwen2', use_sliding_window: true })).toThrow('config.json: use_sliding_window is true');
  });
  it('bad token ids and booleans', () => {
    expect(bad({ eos_token_id: 'eos' })).toThrow(`field 'eos_token_id' must be a token id, a list of token ids, or null, got "eos"`);
    expect(bad({ bos_token_id: -1 })).toThrow("field 'bos_token_id' must be a token id (non-negative integer) or null, got -1");
    expect(bad({ tie_word_embeddings: 'yes' })).toThrow(`field 'tie_word_embeddings' must be true or false, got "yes"`);
  });
  it('missing file and invalid JSON name the file', () => {
    const d = mkdtempSync(join(dir, 'cfg-'));
    expect(() => loadHfConfig(d)).toThrow(`${join(d, 'config.json')}: cannot read (ENOENT)`);
    writeFileSync(join(d, 'config.json'), '{"model_type": "llama",');
    expect(() => loadHfConfig(d)).toThrow(`${join(d, 'config.json')}: not valid JSON`);
  });
});

describe('checkpoint vs config', () => {
  it('tiny-qwen2 weights match its config exactly', () => {
    const ckpt = openCheckpoint(FIXTURE);
    expect(checkWeights(ckpt, loadHfConfig(FIXTURE))).toEqual({ errors: [], warnings: [], missing: [], unexpected: [] });
    ckpt.close();
  });

  it('reports shape mismatches, missing tensors and (warn-only) extras with file and tensor names', () => {
    const cfg = parseHfConfig({ ...LLAMA, vocab_size: 512, hidden_size: 128, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 4 });
    const tensors: Record<string, TensorInput> = {};
    for (const [name, shape] of expectedWeightShapes(cfg)) {
      tensors[name] = { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    }
    tensors['lm_head.weight'] = { dtype: 'F32', shape: [512, 64], data: new Float32Array(512 * 64) };
    delete tensors['model.norm.weight'];
    tensors['model.layers.0.self_attn.rotary_emb.inv_freq'] = { dtype: 'F32', shape: [16], data: new Float32Array(16) };
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, tensors);
    const ckpt = openCheckpoint(path);
    const report = checkWeights(ckpt, cfg);
    expect(report.errors).toEqual([
      `${path}: missing tensor 'model.norm.weight' (config expects shape [128])`,
      `${path}: tensor 'lm_head.weight' has shape [512,64], config says [512,128]`,
    ]);
    expect(report.missing).toEqual(['model.norm.weight']);
    expect(report.unexpected).toEqual(['model.layers.0.self_attn.rotary_emb.inv_freq']);
    expect(report.warnings[0]).toContain("ignoring tensor 'model.layers.0.self_attn.rotary_emb.inv_freq' (not part of a llama model with this config)");
    expect(() => assertWeights(ckpt, cfg)).toThrow(/model\.safetensors: tensor 'lm_head\.weight' has shape \[512,64\], config says \[512,128\]/);
    ckpt.close();
  });

  it('a tied config warns about a stored lm_head instead of failing', () => {
    const cfg = loadHfConfig(FIXTURE);
    const src = openCheckpoint(FIXTURE);
    const withHead = {
      label: 'model.safetensors',
      names: () => [...src.names(), 'lm_head.weight'],
      info: (n: string) => (n === 'lm_head.weight' ? { shape: [512, 64] } : src.info(n)),
    };
    expect(assertWeights(withHead, cfg)).toEqual([
      "model.safetensors: ignoring tensor 'lm_head.weight' (tie_word_embeddings is true, so the head reuses model.embed_tokens.weight)",
    ]);
    src.close();
  });
});
