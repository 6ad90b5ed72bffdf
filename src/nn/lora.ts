// LoRA adapters (Hu et al. 2021, PEFT semantics): y = x·Wᵀ + (α/r)·dropout(x)·Aᵀ·Bᵀ, base W frozen.
import { add, linear, scale } from '../tensor/ops.ts';
import { dropout } from '../tensor/nn_ops.ts';
import type { Tensor } from '../tensor/tensor.ts';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
}

/** One adapted projection: A [r, in], B [out, r]. */
export interface LoraPair {
  a: Tensor;
  b: Tensor;
}

/** The adapter state attached to a model: module name (e.g. 'model.layers.0.self_attn.q_proj') → pair. */
export class LoraAdapter {
  readonly pairs = new Map<string, LoraPair>();
  /** Whether dropout is active (training) — PEFT turns it off in eval mode. */
  training = false;
  constructor(readonly config: LoraConfig, private readonly random: () => number = Math.random) {}

  get scale(): number {
    return this.config.alpha / this.config.r;
  }

  /** The low-rank update for `module` added to its base output, or the base output unchanged. */
  apply(module: string, x: Tensor, base: Tensor): Tensor {
    const pair = this.pairs.get(module);
    if (!pair) return base;
    const p = this.training ? this.config.dropout : 0;
    const update = linear(linear(dropout(x, p, this.random), pair.a), pair.b);
    return add(base, scale(update, this.scale));
  }

  parameters(): Tensor[] {
    return [...this.pairs.values()].flatMap((p) => [p.a, p.b]);
  }
}

/** Parse 'q,k,v,o,gate,up,down' (or full names like q_proj) into targets, with a clear error. */
export function parseTargets(spec: string): LoraTarget[] {
  return spec.split(',').map((s) => {
    const name = (s.trim().endsWith('_proj') ? s.trim() : `${s.trim()}_proj`) as LoraTarget;
    if (!LORA_TARGETS.includes(name)) {
      throw new Error(`--lora-targets: unknown projection '${s}': expected some of q,k,v,o,gate,up,down`);
    }
    return name;
  });
}
