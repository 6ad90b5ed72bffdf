// The fused inference path (src/nn/fused_forward.ts) on the CPU backend: the same logits and KV cache as the
// unfused forward, taken only when nothing records a gradient and no LoRA adapter is attached, and its stacked
// weights follow every change to the HF-named weights (an optimizer step, a copyInto, a LoRA merge).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backends/backend.ts';
import { createLora, LORA_TARGETS } from '../src/nn/lora.ts';
import { loadModel } from '../src/nn/load.ts';
import { mergeLora } from '../src/nn/merge.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import { greedyGenerate } from '../src/sample/greedy.ts';
import { Generator } from '../src/sample/generator.ts';
import { SlotKVCache } from '../src/sample/slot_cache.ts';
import { shiftedLoss } from '../src/nn/loss.ts';
import { backward, noGrad } from '../src/tensor/autograd.ts';
import { ids } from '../src/tensor/ops.ts';
import { getBackend } from '../src/tensor/context.ts';
import type { DType } from '../src/tensor/dtype.ts';
import { tidy } from '../src/tensor/scope.ts';
import { AdamW } from '../src/train/adamw.ts';
import { clearGrads, trainableParams } from '../src/train/params.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));

/** Count calls of a backend method while fn runs. */
function counting<R>(be: Backend, method: keyof Backend, fn: () => R): { result: R; calls: number } {
  const target = be as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = target[method];
  let calls = 0;
  target[method] = (...a: unknown[]) => (calls++, original.apply(be, a));
  try {
    return { result: fn(), calls };
  } finally {
    target[method] = original;
  }
}

/**
 * A prefill of two ragged rows (prompt lengths 7 and 4, in slots 2 and 0) through a slot cache, then three
 * batched decode steps, with the fused path on or off. Returns every step's logits, flattened.
 */
function steps(model: DecoderModel, fused: boolean, dtype: DType = 'f32'): number[] {
  model.fusedInference = fused;
  const be = getBackend();
  const cache = new SlotKVCache(be, model.config, 3, 32, dtype);
  const out: number[] = [];
  try {
    noGrad(() => tidy(() => {
      const prompts = [[5, 17, 301, 2, 99, 64, 7], [450, 3, 3, 12]];
      const t = 7;
      const idsArr = Int32Array.from({ length: 2 * t }, (_, i) => prompts[Math.floor(i / t)][i % t] ?? 0);
      const pos = Int32Array.from({ length: 2 * t }, (_, i) => i % t);
      cache.bind([2, 0], [0, 0], t);
      const hidden = model.forward(be.upload(idsArr, [2, t], 'i32'), { positions: be.upload(pos, [2, t], 'i32'), cache, output: 'all' });
      out.push(...hidden.toArray());
      let lens = [7, 4];
      let last = [11, 13];
      for (let s = 0; s < 3; s++) {
        cache.bind([2, 0], lens, 1);
        const logits = model.forward(be.upload(Int32Array.from(last), [2, 1], 'i32'), {
          positions: be.upload(Int32Array.from(lens), [2, 1], 'i32'), cache, output: 'last',
        });
        const l = logits.toArray();
        out.push(...l);
        last = [0, 1].map((r) => argmax(l, r * model.config.vocabSize, model.config.vocabSize));
        lens = lens.map((x) => x + 1);
      }
    }));
  } finally {
    cache.dispose();
    model.fusedInference = true;
  }
  return out;
}

function argmax(a: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[from + j] > a[from + best]) best = j;
  return best;
}

function maxDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('fused inference path (CPU)', () => {
  it('gives the unfused logits through prefill and decode steps (f32 and bf16 weights)', () => {
    for (const dtype of ['f32', 'bf16'] as const) {
      const model = loadModel(DIR, { quiet: true, dtype });
      const unfused = steps(model, false, dtype);
      const { result: fused, calls } = counting(getBackend(), 'fusedLinear', () => steps(model, true, dtype));
      expect(calls).toBe(4 * (4 * model.config.numLayers + 1)); // 4 forwards × (4 per layer + the LM head)
      expect(maxDiff(fused, unfused)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('generates HF\'s greedy tokens, and the same samples as the unfused path', () => {
    const model = loadModel(DIR, { quiet: true });
    expect(greedyGenerate(model, ref.greedy_prompt, 24)).toEqual(ref.greedy_output);
    const run = (fused: boolean) => {
      model.fusedInference = fused;
      const gen = new Generator(model, { maxBatch: 3, maxLen: 48, eosIds: [] });
      try {
        return gen.generate([
          { prompt: [1, 2, 3, 4, 5], n: 2, params: { temperature: 0.9, topP: 0.9, maxNewTokens: 12, seed: 3, logprobs: true } },
          { prompt: [300, 200, 100], params: { temperature: 0, maxNewTokens: 9, logprobs: true } },
        ]);
      } finally {
        gen.dispose();
        model.fusedInference = true;
      }
    };
    const unfused = run(false);
    const fused = run(true);
    expect(fused.map((r) => r.tokens)).toEqual(unfused.map((r) => r.tokens));
    const lp = (rs: typeof fused) => rs.flatMap((r) => r.logprobs ?? []);
    expect(maxDiff(lp(fused), lp(unfused))).toBeLessThanOrEqual(1e-6);
  });

  it('is not taken with a LoRA adapter attached, nor while a gradient is recorded', () => {
    const model = loadModel(DIR, { quiet: true });
    const be = getBackend();
    model.adapter = createLora(model.config, { r: 4, alpha: 8, dropout: 0, targets: [...LORA_TARGETS] }, () => 0.25);
    expect(counting(be, 'fusedLinear', () => steps(model, true)).calls).toBe(0);
    model.adapter = null;
    for (const w of model.weights.values()) w.requireGrad();
    const cache = new SlotKVCache(be, model.config, 1, 8, 'f32');
    cache.bind([0], [0], 2);
    const forward = () => model.forward(be.upload(Int32Array.from([3, 4]), [1, 2], 'i32'), { positions: be.upload(Int32Array.from([0, 1]), [1, 2], 'i32'), cache });
    expect(counting(be, 'fusedLinear', forward).calls).toBe(0); // trainable weights, gradients on: the tape is needed
    expect(counting(be, 'fusedLinear', () => noGrad(forward)).calls).toBeGreaterThan(0);
    cache.dispose();
  });

  it('stacks the weights once, and restacks after an optimizer step, a copyInto or a LoRA merge', () => {
    const model = loadModel(DIR, { quiet: true });
    const be = getBackend();
    const first = counting(be, 'concat', () => steps(model, true));
    expect(first.calls).toBe(3 * model.config.numLayers); // per layer: q/k/v weights, q/k/v biases, gate/up weights
    expect(counting(be, 'concat', () => steps(model, true)).calls).toBe(0);

    // A full fine-tuning step (the CPU's AdamW writes the weights in place).
    const params = trainableParams(model);
    const opt = new AdamW(params);
    const rows: number[][] = ref.input_ids;
    tidy(() => backward(shiftedLoss(model.forward(ids(rows.flat(), [rows.length, rows[0].length])), rows)));
    opt.update(1e-2);
    clearGrads(params);
    const afterStep = counting(be, 'concat', () => steps(model, true));
    expect(afterStep.calls).toBeGreaterThan(0);
    expect(maxDiff(afterStep.result, steps(model, false))).toBeLessThanOrEqual(1e-6);
    expect(maxDiff(afterStep.result, first.result)).toBeGreaterThan(1e-3);

    // One weight rewritten in place: only its layer's q/k/v stack is rebuilt.
    const w = model.weight('model.layers.1.self_attn.k_proj.weight');
    tidy(() => be.copyInto(w, be.affine(w, 0.5, 0)));
    const afterCopy = counting(be, 'concat', () => steps(model, true));
    expect(afterCopy.calls).toBe(1);
    expect(maxDiff(afterCopy.result, steps(model, false))).toBeLessThanOrEqual(1e-6);

    // A merged LoRA adapter (B non-zero, so the merge changes every adapted weight).
    let s = 1;
    const adapter = createLora(model.config, { r: 4, alpha: 8, dropout: 0, targets: [...LORA_TARGETS] }, () => ((s = (s * 48271) % 2147483647) / 2147483647));
    for (const { b } of adapter.pairs.values()) tidy(() => be.copyInto(b, be.full(b.shape, 0.05, 'f32')));
    model.adapter = adapter;
    const withAdapter = steps(model, true); // unfused: the adapter is attached
    mergeLora(model);
    const merged = steps(model, true);
    expect(maxDiff(merged, withAdapter)).toBeLessThanOrEqual(1e-4);
    expect(maxDiff(merged, steps(model, false))).toBeLessThanOrEqual(1e-6);
  });
});
