// Load an HF model directory (config.json + model.safetensors or a sharded index) into a DecoderModel,
// checking every weight's name and shape against the config first.
import { assertWeights, expectedWeightShapes, loadHfConfig, type ModelConfig } from '../io/hf_config.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { getBackend } from '../tensor/context.ts';
import type { DType } from '../tensor/dtype.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { DecoderModel } from './model.ts';

export interface LoadOptions {
  /** Compute dtype for the weights; defaults to f32 on the CPU and bf16 on GPUs. */
  dtype?: DType;
  /** Do not print warnings about ignored tensors (e.g. a tied lm_head). */
  quiet?: boolean;
}

export function loadModel(dir: string, opts: LoadOptions = {}): DecoderModel {
  const config = loadHfConfig(dir);
  const backend = getBackend();
  const dtype = opts.dtype ?? (backend.name === 'cpu' ? 'f32' : 'bf16');
  const ckpt = openCheckpoint(dir);
  try {
    for (const warning of assertWeights(ckpt, config)) if (!opts.quiet) process.stderr.write(`still: ${warning}\n`);
    const weights = new Map<string, Tensor>();
    for (const [name, shape] of expectedWeightShapes(config)) {
      weights.set(name, keep(backend.upload(ckpt.readF32(name), shape, dtype)));
    }
    return new DecoderModel(config, weights);
  } finally {
    ckpt.close();
  }
}

/** A freshly initialised model (HF's init: N(0, 0.02) matrices, unit norms, zero biases). */
export function initModel(config: ModelConfig, normal: () => number, dtype: DType = 'f32'): DecoderModel {
  const backend = getBackend();
  const weights = new Map<string, Tensor>();
  for (const [name, shape] of expectedWeightShapes(config)) {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = new Float32Array(n);
    if (name.endsWith('norm.weight')) data.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = 0.02 * normal();
    weights.set(name, keep(backend.upload(data, shape, dtype)));
  }
  return new DecoderModel(config, weights);
}
