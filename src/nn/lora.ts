// LoRA adapters (Hu et al. 2021, PEFT semantics): y = x·Wᵀ + s·dropout(x)·Aᵀ·Bᵀ with s = α/r (α/√r for
// rsLoRA), base W frozen. The adapter is a set of (A, B) pairs keyed by HF module path, which the model
// consults in every projection; PEFT file names are derived from those paths (see io/peft.ts).
import type { ModelConfig } from '../io/hf_config.ts';
import { getBackend } from '../tensor/context.ts';
import { add, linear, record, scale } from '../tensor/ops.ts';
import { dropout } from '../tensor/nn_ops.ts';
import { keep } from '../tensor/scope.ts';
import type { DType } from '../tensor/dtype.ts';
import type { Tensor } from '../tensor/tensor.ts';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
  /** rsLoRA (Kalajdzievski 2023): scale α/√r instead of α/r, so larger ranks keep learning. */
  useRslora?: boolean;
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
  private draw: () => number;
  private rewindable: { state: number } | null = null;

  constructor(readonly config: LoraConfig, random: () => number = Math.random) {
    this.draw = random;
  }

  /** Dropout's uniform [0, 1) source; the trainer swaps in its seeded, checkpointed stream (useStream). */
  get random(): () => number {
    return this.draw;
  }
  set random(f: () => number) {
    this.draw = f;
    this.rewindable = null;
  }

  /** Draw dropout from a seeded stream (a TrainRng) whose position can be saved and rewound. */
  useStream(stream: { next(): number; state: number }): void {
    this.draw = () => stream.next();
    this.rewindable = stream;
  }

  /** The stream behind `random` when it can be rewound, for activation checkpointing's replay; else null. */
  get stream(): { state: number } | null {
    return this.rewindable;
  }

  get scale(): number {
    const { alpha, r } = this.config;
    return this.config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** The low-rank update for `module` added to its base output, or the base output unchanged. */
  apply(module: string, x: Tensor, base: Tensor): Tensor {
    const pair = this.pairs.get(module);
    if (!pair) return base;
    const p = this.training ? this.config.dropout : 0;
    const update = linear(linear(dropout(x, p, this.random), castTo(pair.a, x.dtype)), castTo(pair.b, x.dtype));
    return add(base, scale(update, this.scale));
  }

  parameters(): Tensor[] {
    return [...this.pairs.values()].flatMap((p) => [p.a, p.b]);
  }

  /** Free every A and B (the adapter is unusable afterwards). */
  dispose(): void {
    for (const p of this.pairs.values()) {
      p.a.dispose();
      p.b.dispose();
    }
    this.pairs.clear();
  }
}

/**
 * A differentiable cast, so f32 masters meet bf16 activations (GPU) in the activations' dtype, where the
 * fast GEMMs are; the gradient comes back as f32 for the optimizer. A no-op when the dtypes agree (CPU).
 */
function castTo(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  return record(t.backend.cast(t, dtype), [t], (g) => [g.backend.cast(g, t.dtype)]);
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

/** The module path of a projection in layer `l`, e.g. 'model.layers.3.mlp.down_proj'. */
export function modulePath(layer: number, target: LoraTarget): string {
  const block = target === 'gate_proj' || target === 'up_proj' || target === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${target}`;
}

/** [in, out] features of a projection, from the model config. */
export function projectionShape(cfg: ModelConfig, target: LoraTarget): [number, number] {
  const h = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const ff = cfg.intermediateSize;
  switch (target) {
    case 'q_proj': return [h, q];
    case 'k_proj': case 'v_proj': return [h, kv];
    case 'o_proj': return [q, h];
    case 'gate_proj': case 'up_proj': return [h, ff];
    case 'down_proj': return [ff, h];
  }
}

/** Every (module, in, out) the config adapts, in layer order then LORA_TARGETS order. */
export function adaptedModules(cfg: ModelConfig, targets: readonly LoraTarget[]): { module: string; inF: number; outF: number }[] {
  const out: { module: string; inF: number; outF: number }[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const t of LORA_TARGETS) {
      if (!targets.includes(t)) continue;
      const [inF, outF] = projectionShape(cfg, t);
      out.push({ module: modulePath(l, t), inF, outF });
    }
  }
  return out;
}

/**
 * A fresh adapter with PEFT's default init: A ~ kaiming_uniform(a=√5), i.e. U(±1/√in), and B = 0, so the
 * adapted model starts out identical to the base. A and B are f32 "master" tensors on the current backend,
 * marked trainable and kept out of tidy scopes.
 */
export function createLora(cfg: ModelConfig, lora: LoraConfig, random: () => number = Math.random): LoraAdapter {
  checkLoraConfig(lora);
  const backend = getBackend();
  const adapter = new LoraAdapter(lora, random);
  for (const { module, inF, outF } of adaptedModules(cfg, lora.targets)) {
    const bound = 1 / Math.sqrt(inF);
    const a = new Float32Array(lora.r * inF);
    for (let i = 0; i < a.length; i++) a[i] = (2 * random() - 1) * bound;
    adapter.pairs.set(module, {
      a: keep(backend.upload(a, [lora.r, inF], 'f32')).requireGrad(),
      b: keep(backend.zeros([outF, lora.r], 'f32')).requireGrad(),
    });
  }
  return adapter;
}

export function checkLoraConfig(c: LoraConfig, where = 'LoRA config'): void {
  if (!Number.isInteger(c.r) || c.r <= 0) throw new Error(`${where}: rank r must be a positive integer, got ${c.r}`);
  if (!Number.isFinite(c.alpha) || c.alpha <= 0) throw new Error(`${where}: alpha must be a positive number, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`${where}: dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targets.length === 0) throw new Error(`${where}: no target projections (expected some of ${LORA_TARGETS.join(', ')})`);
}
