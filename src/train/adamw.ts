// AdamW with PyTorch semantics (torch.optim.AdamW): decoupled weight decay, bias-corrected fp32 moments,
// and a step count per parameter (a parameter without a gradient is skipped, as PyTorch does). The update
// itself is the backend's fused `adamw` kernel, so it runs wherever the parameters live.
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { syncValues, type Param } from './params.ts';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdamWSlot {
  m: Tensor;
  v: Tensor;
  step: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Moments per parameter name, created on a parameter's first update (zeros, f32). */
  readonly state = new Map<string, AdamWSlot>();

  constructor(readonly params: Param[], opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) {
      throw new Error(`AdamW betas must be in [0, 1), got (${this.beta1}, ${this.beta2})`);
    }
    if (!(this.eps > 0)) throw new Error(`AdamW eps must be positive, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`--weight-decay must be ≥ 0, got ${this.weightDecay}`);
  }

  slot(p: Param): AdamWSlot {
    let s = this.state.get(p.name);
    if (!s) {
      const be = p.master.backend;
      s = { m: keep(be.zeros(p.master.shape, 'f32')), v: keep(be.zeros(p.master.shape, 'f32')), step: 0 };
      this.state.set(p.name, s);
    }
    return s;
  }

  /** One update of every parameter that has a gradient, at learning rate `lr`. */
  update(lr: number): void {
    for (const p of this.params) {
      const g = p.value.grad;
      if (!g) continue;
      const s = this.slot(p);
      s.step++;
      p.master.backend.adamw(p.master, g, s.m, s.v, {
        lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps,
        weightDecay: p.decay ? this.weightDecay : 0, step: s.step,
      });
    }
    syncValues(this.params);
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
