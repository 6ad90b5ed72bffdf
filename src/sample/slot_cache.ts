// The sampler's KV cache: per layer, keys and values preallocated as [maxBatch, maxLen, Hkv, D], one slot per
// sequence in flight. Memory is fixed when the cache is made (never grows with the queue), rows can have
// different lengths, and a prompt's prefill is shared by copying its rows into sibling slots.
import type { Backend } from '../backends/backend.ts';
import type { ModelConfig } from '../io/hf_config.ts';
import type { KVCache, SlotLayer } from '../nn/model.ts';
import { BYTES, type DType } from '../tensor/dtype.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** Which slots the next forward writes and reads, and where. */
interface Binding {
  /** i32 [B]: the slot of each batch row. */
  slots: Tensor;
  /** i32 [B]: the position of each row's first new token (= tokens already cached in that slot). */
  starts: Tensor;
  /** i32 [B]: cached tokens after this forward's T new ones are written (starts + T). */
  kvLens: Tensor;
}

export class SlotKVCache implements KVCache {
  private readonly keys: Tensor[] = [];
  private readonly values: Tensor[] = [];
  private binding: Binding | null = null;

  constructor(
    readonly backend: Backend,
    config: ModelConfig,
    readonly maxBatch: number,
    readonly maxLen: number,
    readonly dtype: DType,
  ) {
    const shape = [maxBatch, maxLen, config.numKvHeads, config.headDim];
    // Resident where the backend has such memory: every decode step's attention reads the whole cache.
    const zeros = (): Tensor => keep(backend.zerosResident?.(shape, dtype) ?? backend.zeros(shape, dtype));
    for (let l = 0; l < config.numLayers; l++) {
      this.keys.push(zeros());
      this.values.push(zeros());
    }
  }

  /** Bytes a cache of this shape takes: layers × (K and V) × maxBatch × maxLen × Hkv × D × dtype size. */
  static bytes(config: ModelConfig, maxBatch: number, maxLen: number, dtype: DType): number {
    return config.numLayers * 2 * maxBatch * maxLen * config.numKvHeads * config.headDim * BYTES[dtype];
  }

  /**
   * Point the next forward at these slots: row b's T new tokens go to slots[b] from position starts[b].
   * The index tensors belong to the caller's tidy scope, so they are freed with the step.
   */
  bind(slots: readonly number[], starts: readonly number[], t: number): void {
    const up = (xs: readonly number[]) => this.backend.upload(Int32Array.from(xs), [xs.length], 'i32');
    this.binding = { slots: up(slots), starts: up(starts), kvLens: up(starts.map((s) => s + t)) };
  }

  /**
   * Point the next forwards at index tensors the caller owns and refreshes in place (a captured decode step
   * replays with the addresses it was captured with); kvLens must hold starts + T.
   */
  bindTensors(binding: { slots: Tensor; starts: Tensor; kvLens: Tensor }): void {
    this.binding = { slots: binding.slots, starts: binding.starts, kvLens: binding.kvLens };
  }

  get length(): number {
    throw new Error('SlotKVCache: rows have their own lengths; pass positions to DecoderModel.forward');
  }

  append(): { k: Tensor; v: Tensor } {
    throw new Error('SlotKVCache: rows have their own lengths, so DecoderModel.forward must call attend(), not append()');
  }

  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
    const b = this.binding;
    if (!b) throw new Error('SlotKVCache: bind() the batch rows to slots before the forward');
    this.backend.kvWrite(this.keys[layer], k, b.slots, b.starts);
    this.backend.kvWrite(this.values[layer], v, b.slots, b.starts);
    return this.backend.slotAttention(q, this.keys[layer], this.values[layer], b.slots, b.kvLens, scale);
  }

  /** This layer's caches and the bound rows, for the fused forward's own cache writes and attention. */
  slotLayer(layer: number): SlotLayer {
    const b = this.binding;
    if (!b) throw new Error('SlotKVCache: bind() the batch rows to slots before the forward');
    return { k: this.keys[layer], v: this.values[layer], slots: b.slots, starts: b.starts, kvLens: b.kvLens };
  }

  /** Copy the first `length` positions of slot `src` into each of `dsts` (a prompt's prefill, shared). */
  copyPrefix(src: number, dsts: readonly number[], length: number): void {
    if (dsts.length === 0) return;
    for (let l = 0; l < this.keys.length; l++) {
      this.backend.kvCopy(this.keys[l], src, dsts, length);
      this.backend.kvCopy(this.values[l], src, dsts, length);
    }
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
    this.keys.length = 0;
    this.values.length = 0;
    this.binding = null;
  }
}
