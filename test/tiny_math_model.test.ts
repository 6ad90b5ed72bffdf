// examples/tiny-math (scripts/make_tiny_math.ts): the committed model directory loads as an HF checkpoint,
// its own tokenizer renders the plain chat prompt, greedy decoding solves level-1 problems on the CPU
// backend, and the data files have the documented shapes, disjoint by question.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { still2FormatProblem } from '../src/data/still2.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { loadModel } from '../src/nn/load.ts';
import { Generator } from '../src/sample/generator.ts';
import { parseWordProblem } from '../src/tasks/word_problems.ts';
import { lastBoxed, solutionBlock } from '../src/verify/extract.ts';
import { gradeAnswer } from '../src/verify/grade.ts';

const DIR = join(import.meta.dirname, '..', 'examples', 'tiny-math');
const MODEL = join(DIR, 'model');
const rows = (file: string) => readFileSync(join(DIR, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('examples/tiny-math', () => {
  const tok = loadHfTokenizer(MODEL);

  it('loads as a Qwen2 checkpoint whose vocabulary is its own tokenizer', () => {
    const model = loadModel(MODEL, { dtype: 'f32' });
    const c = model.config;
    expect(c.modelType).toBe('qwen2');
    expect(c.vocabSize).toBe(tok.vocabSize);
    expect(c.eosTokenIds).toEqual([tok.eosId]);
    expect(tok.stopIds).toEqual([tok.eosId, tok.padId]); // generation_config.json adds <|endoftext|>
    expect(c.tieWordEmbeddings).toBe(true);
    expect(tok.tokenToString(tok.eosId)).toBe('<|im_end|>');
  });

  it('renders the plain prompt (the bare question as the user turn) with its ChatML template', () => {
    const q = 'Mia has 4821 stickers. She gets 973 more. How many stickers does Mia have now?';
    const text = tok.renderChat([{ role: 'user', content: q }], { addGenerationPrompt: true });
    expect(text).toBe(`<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`);
    const ids = tok.encodeChat([{ role: 'user', content: q }], { addGenerationPrompt: true });
    expect(ids[0]).toBe(tok.tokenToId('<|im_start|>'));
    expect(tok.decode(ids)).toBe(text);
    expect(ids.length).toBeLessThan(text.length / 2); // a real BPE: words are merged
  });

  it('solves level-1 test problems with greedy decoding, in the STILL-2 format', () => {
    const model = loadModel(MODEL, { dtype: 'f32' });
    // Problems the build's model gets right (checked when it was made); greedy CPU decoding is deterministic.
    const problems = rows('test.jsonl').filter((r) => r.level === 1).slice(0, 4);
    const gen = new Generator(model, {
      maxBatch: 4, maxLen: model.config.maxPositionEmbeddings,
      tokenizer: { vocabSize: tok.vocabSize, eosId: tok.eosId, padId: tok.padId, encode: (t) => tok.encode(t), decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }) },
    });
    try {
      const results = gen.generate(problems.map((p) => ({
        prompt: tok.encodeChat([{ role: 'user', content: String(p.problem) }], { addGenerationPrompt: true }),
        params: { temperature: 0, maxNewTokens: 120 },
      })));
      for (const r of results) {
        const p = problems[r.request]!;
        const text = r.text ?? '';
        expect(r.finishReason).toBe('stop');
        expect(still2FormatProblem(text)).toBeNull();
        expect(text.startsWith(`<|begin_of_thought|>${parseWordProblem(String(p.problem)).join('+')}\n\n`)).toBe(true);
        expect(gradeAnswer(lastBoxed(solutionBlock(text)!)!, String(p.answer))).toBe(true);
      }
    } finally {
      gen.dispose();
    }
  });

  it('ships distilled STILL-2 rows, explore and test problems, disjoint by question', () => {
    const distilled = rows('distilled.jsonl');
    const explore = rows('explore.jsonl');
    const test = rows('test.jsonl');
    for (const r of distilled) {
      expect(Object.keys(r).sort()).toEqual(['combined_text', 'domain', 'question']);
      expect(still2FormatProblem(String(r.combined_text))).toBeNull();
    }
    for (const r of [...explore, ...test]) expect(Object.keys(r).sort()).toEqual(['answer', 'level', 'problem']);
    const levels = (rs: Record<string, unknown>[]) => [...new Set(rs.map((r) => r.level))].sort();
    expect(levels(explore)).toEqual([4]);
    expect(levels(test)).toEqual([1, 2, 3, 4]);
    expect(test.filter((r) => r.level === 4).length).toBeGreaterThanOrEqual(200);
    const sets = [distilled.map((r) => r.question), explore.map((r) => r.problem), test.map((r) => r.problem)].map((qs) => new Set(qs));
    expect(sets.map((s) => s.size)).toEqual([distilled.length, explore.length, test.length]);
    for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) expect([...sets[i]!].filter((q) => sets[j]!.has(q))).toEqual([]);
  });
});
