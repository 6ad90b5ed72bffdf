// The decoder's inference-only forward for generation (no gradient, no unmerged LoRA, a slot KV cache): the
// same arithmetic as DecoderModel's layer loop, in five fused backend ops per layer —
//   q   = rope(rmsnorm(x)·Wqkvᵀ + b), k/v → cache   (qkvRopeKvWrite, stacked q/k/v weight: fused_weights.ts)
//   o   = attention(q, cache)                         (slotAttention)
//   x   = x + o·Woᵀ                                   (fusedLinear with the residual)
//   a   = swiglu(rmsnorm(x)·Wgate/upᵀ)                (fusedLinear, stacked gate/up weight)
//   x   = x + a·Wdownᵀ                                (fusedLinear with the residual)
// and the final norm folded into the LM head. On CUDA each is one kernel for a decode step (a GEMV streaming
// the weight once), so a layer is 5 launches instead of ~20. Intermediates are freed as soon as they are used.
import type { FusedInferenceBackend } from '../backends/backend.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { FusedWeights } from './fused_weights.ts';
import type { DecoderModel, KVCache } from './model.ts';

export function fusedForward(
  model: DecoderModel, stacked: FusedWeights, be: FusedInferenceBackend, ids: Tensor, positions: Tensor,
  cache: Required<Pick<KVCache, 'slotLayer'>>, output: 'all' | 'last' | 'hidden',
): Tensor {
  const c = model.config;
  const [b, t] = ids.shape;
  const scale = 1 / Math.sqrt(c.headDim);
  const w = (name: string) => model.weight(name);
  const bias = (name: string) => model.weights.get(name) ?? null;
  const free = (...ts: Tensor[]) => {
    for (const x of ts) x.dispose();
  };
  const embedded = be.embedding(w('model.embed_tokens.weight'), ids);
  let x = embedded.view([b * t, c.hiddenSize]);
  free(embedded);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    const qkv = stacked.qkv(l);
    const s = cache.slotLayer(l);
    const x3 = x.view([b, t, c.hiddenSize]);
    const norm = { weight: w(`${p}.input_layernorm.weight`), eps: c.rmsNormEps };
    const q = be.qkvRopeKvWrite(x3, qkv.weight, qkv.bias, norm, positions, c.ropeTheta, s.k, s.v, s.slots, s.starts);
    const o = be.slotAttention(q, s.k, s.v, s.slots, s.kvLens, scale);
    const o2 = o.view([b * t, c.numHeads * c.headDim]);
    const x1 = be.fusedLinear(o2, w(`${p}.self_attn.o_proj.weight`), { bias: bias(`${p}.self_attn.o_proj.bias`), residual: x });
    free(x3, q, o, o2, x);
    const gateUp = stacked.gateUp(l);
    const act = be.fusedLinear(x1, gateUp.weight, {
      norm: { weight: w(`${p}.post_attention_layernorm.weight`), eps: c.rmsNormEps }, bias: gateUp.bias, swiglu: true,
    });
    x = be.fusedLinear(act, w(`${p}.mlp.down_proj.weight`), { bias: bias(`${p}.mlp.down_proj.bias`), residual: x1 });
    free(act, x1);
  }
  if (output === 'last' && t > 1) {
    const rows = x.view([b, t, c.hiddenSize]);
    const last = be.slice(rows, 1, t - 1, t);
    free(rows, x);
    x = last.view([b, c.hiddenSize]);
    free(last);
  }
  const norm = { weight: w('model.norm.weight'), eps: c.rmsNormEps };
  let out: Tensor;
  if (output === 'hidden') {
    const { y, rstd } = be.rmsnorm(x, norm.weight, norm.eps);
    free(rstd);
    out = y;
  } else {
    out = be.fusedLinear(x, model.lmHead, { norm });
  }
  free(x);
  return out;
}
