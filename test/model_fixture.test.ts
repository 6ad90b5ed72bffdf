// The decoder against HF transformers' reference outputs for the tiny-qwen2 fixture.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/nn/load.ts';
import { greedyGenerate } from '../src/sample/greedy.ts';
import { noGrad } from '../src/tensor/autograd.ts';
import { ids } from '../src/tensor/ops.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));

describe('tiny-qwen2 matches HF transformers', () => {
  const model = loadModel(DIR, { quiet: true });

  it('logits within 1e-4', () => {
    const rows: number[][] = ref.input_ids;
    const logits = noGrad(() => model.forward(ids(rows.flat(), [rows.length, rows[0].length]))).toArray();
    const expected = (ref.logits as number[][][]).flat(2);
    expect(logits.length).toBe(expected.length);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(logits[i] - expected[i]));
    expect(worst).toBeLessThan(1e-4);
  });

  it('greedy tokens identical (KV cache)', () => {
    const prompt: number[][] = ref.greedy_prompt;
    const out = greedyGenerate(model, prompt, 24);
    expect(out).toEqual(ref.greedy_output);
  });

  it('greedy with KV cache equals recomputing the full sequence', () => {
    const prompt: number[][] = ref.greedy_prompt;
    const seq = [...prompt[0]];
    for (let i = 0; i < 5; i++) {
      const logits = noGrad(() => model.forward(ids(seq, [1, seq.length]), { output: 'last' })).toArray();
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
      seq.push(best);
    }
    expect(seq).toEqual(ref.greedy_output[0].slice(0, prompt[0].length + 5));
  });
});

describe('tiny-llama (untied, no biases, rope θ 1e4, eps 1e-5; written by our writer) matches HF', () => {
  const LLAMA = 'fixtures/tiny-llama';
  const llamaRef = JSON.parse(readFileSync(`${LLAMA}/reference.json`, 'utf8'));
  const model = loadModel(LLAMA, { quiet: true });

  it('logits within 1e-4', () => {
    const rows: number[][] = llamaRef.input_ids;
    const logits = noGrad(() => model.forward(ids(rows.flat(), [rows.length, rows[0].length]))).toArray();
    const expected = (llamaRef.logits as number[][][]).flat(2);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(logits[i] - expected[i]));
    expect(worst).toBeLessThan(1e-4);
  });

  it('greedy tokens identical', () => {
    expect(greedyGenerate(model, llamaRef.greedy_prompt, 24)).toEqual(llamaRef.greedy_output);
  });
});
