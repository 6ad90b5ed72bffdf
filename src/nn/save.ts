// Export a DecoderModel as an HF model directory (config.json + model.safetensors [+ tokenizer files]),
// loadable by transformers, vLLM and our own loadModel. Weights keep their dtype unless one is asked for.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { saveConfig } from '../io/hf_config.ts';
import { writeSafetensors, type TensorInput } from '../io/safetensors.ts';
import type { DType } from '../tensor/dtype.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { DecoderModel } from './model.ts';

/** Files that travel with a model so that the exported directory is self-contained. */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja',
  'generation_config.json', 'vocab.json', 'merges.txt',
];

export interface SaveModelOptions {
  /** Store the weights as this dtype; default: each weight's own dtype (f32 on CPU, bf16 on GPU). */
  dtype?: 'f32' | 'bf16' | 'f16';
  /** Copy tokenizer and generation files from this directory (usually the base model's). */
  copyFilesFrom?: string;
}

const TORCH_DTYPE: Record<'F32' | 'BF16' | 'F16', string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

/** Write `model` to `dir` as an HF checkpoint. A model with an attached adapter is refused: merge it first. */
export function saveHfModel(model: DecoderModel, dir: string, opts: SaveModelOptions = {}): void {
  if (model.adapter) {
    throw new Error(`saveHfModel(${dir}): the model has a LoRA adapter attached; merge it (nn/merge.ts) or save the adapter with io/peft.ts`);
  }
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, TensorInput> = {};
  let stored: 'F32' | 'BF16' | 'F16' = 'F32';
  for (const [name, w] of model.weights) {
    const dtype = stDType(opts.dtype ?? w.dtype, name);
    const shape = [...w.shape];
    tensors[name] = dtype === 'F32' ? { dtype, shape, data: hostF32(w) } : { dtype, shape, data: hostF32(w) };
    stored = dtype;
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  if (opts.copyFilesFrom) {
    for (const f of TOKENIZER_FILES) {
      const src = join(opts.copyFilesFrom, f);
      if (existsSync(src)) copyFileSync(src, join(dir, f));
    }
  }
  // The config goes last: a directory with a config.json always has its weights.
  saveConfig(dir, { ...model.config, torchDtype: TORCH_DTYPE[stored] });
}

function stDType(d: DType, name: string): 'F32' | 'BF16' | 'F16' {
  if (d === 'f32' || d === 'f64') return 'F32';
  if (d === 'bf16') return 'BF16';
  if (d === 'f16') return 'F16';
  throw new Error(`saveHfModel: weight '${name}' has dtype ${d}; expected a float`);
}

// download() widens halves to f32; writeSafetensors rounds them back to the stored dtype exactly.
function hostF32(t: Tensor): Float32Array {
  const a = t.toArray();
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
}
