// The simplest KV cache: per layer, keys and values grow by concatenation along time. Good for one
// batch of equal-length rows (greedy decoding, tests); the sampler's slot cache handles ragged batches.
import { concat } from '../tensor/ops.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { KVCache } from './model.ts';

export class ConcatKVCache implements KVCache {
  private readonly layers: { k: Tensor; v: Tensor }[] = [];

  get length(): number {
    return this.layers[0]?.k.shape[1] ?? 0;
  }

  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const prev = this.layers[layer];
    const next = prev ? { k: keep(concat([prev.k, k], 1)), v: keep(concat([prev.v, v], 1)) } : { k: keep(k), v: keep(v) };
    if (prev) {
      prev.k.dispose();
      prev.v.dispose();
    }
    this.layers[layer] = next;
    return next;
  }

  dispose(): void {
    for (const l of this.layers) {
      l.k.dispose();
      l.v.dispose();
    }
    this.layers.length = 0;
  }
}
