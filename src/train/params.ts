// What the optimizer updates: LoRA A/B (base frozen) when the model has an adapter, else every weight.
//
// Each parameter has the tensor the forward pass uses (`value`, which receives .grad) and an f32 `master`
// that AdamW updates. On the CPU they are the same tensor. When a GPU keeps the weights in bf16, the
// master is a separate f32 copy and the bf16 value is refreshed from it after every update, so small
// updates are not rounded away.
import { peftParamName, peftSavedName } from '../io/peft_names.ts';
import type { DecoderModel } from '../nn/model.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

export interface Param {
  /** PEFT parameter name for LoRA ('model.layers.0.self_attn.q_proj.lora_A.default.weight'), HF name otherwise. */
  name: string;
  /** Name in the checkpoint file: PEFT's saved key for LoRA, the HF weight name for full fine-tuning. */
  key: string;
  value: Tensor;
  master: Tensor;
  /** Weight decay applies (HF Trainer: not to biases and norm weights). */
  decay: boolean;
}

export type TrainMode = 'lora' | 'full';

export function trainMode(model: DecoderModel): TrainMode {
  return model.adapter ? 'lora' : 'full';
}

export function trainableParams(model: DecoderModel): Param[] {
  const params: Param[] = [];
  if (model.adapter) {
    for (const w of model.weights.values()) w.requiresGrad = false;
    for (const [module, pair] of model.adapter.pairs) {
      for (const [half, t] of [['A', pair.a], ['B', pair.b]] as const) {
        if (t.dtype !== 'f32') throw new Error(`LoRA ${peftSavedName(module, half)} is ${t.dtype}; trainable tensors must be f32 masters`);
        t.requireGrad();
        params.push({ name: peftParamName(module, half), key: peftSavedName(module, half), value: t, master: t, decay: true });
      }
    }
    return params;
  }
  for (const [name, w] of model.weights) {
    w.requireGrad();
    const master = w.dtype === 'f32' ? w : keep(w.backend.cast(w, 'f32'));
    params.push({ name, key: name, value: w, master, decay: !noDecay(name) });
  }
  return params;
}

/** HF Trainer's exclusion list: biases and normalization weights are not decayed. */
function noDecay(name: string): boolean {
  return name.endsWith('.bias') || /(?:^|\.)(?:\w*_)?norm(?:$|\.)|layernorm|rmsnorm/.test(name);
}

/** Copy masters into the forward-pass tensors where they differ (after an update or a restore). */
export function syncValues(params: Param[]): void {
  for (const p of params) if (p.master !== p.value) p.value.backend.copyInto(p.value, p.master);
}

/** Drop accumulated gradients (after the optimizer step). */
export function clearGrads(params: Param[]): void {
  for (const p of params) {
    p.value.grad?.dispose();
    p.value.grad = null;
  }
}

/** Free separate master copies (the values belong to the model). */
export function releaseMasters(params: Param[]): void {
  for (const p of params) if (p.master !== p.value) p.master.dispose();
}
