// The batched generator on tiny-qwen2: greedy equals HF, shared prefill and ragged batches change nothing,
// seeded sampling is reproducible alone or batched, stop strings and EOS end samples, log-probs are the
// model's, and 100 queued prompts through 8 slots finish with flat memory.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { TextTokenizer } from '../src/io/text_tokenizer.ts';
import { loadModel } from '../src/nn/load.ts';
import { Generator } from '../src/sample/generator.ts';
import type { GenerationRequest } from '../src/sample/request.ts';
import { noGrad } from '../src/tensor/autograd.ts';
import { getBackend } from '../src/tensor/context.ts';
import type { HostArray } from '../src/tensor/dtype.ts';
import { ids } from '../src/tensor/ops.ts';
import type { Storage } from '../src/tensor/tensor.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));
const PROMPT: number[] = ref.greedy_prompt[0];
const HF_OUT: number[] = ref.greedy_output[0].slice(PROMPT.length);

// Count live storages on the backend the model lives on: every allocation goes through wrap(), every free
// through release(). Installed before the model loads so that its weights count too.
const backend = getBackend() as unknown as { wrap: (...a: unknown[]) => unknown; release: (s: Storage) => void };
const memory = { live: 0, bytes: 0 };
const wrap = backend.wrap.bind(backend);
const release = backend.release.bind(backend);
backend.wrap = (data: unknown, ...rest: unknown[]) => {
  memory.live++;
  memory.bytes += (data as HostArray).byteLength;
  return wrap(data, ...rest);
};
backend.release = (s: Storage) => {
  memory.live--;
  memory.bytes -= (s.handle as HostArray).byteLength;
  release(s);
};

const model = loadModel(DIR, { quiet: true });

/** A prompt of length n from a fixed scramble of ids. */
const prompt = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 131 + i * 37 + 11) % 512);

describe('greedy', () => {
  it('equals the HF reference, alone and as 3 samples sharing one prefill', () => {
    const gen = new Generator(model, { maxBatch: 4, maxLen: 64 });
    const [alone] = gen.generate([{ prompt: PROMPT, params: { temperature: 0, maxNewTokens: 24 } }]);
    expect(alone.tokens).toEqual(HF_OUT);
    expect(alone.finishReason).toBe('length');
    const before = { ...gen.stats };
    const three = gen.generate([{ prompt: PROMPT, n: 3, params: { temperature: 0, maxNewTokens: 24 } }]);
    for (const r of three) expect(r.tokens).toEqual(HF_OUT);
    expect(three.map((r) => r.sample)).toEqual([0, 1, 2]);
    expect(gen.stats.prefills - before.prefills).toBe(1);
    expect(gen.stats.sharedPrefills - before.sharedPrefills).toBe(2);
    gen.dispose();
  });

  it('is unchanged by ragged batch mates, continuous batching and more samples than slots', () => {
    const gen = new Generator(model, { maxBatch: 3, maxLen: 64 });
    const greedy = { temperature: 0, maxNewTokens: 24 };
    const requests: GenerationRequest[] = [
      { prompt: prompt(1, 3), params: { ...greedy, maxNewTokens: 5 } },
      { prompt: prompt(2, 17), params: { ...greedy, maxNewTokens: 9 } },
      { prompt: PROMPT, n: 5, params: greedy },
      { prompt: prompt(3, 30), params: greedy },
    ];
    const results = gen.generate(requests);
    expect(results.map((r) => [r.request, r.sample])).toEqual([[0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [3, 0]]);
    for (const r of results.filter((x) => x.request === 2)) expect(r.tokens).toEqual(HF_OUT);
    // Each other row equals its own run alone.
    for (const i of [0, 1, 3]) expect(gen.generate([requests[i]])[0].tokens).toEqual(results.find((r) => r.request === i)!.tokens);
    gen.dispose();
  });

  it('log-probs are log_softmax of the full-sequence logits at each chosen token', () => {
    const gen = new Generator(model, { maxBatch: 2, maxLen: 64 });
    const [r] = gen.generate([{ prompt: PROMPT, params: { temperature: 0.8, maxNewTokens: 6, seed: 3, logprobs: true } }]);
    gen.dispose();
    const seq = [...PROMPT, ...r.tokens];
    const logits = noGrad(() => model.forward(ids(seq, [1, seq.length]))).toArray() as Float32Array;
    const V = 512;
    r.tokens.forEach((tok, i) => {
      const row = logits.subarray((PROMPT.length - 1 + i) * V, (PROMPT.length + i) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      expect(r.logprobs![i]).toBeCloseTo(row[tok] - lse, 4);
    });
  });
});

describe('seeded sampling', () => {
  const target: GenerationRequest = { prompt: PROMPT, n: 3, params: { temperature: 1, topP: 0.95, seed: 42, maxNewTokens: 20 } };
  const others: GenerationRequest[] = [
    { prompt: prompt(5, 12), n: 2, params: { temperature: 0.7, seed: 1, maxNewTokens: 15 } },
    { prompt: prompt(6, 4), params: { temperature: 1.2, topK: 20, seed: 9, maxNewTokens: 25 } },
  ];
  const tokensOf = (rs: { request: number; tokens: number[] }[], req: number) => rs.filter((r) => r.request === req).map((r) => r.tokens);

  it('is identical across runs and differs with the seed', () => {
    const gen = new Generator(model, { maxBatch: 4, maxLen: 64 });
    const a = gen.generate([target]);
    const b = gen.generate([target]);
    expect(b).toEqual(a);
    const c = gen.generate([{ ...target, params: { ...target.params, seed: 43 } }]);
    expect(c.map((r) => r.tokens)).not.toEqual(a.map((r) => r.tokens));
    // The three samples of one request differ from each other (sample index is in the counter).
    expect(new Set(a.map((r) => r.tokens.join())).size).toBe(3);
    gen.dispose();
  });

  it('is identical alone or batched with other requests, in any number of slots', () => {
    const alone = new Generator(model, { maxBatch: 8, maxLen: 64 });
    const want = tokensOf(alone.generate([target]), 0);
    alone.dispose();
    for (const maxBatch of [1, 2, 5]) {
      const gen = new Generator(model, { maxBatch, maxLen: 64 });
      expect(tokensOf(gen.generate([target, ...others]), 0)).toEqual(want);
      // Elsewhere in the list, the same seedIndex gives the same stream.
      expect(tokensOf(gen.generate([...others, { ...target, seedIndex: 0 }]), 2)).toEqual(want);
      gen.dispose();
    }
  });
});

/** A toy tokenizer over the tiny model's 512 ids: a few ids spell two letters, the rest <id>. */
const LETTERS: Record<number, string> = { 167: 'ef', 117: 'ab', 366: 'cd' };
const toyTokenizer: TextTokenizer = {
  vocabSize: 512, eosId: 0, padId: 0,
  encode: () => {
    throw new Error('not needed');
  },
  decode: (xs) => xs.map((x) => LETTERS[x] ?? `<${x}>`).join(''),
};

describe('stops', () => {
  // Greedy continues PROMPT with 167 167 117×9 366×13, i.e. the text "efef" + "ab"×9 + "cd"×13.
  const greedy = { temperature: 0, maxNewTokens: 24 };

  it('catches a stop string that spans a token boundary and strips it', () => {
    const gen = new Generator(model, { maxBatch: 2, maxLen: 64, tokenizer: toyTokenizer });
    const streamed: string[] = [];
    const [r] = gen.generate([{ prompt: PROMPT, params: { ...greedy, stop: ['zz', 'bc'] } }], { onToken: (e) => streamed.push(e.text) });
    expect(r.finishReason).toBe('stop');
    expect(r.stopReason).toBe('bc');
    expect(r.text).toBe('efef' + 'ab'.repeat(8) + 'a');
    expect(r.tokens).toEqual(HF_OUT.slice(0, 12)); // the token that completed the stop string is kept
    expect(streamed.join('')).toBe(r.text);
    const [span] = gen.generate([{ prompt: PROMPT, params: { ...greedy, stop: ['cdcd'] } }]);
    expect(span.text).toBe('efef' + 'ab'.repeat(9));
    expect(span.tokens.length).toBe(13);
    gen.dispose();
  });

  it('ends on an EOS id (kept in tokens, not in text), and on the token limit', () => {
    const gen = new Generator(model, { maxBatch: 2, maxLen: 64, tokenizer: toyTokenizer });
    const [eos] = gen.generate([{ prompt: PROMPT, params: { ...greedy, eosIds: [117] } }]);
    expect(eos).toMatchObject({ finishReason: 'stop', stopReason: 117, tokens: [167, 167, 117], text: 'efef' });
    const [len] = gen.generate([{ prompt: PROMPT, params: { ...greedy, maxNewTokens: 4 } }]);
    expect(len).toMatchObject({ finishReason: 'length', tokens: HF_OUT.slice(0, 4), text: 'efefabab' });
    gen.dispose();
    // A slot that fills up ends the sample with 'length' too.
    const small = new Generator(model, { maxBatch: 1, maxLen: PROMPT.length + 5 });
    const [full] = small.generate([{ prompt: PROMPT, params: greedy }]);
    expect(full.tokens).toEqual(HF_OUT.slice(0, 5));
    expect(full.finishReason).toBe('length');
    expect(() => small.generate([{ prompt: prompt(1, 13) }])).toThrow(/request 0: the prompt has 13 tokens.*maxLen 13/);
    expect(() => small.generate([{ prompt: PROMPT, params: { stop: ['x'] } }])).toThrow(/needs a tokenizer/);
    small.dispose();
  });
});

describe('continuous batching', () => {
  it('runs 100 queued prompts through 8 slots to completion with flat memory', () => {
    const requests: GenerationRequest[] = Array.from({ length: 100 }, (_, i) => ({
      prompt: prompt(i, 2 + (i % 13)),
      params: { temperature: 1, minP: 0.02, seed: i, maxNewTokens: 4 + ((i * 7) % 17), eosIds: [i % 512] },
    }));
    const before = { ...memory };
    const gen = new Generator(model, { maxBatch: 8, maxLen: 48 });
    const live: number[] = [];
    const bytes: number[] = [];
    let maxActive = 0;
    const results = gen.generate(requests, {
      onStep: (e) => {
        live.push(memory.live);
        bytes.push(memory.bytes);
        maxActive = Math.max(maxActive, e.active);
      },
    });
    expect(results.length).toBe(100);
    results.forEach((r, i) => {
      expect(r.request).toBe(i);
      expect(r.tokens.length).toBeGreaterThan(0);
      expect(r.tokens.length).toBeLessThanOrEqual(requests[i].params!.maxNewTokens!);
      expect(['stop', 'length']).toContain(r.finishReason);
    });
    expect(maxActive).toBe(8);
    expect(gen.stats.prefills).toBe(100);
    // Between steps only the cache, the weights and at most one prompt's logits are alive: flat, whatever
    // the queue holds. The cache is the only thing that grows memory, and it is fixed at maxBatch × maxLen.
    expect(Math.max(...live) - Math.min(...live)).toBeLessThanOrEqual(1);
    expect(Math.max(...bytes) - before.bytes).toBeLessThanOrEqual(gen.kvBytes + 512 * 4);
    gen.dispose();
    expect(memory.live).toBe(before.live);
    expect(memory.bytes).toBe(before.bytes);
  });

  it('lowers maxBatch to fit a KV budget', () => {
    const gen = new Generator(model, { maxBatch: 64, maxLen: 100, kvBudgetBytes: 10 * 2 * 2 * 100 * 2 * 16 * 4 });
    expect(gen.maxBatch).toBe(10);
    expect(() => new Generator(model, { maxBatch: 4, maxLen: 100, kvBudgetBytes: 1000 })).toThrow(/holds no slot/);
  });
});
