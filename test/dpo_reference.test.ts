// The DPO losses against PyTorch (fixtures/dpo/reference.json, made by scripts/reference/dpo_reference.py
// from the same logits): loss, TRL metrics and the gradient with respect to the logits, for sigmoid DPO,
// cDPO, IPO, the thought-only mask and the NLL term. Then an f64 finite-difference check of the whole
// model step (forward, per-token log-probs, host loss, seeded backward) through LoRA weights.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { TokenPair } from '../src/data/pairs.ts';
import { initModel } from '../src/nn/load.ts';
import { LoraAdapter, LORA_TARGETS } from '../src/nn/lora.ts';
import { backward, noGrad } from '../src/tensor/autograd.ts';
import { ids, tensor } from '../src/tensor/ops.ts';
import { keep } from '../src/tensor/scope.ts';
import { signedStream } from '../src/tensor/rng.ts';
import { DpoMetricSums, type DpoLossType } from '../src/train/dpo_loss.ts';
import { dpoLossAndBackward, dpoLossFromLogps, pairBatch, pairLogps, targetLogps, type DpoStepOptions } from '../src/train/dpo_step.ts';
import { toyConfig } from './train_helpers.ts';

interface RefCase {
  name: string; beta: number; loss_type: DpoLossType; label_smoothing: number; thought_only: boolean; nll_weight: number;
  loss: number; metrics: Record<string, number>; grad: number[];
}
const ref = JSON.parse(readFileSync('fixtures/dpo/reference.json', 'utf8')) as {
  vocab: number; rows: number; cols: number; logits: number[]; ref_logps: [number, number][]; cases: RefCase[];
  pairs: { prompt: number[]; chosen: number[]; rejected: number[]; chosen_thought: number; rejected_thought: number }[];
};
const pairs: TokenPair[] = ref.pairs.map((p, i) => ({
  prompt: p.prompt, chosen: p.chosen, rejected: p.rejected, chosenThought: p.chosen_thought, rejectedThought: p.rejected_thought, source: `reference:${i}`,
}));

const stepOptions = (c: RefCase): DpoStepOptions => ({
  beta: c.beta, lossType: c.loss_type, labelSmoothing: c.label_smoothing, thoughtOnly: c.thought_only, nllWeight: c.nll_weight,
});

const relErr = (got: number, want: number) => Math.abs(got - want) / Math.max(Math.abs(want), 1e-12);

describe('DPO loss and gradients match PyTorch on the same logits', () => {
  for (const c of ref.cases) {
    it(`${c.name}: loss ≤ 1e-5 relative, TRL metrics, d loss / d logits ≤ 1e-4 relative`, () => {
      const batch = pairBatch(pairs, c.thought_only, 0);
      expect([batch.rows, batch.cols]).toEqual([ref.rows, ref.cols]);
      const logits = tensor(Float32Array.from(ref.logits), [ref.rows * ref.cols, ref.vocab]).requireGrad();
      const logps = targetLogps(logits, ids(batch.targets));
      const metrics = new DpoMetricSums();
      const norm = { pairs: pairs.length, nllTokens: pairs.reduce((s, p) => s + p.chosen.length, 0) };
      const refLogps = ref.ref_logps.map(([chosen, rejected]) => ({ chosen, rejected }));
      const { loss, seed } = dpoLossFromLogps(logps.toArray(), batch, refLogps, stepOptions(c), norm, metrics);
      backward(logps, tensor(Float32Array.from(seed), logps.shape));
      expect(relErr(loss, c.loss)).toBeLessThan(1e-5);
      const m = metrics.mean(c.nll_weight > 0) as unknown as Record<string, number>;
      for (const [k, v] of Object.entries(c.metrics)) expect(Math.abs(m[k] - v), k).toBeLessThan(1e-5 * Math.max(1, Math.abs(v)));
      const grad = logits.grad!.toArray();
      const scale = Math.max(...c.grad.map(Math.abs));
      let worst = 0;
      c.grad.forEach((g, i) => (worst = Math.max(worst, Math.abs(grad[i] - g) / scale)));
      expect(worst).toBeLessThan(1e-4);
      expect(scale).toBeGreaterThan(1e-3); // the gradient compared is not trivially zero
    });
  }
});

describe('the DPO step through LoRA weights matches float64 finite differences', () => {
  const cfg = toyConfig(11);
  const normal = signedStream(5);
  const model = initModel(cfg, () => normal() * 0.5, 'f64');
  for (const w of model.weights.values()) w.requiresGrad = false;
  const reference = noGrad(() => pairLogps(model, pairs, true, 0));
  reference.push(...noGrad(() => pairLogps(model, pairs, false, 0)));
  const r = signedStream(9);
  const adapter = new LoraAdapter({ r: 2, alpha: 4, dropout: 0, targets: [...LORA_TARGETS] });
  const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
  for (const [module, inF, outF] of [[modules[0], 16, 16], [modules[1], 32, 16]] as const) {
    adapter.pairs.set(module, {
      a: keep(tensor(Float64Array.from({ length: 2 * inF }, () => r()), [2, inF], 'f64')).requireGrad(),
      b: keep(tensor(Float64Array.from({ length: outF * 2 }, () => r()), [outF, 2], 'f64')).requireGrad(),
    });
  }
  model.adapter = adapter;

  const settings: [string, DpoStepOptions][] = [
    ['cDPO, thought only, NLL term', { beta: 0.7, lossType: 'sigmoid', labelSmoothing: 0.1, thoughtOnly: true, nllWeight: 0.5 }],
    ['IPO on whole completions', { beta: 0.3, lossType: 'ipo', labelSmoothing: 0, thoughtOnly: false, nllWeight: 0 }],
  ];
  for (const [name, o] of settings) {
    it(name, () => {
      const refs = o.thoughtOnly ? reference.slice(0, pairs.length) : reference.slice(pairs.length);
      const norm = { pairs: pairs.length, nllTokens: pairs.reduce((s, p) => s + p.chosen.length, 0) };
      const params = adapter.parameters();
      for (const p of params) p.grad = null;
      // Two micro-batches (pairs 0-1, then 2) accumulate into the same gradient as one batch would.
      const lossOf = () => {
        let total = 0;
        for (const [from, to] of [[0, 2], [2, 3]]) {
          total += dpoLossAndBackward(model, pairs.slice(from, to), refs.slice(from, to), o, norm, 0, new DpoMetricSums(), () => 'fd');
        }
        return total;
      };
      const loss0 = lossOf();
      expect(Number.isFinite(loss0)).toBe(true);
      const analytic = params.map((p) => Float64Array.from(p.grad!.toArray()));
      const value = () => noGrad(() => {
        let total = 0;
        for (const [from, to] of [[0, 2], [2, 3]]) {
          const batch = pairBatch(pairs.slice(from, to), o.thoughtOnly, 0);
          const logits = model.forward(tensor(batch.ids, [batch.rows, batch.cols], 'i32'), { positions: tensor(batch.positions, [batch.rows, batch.cols], 'i32') });
          total += dpoLossFromLogps(targetLogps(logits, ids(batch.targets)).toArray(), batch, refs.slice(from, to), o, norm).loss;
        }
        return total;
      });
      expect(Math.abs(value() - loss0)).toBeLessThan(1e-12);
      // h = 1e-3: the model's f64 forward carries ~1e-12 relative rounding noise, which smaller steps amplify (measured).
      const h = 1e-3;
      const numerics: number[][] = [];
      params.forEach((p) => {
        const column: number[] = [];
        numerics.push(column);
        const data = p.storage.handle as Float64Array;
        for (let i = 0; i < data.length; i++) {
          const orig = data[i];
          data[i] = orig + h;
          const up = value();
          data[i] = orig - h;
          const down = value();
          data[i] = orig;
          column.push((up - down) / (2 * h));
        }
      });
      const largest = Math.max(...numerics.flat().map(Math.abs));
      let worst = 0;
      analytic.forEach((a, k) => a.forEach((g, i) => (worst = Math.max(worst, Math.abs(numerics[k][i] - g) / Math.max(Math.abs(numerics[k][i]), 1e-2 * largest)))));
      expect(largest).toBeGreaterThan(1e-3);
      expect(worst).toBeLessThan(1e-5);
      for (const p of params) p.grad = null;
    });
  }
});
