// Optimizer pieces: AdamW against a float64 transcription of torch.optim.AdamW, per-parameter decay and
// step counts, global-norm clipping, and the learning-rate schedules' values.
import { describe, expect, it } from 'vitest';
import { AdamW } from '../src/train/adamw.ts';
import { clipGradients, globalGradNorm } from '../src/train/clip.ts';
import type { Param } from '../src/train/params.ts';
import { checkSchedule, lrAt, type Schedule } from '../src/train/schedule.ts';
import { keep } from '../src/tensor/scope.ts';
import { tensor } from '../src/tensor/ops.ts';
import { TrainRng } from '../src/tensor/rng.ts';

function param(name: string, values: number[], decay = true): Param {
  const t = keep(tensor(Float32Array.from(values))).requireGrad();
  return { name, key: name, value: t, master: t, decay };
}

function setGrad(p: Param, g: number[]): void {
  p.value.grad?.dispose();
  p.value.grad = keep(tensor(Float32Array.from(g)));
}

/** torch.optim.AdamW (single-tensor, amsgrad=False) in float64. */
function torchAdamW(p: number[], grads: number[][], lrs: number[], wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const x = p.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = lrs[k];
    for (let i = 0; i < x.length; i++) {
      x[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      x[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
    }
  });
  return x;
}

describe('AdamW', () => {
  it('matches torch.optim.AdamW over 10 steps with weight decay and a changing lr', () => {
    const rng = new TrainRng(11);
    const init = Array.from({ length: 37 }, () => rng.next() * 2 - 1);
    const grads = Array.from({ length: 10 }, () => init.map(() => (rng.next() * 2 - 1) * 0.1));
    const lrs = grads.map((_, k) => 1e-2 * (1 - k / 20));
    const p = param('w', init);
    const opt = new AdamW([p], { weightDecay: 0.1 });
    for (let k = 0; k < 10; k++) {
      setGrad(p, grads[k]);
      opt.update(lrs[k]);
    }
    const want = torchAdamW(init, grads, lrs, 0.1);
    const got = p.value.toArray();
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-6);
    expect(opt.state.get('w')!.step).toBe(10);
  });

  it('skips weight decay where decay is off, and parameters without a gradient (as PyTorch)', () => {
    const decayed = param('w', [1, 1]);
    const bias = param('b', [1, 1], false);
    const idle = param('idle', [5]);
    const opt = new AdamW([decayed, bias, idle], { weightDecay: 0.5 });
    setGrad(decayed, [0, 0]);
    setGrad(bias, [0, 0]);
    opt.update(0.1);
    expect(Array.from(decayed.value.toArray())).toEqual([0.949999988079071, 0.949999988079071]); // 1·(1 − 0.1·0.5)
    expect(Array.from(bias.value.toArray())).toEqual([1, 1]);
    expect(Array.from(idle.value.toArray())).toEqual([5]);
    expect(opt.state.has('idle')).toBe(false);
  });

  it('rejects bad hyperparameters with the option named', () => {
    expect(() => new AdamW([], { weightDecay: -1 })).toThrow('--weight-decay must be ≥ 0');
    expect(() => new AdamW([], { beta2: 1 })).toThrow('AdamW betas must be in [0, 1)');
  });
});

describe('gradient clipping by global norm', () => {
  it('computes one norm over all gradients and scales them all by max/(norm + 1e-6)', () => {
    const a = param('a', [0, 0]);
    const b = param('b', [0]);
    setGrad(a, [3, 0]);
    setGrad(b, [4]);
    expect(globalGradNorm([a, b])).toBeCloseTo(5, 12);
    expect(clipGradients([a, b], 10)).toBe(1); // under the limit: untouched
    expect(Array.from(a.value.grad!.toArray())).toEqual([3, 0]);
    const coef = clipGradients([a, b], 1);
    expect(coef).toBeCloseTo(1 / (5 + 1e-6), 12);
    expect(globalGradNorm([a, b])).toBeCloseTo(1, 5);
    expect(a.value.grad!.toArray()[0]).toBeCloseTo(0.6, 6);
    expect(clipGradients([a, b], 0)).toBe(1); // 0 = off
  });
});

describe('learning-rate schedules (HF semantics)', () => {
  const s = (kind: Schedule['kind'], extra: Partial<Schedule> = {}): Schedule => ({ kind, lr: 1, warmup: 2, total: 10, ...extra });
  const at = (sch: Schedule, steps: number[]) => steps.map((k) => lrAt(sch, k));

  it('warmup rises linearly from 0', () => {
    expect(at(s('constant', { warmup: 4 }), [0, 1, 2, 3, 4, 9])).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
  });

  it('cosine decays to 0 (or the floor) at the last step', () => {
    const c = at(s('cosine'), [2, 6, 10]);
    expect(c[0]).toBe(1);
    expect(c[1]).toBeCloseTo(0.5, 12);
    expect(c[2]).toBeCloseTo(0, 12);
    expect(lrAt(s('cosine', { minLrRatio: 0.1 }), 10)).toBeCloseTo(0.1, 12);
    expect(lrAt(s('cosine', { minLrRatio: 0.1 }), 6)).toBeCloseTo(0.55, 12);
  });

  it('linear decays to 0 at the last step', () => {
    expect(at(s('linear'), [1, 2, 6, 10])).toEqual([0.5, 1, 0.5, 0]);
  });

  it('checks its settings', () => {
    expect(() => checkSchedule(s('constant', { lr: 0 }))).toThrow('--lr must be a positive number');
    expect(() => checkSchedule(s('constant', { warmup: 1.5 }))).toThrow('--warmup must be a whole number');
    expect(() => checkSchedule({ ...s('constant'), kind: 'step' as Schedule['kind'] })).toThrow("--schedule 'step' is not known");
  });
});
