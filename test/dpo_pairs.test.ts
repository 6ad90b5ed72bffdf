// Preference pairs: which rollouts are paired and in which order (perplexity, confident, shortest, random), how a pair
// row becomes tokens and masks (the thought-only DPO mask, the NLL mask on the chosen side), and the
// errors on bad rows (missing fields, a prompt that is not the completions' prefix, empty completions).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPairs, parsePairRow, renderPair } from '../src/data/pairs.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { pairsFromRolloutRows, selectPairs, tokenPairRow, type PairCandidate } from '../src/loop/pairs.ts';
import type { RolloutsFileRow } from '../src/loop/rollouts_file.ts';
import { CharTokenizer } from '../src/tasks/char_tokenizer.ts';
import { pairBatch } from '../src/train/dpo_step.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-pairs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cand = (correct: boolean, logprob: number | undefined, tokens: number, formatOk = true): PairCandidate => ({
  chosenOk: correct && formatOk, rejectedOk: !correct, logprob, tokens, where: 'test',
});

describe('pair selection from one problem\'s rollouts', () => {
  // 0, 1 correct; 2, 3 incorrect; 4 correct but out of format (never chosen); 5 incorrect.
  const rollouts = [cand(true, -0.2, 30), cand(true, -0.9, 50), cand(false, -0.1, 40), cand(false, -0.7, 20), cand(true, -2.0, 10, false), cand(false, -0.4, 35)];

  it('perplexity: the correct rollout with the highest perplexity against the incorrect one with the lowest', () => {
    expect(selectPairs(rollouts, { rule: 'perplexity' }, 'p')).toEqual([[1, 2]]);
    expect(selectPairs(rollouts, { rule: 'perplexity', perProblem: 3 }, 'p')).toEqual([[1, 2], [0, 5]]);
  });

  it('confident: the correct rollout with the lowest perplexity against the incorrect one with the lowest', () => {
    expect(selectPairs(rollouts, { rule: 'confident' }, 'p')).toEqual([[0, 2]]);
    expect(selectPairs(rollouts, { rule: 'confident', perProblem: 2 }, 'p')).toEqual([[0, 2], [1, 5]]);
    expect(selectPairs(rollouts, { rule: 'confident', perProblem: 3 }, 'p')).toEqual([[0, 2], [1, 5]]);
    // A correct rollout out of format is never chosen, however likely.
    expect(selectPairs([cand(true, -0.05, 10, false), cand(false, -0.6, 10), cand(true, -0.3, 10)], { rule: 'confident' }, 'p')).toEqual([[2, 1]]);
  });

  it('confident: ties keep the rollouts\' order on both sides', () => {
    const tied = [cand(false, -0.3, 10), cand(true, -0.5, 10), cand(false, -0.3, 12), cand(true, -0.5, 8), cand(false, -0.1, 10), cand(true, -0.7, 10)];
    expect(selectPairs(tied, { rule: 'confident', perProblem: 3 }, 'p')).toEqual([[1, 4], [3, 0], [5, 2]]);
  });

  it('shortest: shortest chosen against shortest rejected', () => {
    expect(selectPairs(rollouts, { rule: 'shortest', perProblem: 2 }, 'p')).toEqual([[0, 3], [1, 5]]);
  });

  it('random: seeded, only eligible rollouts, no rollout twice', () => {
    const a = selectPairs(rollouts, { rule: 'random', perProblem: 2, seed: 3 }, 'p');
    expect(selectPairs(rollouts, { rule: 'random', perProblem: 2, seed: 3 }, 'p')).toEqual(a);
    expect(a).toHaveLength(2);
    expect(new Set(a.map(([c]) => c))).toEqual(new Set([0, 1]));
    for (const [, r] of a) expect([2, 3, 5]).toContain(r);
    expect(new Set(a.map(([, r]) => r)).size).toBe(2);
  });

  it('no pair without both a correct and an incorrect rollout; perplexity and confident need log-probs', () => {
    expect(selectPairs([cand(true, -1, 5), cand(true, -2, 5)], { rule: 'perplexity' }, 'p')).toEqual([]);
    expect(() => selectPairs([cand(true, undefined, 5), cand(false, -1, 5)], { rule: 'perplexity' }, 'p')).toThrow(/no 'logprob'/);
    expect(() => selectPairs([cand(true, -1, 5), cand(false, undefined, 5)], { rule: 'confident' }, 'p')).toThrow(/no 'logprob'; confident selection/);
    expect(selectPairs([cand(true, undefined, 5), cand(false, undefined, 5)], { rule: 'shortest' }, 'p')).toEqual([[0, 1]]);
  });
});

describe('pairs from an explore run\'s rollouts file', () => {
  const dir = tinyEvalModelDir();
  const tok = loadHfTokenizer(dir);
  const row = (id: string, sample: number, correct: boolean, logprob: number, text: string): RolloutsFileRow => ({
    id, question: `question ${id}`, gold: '3', sample, text, tokens: text.length, thought_tokens: 1, finish_reason: 'stop', correct,
    answer: null, format_problem: null, logprob,
  });
  it('one row per mixed problem, prompt rendered as explore prompts it, text completions', () => {
    const rows = [
      row('a', 0, true, -0.5, 'good a0'), row('a', 1, false, -0.2, 'bad a1'), row('a', 2, true, -0.8, 'good a2'),
      row('b', 0, true, -0.3, 'good b0'), row('b', 1, true, -0.1, 'good b1'),
      row('c', 0, false, -0.3, 'bad c0'), row('c', 1, true, -0.6, 'good c1'),
    ];
    const { rows: pairs, counts } = pairsFromRolloutRows(rows, 'r.jsonl', tok, 'plain', { rule: 'perplexity' });
    expect(counts).toEqual({ problems: 3, mixed: 2, pairs: 2 });
    expect(pairs.map((p) => [p.id, p.chosen, p.rejected])).toEqual([['a', 'good a2', 'bad a1'], ['c', 'good c1', 'bad c0']]);
    const confident = pairsFromRolloutRows(rows, 'r.jsonl', tok, 'plain', { rule: 'confident' }).rows;
    expect(confident.map((p) => [p.id, p.chosen, p.rejected])).toEqual([['a', 'good a0', 'bad a1'], ['c', 'good c1', 'bad c0']]);
    const chat = tok.renderChat([{ role: 'user', content: 'question a' }], { addGenerationPrompt: true });
    expect(pairs[0].prompt).toBe(chat);
    // The prompt tokens are what explore sampled from.
    const rendered = renderPair(parsePairRow(pairs[0] as unknown as Record<string, unknown>, 'x:1'), { tokenizer: tok, chat: null }, 'x:1');
    expect(rendered.prompt).toEqual(tok.encodeChat([{ role: 'user', content: 'question a' }], { addGenerationPrompt: true }));
    expect(rendered.chosen.at(-1)).toBe(tok.eosId);
  });
});

describe('pair rows → tokens and masks', () => {
  const tok = new CharTokenizer();
  it('the thought-only mask covers each completion through <|end_of_thought|>; NLL covers the whole chosen completion', () => {
    const r = tokenPairRow('p', [1, 40], '<|begin_of_thought|>ab<|end_of_thought|><|begin_of_solution|>c<|end_of_solution|>',
      '<|begin_of_thought|>x<|end_of_thought|>y', (s) => tok.encode(s), tok.eosId);
    expect(r.chosen_thought_tokens).toBe(4); // open tag, a, b, close tag
    expect(r.rejected_thought_tokens).toBe(3);
    expect(r.chosen_input_ids).toHaveLength(4 + 3 + 1);
    const pair = renderPair(parsePairRow(r as unknown as Record<string, unknown>, 't:1'), { tokenizer: null, chat: null }, 't:1');
    const b = pairBatch([pair], true, 0);
    expect([b.rows, b.cols]).toEqual([2, 10]);
    // Row 0 (chosen): 2 prompt tokens, 8 completion tokens; the target of column i is token i+1.
    expect(Array.from(b.dpoMask.slice(0, 10))).toEqual([0, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(b.nllMask.slice(0, 10))).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    // Row 1 (rejected): 2 prompt + 5 completion tokens, padded to 10; no NLL on the rejected side.
    expect(Array.from(b.dpoMask.slice(10))).toEqual([0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(b.nllMask.slice(10)).every((x) => x === 0)).toBe(true);
    expect(b.targets[10 + 1]).toBe(r.rejected_input_ids[0]);
    const whole = pairBatch([pair], false, 0);
    expect(Array.from(whole.dpoMask.slice(10))).toEqual([0, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it('text rows: completions alone or with the prompt in front give the same tokens', () => {
    const ctx = { tokenizer: tok, chat: null };
    const a = renderPair(parsePairRow({ prompt: 'Q:', chosen: 'yes', rejected: 'no' }, 'f:1'), ctx, 'f:1');
    const b = renderPair(parsePairRow({ prompt: 'Q:', chosen: 'Q:yes', rejected: 'Q:no' }, 'f:2'), ctx, 'f:2');
    expect({ ...b, source: '' }).toEqual({ ...a, source: '' });
    expect(a.chosen).toEqual([...tok.encode('yes'), tok.eosId]);
    expect(a.chosenThought).toBe(3); // no thought tag: the whole text is scored
  });

  it('conversational rows: an explicit prompt, whole conversations, or an implicit prompt give the same pair', () => {
    const user = { role: 'user', content: 'Q' };
    const a = parsePairRow({ prompt: [user], chosen: [{ role: 'assistant', content: 'yes' }], rejected: [{ role: 'assistant', content: 'no' }] }, 'f:1');
    const whole = { chosen: [user, { role: 'assistant', content: 'yes' }], rejected: [user, { role: 'assistant', content: 'no' }] };
    expect(parsePairRow({ prompt: [user], ...whole }, 'f:2')).toEqual(a);
    expect(parsePairRow(whole, 'f:3')).toEqual(a);
    expect(() => parsePairRow({ chosen: [{ role: 'assistant', content: 'yes' }], rejected: [{ role: 'assistant', content: 'no' }] }, 'f:4'))
      .toThrow(/f:4: no field 'prompt', and fields 'chosen' and 'rejected' share no leading turns/);
  });

  it('bad rows: errors name the file, the line and the field', () => {
    const file = join(tmp, 'bad.jsonl');
    const check = (row: unknown, pattern: RegExp) => {
      writeFileSync(file, `${JSON.stringify({ prompt: 'P', chosen: 'a', rejected: 'b' })}\n\n${JSON.stringify(row)}\n`);
      expect(() => loadPairs(file, { tokenizer: tok, chat: null }, { vocabSize: tok.vocabSize })).toThrow(pattern);
    };
    check({ prompt: 'P', chosen: 'a' }, /bad\.jsonl:3: missing field 'rejected'/);
    check({ prompt: 'P', chosen: 'Pa', rejected: 'b' }, /bad\.jsonl:3: field 'chosen' starts with field 'prompt' but field 'rejected' does not/);
    check({ prompt: 'P', chosen: 'a', rejected: '' }, /bad\.jsonl:3: field 'rejected' is empty/);
    check({ prompt: 'P', chosen: 'P', rejected: 'Pb' }, /bad\.jsonl:3: field 'chosen' is empty/);
    check({ prompt: '', chosen: 'a', rejected: 'b' }, /bad\.jsonl:3: field 'prompt' is empty/);
    check({ prompt: 3, chosen: 'a', rejected: 'b' }, /bad\.jsonl:3: field 'prompt' must be a string or a list/);
    check({ prompt: [{ role: 'user', content: 'hi' }], chosen: [{ role: 'user', content: 'ho' }, { role: 'assistant', content: 'a' }], rejected: [{ role: 'assistant', content: 'b' }] },
      /bad\.jsonl:3: field 'chosen' is a whole conversation, but its turn 0 differs from field 'prompt' turn 0/);
    check({ prompt_input_ids: [1], chosen_input_ids: [], rejected_input_ids: [2] }, /bad\.jsonl:3: field 'chosen_input_ids' is empty/);
    check({ prompt_input_ids: [1], chosen_input_ids: [2, 3], rejected_input_ids: [2], chosen_thought_tokens: 5 }, /bad\.jsonl:3: field 'chosen_thought_tokens' must be an integer in \[0, 2\]/);
    check({ prompt_input_ids: [1], chosen_input_ids: [2, 999], rejected_input_ids: [2] }, /bad\.jsonl:3: chosen token 1 is id 999, outside the model's vocabulary/);
  });
});
