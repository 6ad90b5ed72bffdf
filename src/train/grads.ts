// Gradients of the HF-style shifted loss for every trainable tensor, as a safetensors dump: LoRA tensors
// under PEFT's parameter names without `base_model.model.` (the layout of PEFT's reference_grads), or
// every weight under its HF name when no adapter is attached. Used by `still forward --grads`.
import { writeSafetensors, type TensorInput } from '../io/safetensors.ts';
import { shiftedLoss } from '../nn/loss.ts';
import type { DecoderModel } from '../nn/model.ts';
import { backward } from '../tensor/autograd.ts';
import { ids } from '../tensor/ops.ts';
import { tidy } from '../tensor/scope.ts';
import { clearGrads, releaseMasters, trainableParams } from './params.ts';

export interface GradientDump {
  loss: number;
  /** [B, T, V] as nested arrays. */
  logits: unknown;
  grads: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Forward + backward on token rows [B][T] with unshifted labels (-100 ignored). */
export function lossGradients(model: DecoderModel, rows: number[][], labels: number[][]): GradientDump {
  const params = trainableParams(model);
  try {
    const { loss, logits } = tidy(() => {
      const [b, t] = [rows.length, rows[0].length];
      const out = model.forward(ids(rows.flat(), [b, t]));
      const l = shiftedLoss(out, labels);
      const value = l.item();
      backward(l);
      return { loss: value, logits: out.view([b, t, -1]).toNested() };
    });
    const grads = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of params) {
      const g = p.value.grad;
      if (!g) throw new Error(`no gradient reached '${p.name}'`);
      const a = g.toArray();
      grads.set(p.name, { shape: [...g.shape], data: a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>) });
    }
    return { loss, logits, grads };
  } finally {
    clearGrads(params);
    releaseMasters(params);
    for (const p of params) p.value.requiresGrad = false;
  }
}

export function writeGradients(file: string, grads: GradientDump['grads']): void {
  const tensors: Record<string, TensorInput> = {};
  for (const [name, g] of grads) tensors[name] = { dtype: 'F32', shape: g.shape, data: g.data };
  writeSafetensors(file, tensors, { format: 'pt' });
}
