// Folding a LoRA adapter into the base weights (W += s·B·A) and taking it back out (W −= s·B·A).
//
// Merged, the model runs at base speed and exports as a plain HF checkpoint. The update is computed in
// f32 and added on the backend (copyInto casts back to W's dtype), so a bf16 base gets one rounding per
// merge; unmerge after merge is exact only for f32 weights, which is why the adapter is kept, not freed.
import { noGrad } from '../tensor/autograd.ts';
import { tidy } from '../tensor/scope.ts';
import type { LoraAdapter } from './lora.ts';
import type { DecoderModel } from './model.ts';

/** W ← W + sign·s·B·A for every adapted projection of `model`. */
function fold(model: DecoderModel, adapter: LoraAdapter, sign: 1 | -1): void {
  noGrad(() => {
    for (const [module, { a, b }] of adapter.pairs) {
      const w = model.weight(`${module}.weight`);
      tidy(() => {
        const be = w.backend;
        const delta = be.matmul(b, a, false, false); // [out, r]·[r, in] = [out, in]
        const scaled = be.affine(delta, sign * adapter.scale, 0);
        const sum = be.binary('add', w.dtype === 'f32' ? w : be.cast(w, 'f32'), scaled);
        be.copyInto(w, sum);
      });
    }
  });
}

/** Merge `adapter` (default: the model's own) into the base weights and detach it from the model. */
export function mergeLora(model: DecoderModel, adapter: LoraAdapter | null = model.adapter): LoraAdapter {
  if (!adapter) throw new Error('mergeLora: the model has no LoRA adapter attached and none was given');
  fold(model, adapter, 1);
  if (model.adapter === adapter) model.adapter = null;
  return adapter;
}

/** Undo mergeLora: subtract the update again and re-attach the adapter. */
export function unmergeLora(model: DecoderModel, adapter: LoraAdapter): void {
  if (model.adapter) throw new Error('unmergeLora: the model already has an adapter attached; unmerge into a model without one');
  fold(model, adapter, -1);
  model.adapter = adapter;
}
