// The stacked weights of the fused inference path (fused_forward.ts): per layer, q/k/v as one
// [Hq·D + 2·Hkv·D, hidden] matrix with its stacked bias, and gate/up as one [2·I, hidden] matrix, so each is one
// GEMM (or one GEMV) instead of two or three. The HF-named weights stay the source of truth: every use checks
// each source tensor's identity and storage version (bumped by every in-place write: an optimizer step, a LoRA
// merge, a checkpoint restore), and restacks what changed, in place, so pointers a CUDA graph captured stay valid.
import type { ModelConfig } from '../io/hf_config.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** One stacked tensor and the versions of the parts it was built from. */
class Stack {
  private tensor: Tensor | null = null;
  private seen: { part: Tensor; version: number }[] = [];

  /** The parts stacked along dim 0, restacked first if any part was replaced or written since. */
  get(parts: Tensor[]): Tensor {
    if (this.tensor && !this.stale(parts)) return this.tensor;
    const be = parts[0].backend;
    const fresh = be.concat(parts, 0);
    const t = this.tensor;
    if (t && !t.isDisposed && t.dtype === fresh.dtype && t.shape.join() === fresh.shape.join()) {
      be.copyInto(t, fresh);
      fresh.dispose();
    } else {
      t?.dispose();
      this.tensor = keep(fresh);
    }
    this.seen = parts.map((part) => ({ part, version: part.storage.version }));
    return this.tensor!;
  }

  private stale(parts: Tensor[]): boolean {
    return parts.length !== this.seen.length || parts.some((p, i) => this.seen[i].part !== p || this.seen[i].version !== p.storage.version);
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = null;
    this.seen = [];
  }
}

export interface StackedProjection {
  weight: Tensor;
  /** The stacked biases; null when none of the projections has one (a missing one among others counts as zeros). */
  bias: Tensor | null;
}

/** The HF names behind one stacked projection of one layer. */
interface Names {
  key: string;
  modules: string[];
  weights: string[];
  biases: string[];
}

export class FusedWeights {
  private readonly stacks = new Map<string, Stack>();
  /** Zeros standing in for a missing bias beside present ones, by module name. */
  private readonly zeros = new Map<string, Tensor>();
  private readonly names: { qkv: Names; gateUp: Names }[] = [];

  constructor(config: ModelConfig, private readonly weights: Map<string, Tensor>) {
    const names = (l: number, parts: readonly string[]): Names => {
      const modules = parts.map((p) => `model.layers.${l}.${p}`);
      return { key: `${l}:${parts.join('+')}`, modules, weights: modules.map((m) => `${m}.weight`), biases: modules.map((m) => `${m}.bias`) };
    };
    for (let l = 0; l < config.numLayers; l++) this.names.push({ qkv: names(l, QKV), gateUp: names(l, GATE_UP) });
  }

  /** Whether every layer's projections can be stacked: all weights there, all of one dtype. */
  supported(): boolean {
    let dtype: string | null = null;
    for (const layer of this.names) {
      for (const n of [layer.qkv, layer.gateUp]) {
        for (const name of [...n.weights, ...n.biases]) {
          const t = this.weights.get(name);
          if (!t) {
            if (n.weights.includes(name)) return false;
            continue;
          }
          if ((dtype ??= t.dtype) !== t.dtype) return false;
        }
      }
    }
    return true;
  }

  /** q/k/v of layer l: weight [Hq·D + 2·Hkv·D, hidden], bias [Hq·D + 2·Hkv·D] or null. */
  qkv(l: number): StackedProjection {
    return this.projection(this.names[l].qkv);
  }

  /** gate/up of layer l: weight [2·I, hidden] (gate rows first), bias [2·I] or null. */
  gateUp(l: number): StackedProjection {
    return this.projection(this.names[l].gateUp);
  }

  /** Free every stacked tensor (the next use rebuilds them). */
  dispose(): void {
    for (const s of this.stacks.values()) s.dispose();
    for (const z of this.zeros.values()) z.dispose();
    this.stacks.clear();
    this.zeros.clear();
  }

  private projection(n: Names): StackedProjection {
    const weights = n.weights.map((name) => this.weight(name));
    const weight = this.stack(`${n.key}.weight`, weights);
    const biases = n.biases.map((name) => this.weights.get(name) ?? null);
    if (biases.every((b) => b === null)) return { weight, bias: null };
    const parts = biases.map((b, i) => b ?? this.zerosFor(n.modules[i], weights[i]));
    return { weight, bias: this.stack(`${n.key}.bias`, parts) };
  }

  private stack(key: string, parts: Tensor[]): Tensor {
    let s = this.stacks.get(key);
    if (!s) this.stacks.set(key, (s = new Stack()));
    return s.get(parts);
  }

  private weight(name: string): Tensor {
    const w = this.weights.get(name);
    if (!w) throw new Error(`fused weights: model has no weight '${name}'`);
    return w;
  }

  private zerosFor(module: string, weight: Tensor): Tensor {
    let z = this.zeros.get(module);
    if (!z) this.zeros.set(module, (z = keep(weight.backend.zeros([weight.shape[0]], weight.dtype))));
    return z;
  }
}

const QKV = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'] as const;
const GATE_UP = ['mlp.gate_proj', 'mlp.up_proj'] as const;
