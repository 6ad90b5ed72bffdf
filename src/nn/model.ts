// The Llama/Qwen2 decoder: embeddings → N × (RMSNorm → GQA attention with RoPE → RMSNorm → SwiGLU MLP)
// → RMSNorm → LM head. Weights live in a flat map under their HF names, so loading, saving, LoRA and
// PEFT interop are all a matter of names. The same class runs the tiny from-scratch model and real
// checkpoints; nothing here is fitted to one size.
import { hasFusedInference } from '../backends/backend.ts';
import type { ModelConfig } from '../io/hf_config.ts';
import { isGradEnabled } from '../tensor/autograd.ts';
import { checkpoint, type RewindableStream } from '../tensor/checkpoint.ts';
import { add, linear, reshape, slice } from '../tensor/ops.ts';
import { tidy } from '../tensor/scope.ts';
import { attention, embedding, rmsnorm, rope, swiglu } from '../tensor/nn_ops.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { fusedForward } from './fused_forward.ts';
import { FusedWeights } from './fused_weights.ts';
import type { LoraAdapter } from './lora.ts';

/** Where new keys/values go during generation; returns everything to attend over for this layer. */
export interface KVCache {
  /** Number of positions already cached (row 0; rows share a length in this simple interface). */
  readonly length: number;
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor };
  /**
   * Optional: store this layer's new k/v and return the attention output itself, for caches whose rows have
   * different lengths (the sampler's slot cache, src/sample/slot_cache.ts). When present, forward calls it
   * instead of append + attention, and the caller must pass positions.
   */
  attend?(layer: number, q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor;
  /**
   * Optional, for the fused inference path (fused_forward.ts), which writes and reads the cache with fused
   * backend ops: this layer's slot caches [slots, maxLen, Hkv, D] and the rows bound for this forward (i32 [B]
   * each: slot, first new position, cached length after it). Requires positions, as attend() does.
   */
  slotLayer?(layer: number): SlotLayer;
}

/** One layer of a slot cache as KVCache.slotLayer gives it (see Backend.slotAttention for the layout). */
export interface SlotLayer {
  k: Tensor;
  v: Tensor;
  slots: Tensor;
  starts: Tensor;
  kvLens: Tensor;
}

export interface ForwardOptions {
  /** i32 [B, T]; defaults to cache.length + 0..T-1 for every row. */
  positions?: Tensor;
  /** i32 [B, T] packed-sequence ids: attention stays inside each segment (training with packing). */
  segments?: Tensor;
  cache?: KVCache;
  /** 'all' → logits [B·T, V]; 'last' → logits of each row's last position [B, V]; 'hidden' → final hidden [B·T, D]. */
  output?: 'all' | 'last' | 'hidden';
}

export class DecoderModel {
  adapter: LoraAdapter | null = null;
  /**
   * Generation takes the fused inference path (fused_forward.ts) where it can: a cache with slotLayer, a
   * backend with the fused ops, no adapter attached and no gradient recorded. STILL_FUSED=0 turns it off.
   */
  fusedInference = process.env.STILL_FUSED !== '0';
  private fused: FusedWeights | null = null;
  /**
   * Training keeps only each layer's input and recomputes the layer in backward (tensor/checkpoint.ts):
   * activation memory of one layer instead of all, for about one more forward per step.
   */
  gradientCheckpointing = false;

  constructor(
    readonly config: ModelConfig,
    /** HF-named parameters, e.g. 'model.layers.0.self_attn.q_proj.weight'. */
    readonly weights: Map<string, Tensor>,
  ) {}

  get lmHead(): Tensor {
    return this.weight(this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  }

  weight(name: string): Tensor {
    const w = this.weights.get(name);
    if (!w) throw new Error(`model has no weight '${name}'`);
    return w;
  }

  /** A projection with its optional bias and LoRA update; `module` is the HF module path. */
  private project(module: string, x: Tensor): Tensor {
    const base = linear(x, this.weight(`${module}.weight`), this.weights.get(`${module}.bias`));
    return this.adapter ? this.adapter.apply(module, x, base) : base;
  }

  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const [b, t] = ids.shape;
    const positions = opts.positions ?? defaultPositions(ids, opts.cache?.length ?? 0);
    const be = this.weight('model.embed_tokens.weight').backend;
    if (this.fusedInference && opts.cache?.slotLayer && hasFusedInference(be) && !this.adapter && !this.recordsGradients()) {
      const fused = (this.fused ??= new FusedWeights(c, this.weights));
      if (fused.supported()) return fusedForward(this, fused, be, ids, positions, opts.cache as Required<Pick<KVCache, 'slotLayer'>>, opts.output ?? 'all');
    }
    let x = reshape(embedding(this.weight('model.embed_tokens.weight'), ids), [b * t, c.hiddenSize]);
    const layerOpts = { b, t, positions, segments: opts.segments, cache: opts.cache };
    const taped = this.recordsGradients();
    const recompute = this.gradientCheckpointing && !opts.cache && taped;
    // Without a tape nothing needs a layer's intermediates once it is done (eval loss, DPO's reference
    // log-probs), so each layer frees its own; a cache may keep what a layer makes, so not with one.
    const scoped = !opts.cache && !taped;
    for (let l = 0; l < c.numLayers; l++) {
      const input = x;
      if (recompute) x = checkpoint((h) => this.layer(l, h, layerOpts), [input], { params: this.layerParameters(l), rng: this.dropoutStream() });
      else if (scoped) x = tidy(() => this.layer(l, input, layerOpts));
      else x = this.layer(l, input, layerOpts);
    }
    if (opts.output === 'last') x = reshape(slice(reshape(x, [b, t, c.hiddenSize]), 1, t - 1, t), [b, c.hiddenSize]);
    x = rmsnorm(x, this.weight('model.norm.weight'), c.rmsNormEps);
    return opts.output === 'hidden' ? x : linear(x, this.lmHead);
  }

  /** Decoder layer l on the residual stream x [B·T, D]: attention then MLP, each a pre-norm residual block. */
  private layer(l: number, x: Tensor, o: { b: number; t: number; positions: Tensor; segments?: Tensor; cache?: KVCache }): Tensor {
    const c = this.config;
    const p = `model.layers.${l}`;
    const h = rmsnorm(x, this.weight(`${p}.input_layernorm.weight`), c.rmsNormEps);
    const heads = (proj: string, n: number) => reshape(this.project(`${p}.self_attn.${proj}`, h), [o.b, o.t, n, c.headDim]);
    const q = rope(heads('q_proj', c.numHeads), o.positions, c.ropeTheta);
    let k = rope(heads('k_proj', c.numKvHeads), o.positions, c.ropeTheta);
    let v = heads('v_proj', c.numKvHeads);
    const scale = 1 / Math.sqrt(c.headDim);
    let att: Tensor;
    if (o.cache?.attend) att = o.cache.attend(l, q, k, v, scale);
    else {
      if (o.cache) ({ k, v } = o.cache.append(l, k, v));
      att = attention(q, k, v, { scale, causal: true, segments: o.segments });
    }
    x = add(x, this.project(`${p}.self_attn.o_proj`, reshape(att, [o.b * o.t, c.numHeads * c.headDim])));
    const h2 = rmsnorm(x, this.weight(`${p}.post_attention_layernorm.weight`), c.rmsNormEps);
    const act = swiglu(this.project(`${p}.mlp.gate_proj`, h2), this.project(`${p}.mlp.up_proj`, h2));
    return add(x, this.project(`${p}.mlp.down_proj`, act));
  }

  /** Layer l's weights and LoRA matrices: what its checkpoint's recompute sends gradients to. */
  private layerParameters(l: number): Tensor[] {
    const prefix = `model.layers.${l}.`;
    const own = [...this.weights].filter(([name]) => name.startsWith(prefix)).map(([, w]) => w);
    const lora = [...(this.adapter?.pairs ?? [])].filter(([module]) => module.startsWith(prefix)).flatMap(([, pair]) => [pair.a, pair.b]);
    return [...own, ...lora];
  }

  /**
   * The LoRA dropout stream as a checkpoint rewinds it, when dropout is drawing. A recompute must draw the
   * masks of the first forward, which an unseeded stream (Math.random) cannot replay.
   */
  private dropoutStream(): RewindableStream | undefined {
    const a = this.adapter;
    if (!a || !a.training || a.config.dropout <= 0) return undefined;
    const stream = a.stream;
    if (!stream) throw new Error('gradient checkpointing with LoRA dropout needs a rewindable dropout stream (LoraAdapter.useStream)');
    return { save: () => stream.state, restore: (s) => (stream.state = s) };
  }

  /** Free the fused path's stacked weights (they are rebuilt on its next use); call before disposing the weights. */
  releaseFusedWeights(): void {
    this.fused?.dispose();
    this.fused = null;
  }

  /** Whether a forward now would record the tape (a weight or a LoRA matrix is trainable and gradients are on). */
  private recordsGradients(): boolean {
    if (!isGradEnabled()) return false;
    for (const w of this.weights.values()) if (w.requiresGrad) return true;
    return this.adapter?.parameters().some((t) => t.requiresGrad) ?? false;
  }

  /** Every weight, in a stable order. */
  parameters(): Tensor[] {
    return [...this.weights.values()];
  }
}

function defaultPositions(ids: Tensor, offset: number): Tensor {
  const [b, t] = ids.shape;
  const pos = new Int32Array(b * t);
  for (let i = 0; i < pos.length; i++) pos[i] = offset + (i % t);
  return ids.backend.upload(pos, [b, t], 'i32');
}
