// Eval scoring on hand-made rollouts (pass@k, maj@n, per-subject/level breakdowns), the rollout's text
// repair and lengths, prompt rendering, and the printed table.
import { describe, expect, it } from 'vitest';
import { SOLUTION_CLOSE, still2PromptTemplate } from '../src/data/still2.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { promptIds, promptStyle, styleStops, userTurn } from '../src/eval/prompt.ts';
import { completedText, gradeRollout } from '../src/eval/rollout.ts';
import { kValues, scoreRollouts, type ScoredRollout } from '../src/eval/summary.ts';
import { formatScoresTable } from '../src/eval/table.ts';
import type { GenerationResult } from '../src/sample/request.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';

/** n = 4 rollouts of one problem: answers, verdicts, and lengths that make every mean checkable. */
function problem(id: string, subject: string | undefined, level: string | undefined, answers: (string | null)[], correct: boolean[], tokens = 10): ScoredRollout[] {
  return answers.map((a, i) => ({
    id, subject, level, pred_answer: a, correct: correct[i]!, tokens: tokens + i, thought_tokens: tokens - 5 + i,
    finish_reason: i === 3 ? 'length' : 'stop',
  }));
}

const F = false;
const T = true;
const ROLLOUTS = [
  // c = 1: pass@1 1/4, pass@2 1 − C(3,2)/C(4,2) = 1/2, pass@4 1; the majority ('3') is wrong.
  ...problem('p1', 'Algebra', '1', ['2', '3', '3', 'x'], [T, F, F, F], 10),
  // c = 2: pass@2 1 − C(2,2)/C(4,2) = 5/6. '7' outvotes the two spellings of 1/2 unless they vote together.
  ...problem('p2', 'Algebra', '2', ['1/2', '\\frac{1}{2}', '7', '7'], [T, T, F, F], 20),
  // c = 0 and no answer at all: every score 0, and no vote.
  ...problem('p3', 'Geometry', '1', [null, null, null, null], [F, F, F, F], 30),
  // c = 4: every score 1.
  ...problem('p4', 'Geometry', '2', ['5', '5', '5', '5'], [T, T, T, T], 40),
];

describe('scoreRollouts', () => {
  it('k runs over powers of two up to n, and n itself', () => {
    expect(kValues(1)).toEqual([1]);
    expect(kValues(4)).toEqual([1, 2, 4]);
    expect(kValues(6)).toEqual([1, 2, 4, 6]);
    expect(kValues(16)).toEqual([1, 2, 4, 8, 16]);
  });

  it('scores pass@1, unbiased pass@k, maj@n, lengths and truncation overall', () => {
    const { overall } = scoreRollouts(ROLLOUTS, 4);
    expect(overall.problems).toBe(4);
    expect(overall.rollouts).toBe(16);
    expect(overall.pass1).toBeCloseTo((0.25 + 0.5 + 0 + 1) / 4, 12);
    expect(overall.pass_at_k['1']).toBeCloseTo(overall.pass1, 12);
    expect(overall.pass_at_k['2']).toBeCloseTo((0.5 + 5 / 6 + 0 + 1) / 4, 12);
    expect(overall.pass_at_k['4']).toBeCloseTo(3 / 4, 12);
    expect(Object.keys(overall.pass_at_k)).toEqual(['1', '2', '4']);
    expect(overall.maj_at_n).toBe(1 / 4); // only p4's majority is right
    // tokens: per problem base + 0..3, bases 10..40 → mean 25 + 1.5; thoughts 5 fewer.
    expect(overall.mean_tokens).toBeCloseTo(26.5, 12);
    expect(overall.mean_thought_tokens).toBeCloseTo(21.5, 12);
    expect(overall.truncated).toBe(1 / 4);
  });

  it('votes on the ballot voteKey gives, ties going to the answer seen first', () => {
    const sameHalf = (a: string) => (a === '\\frac{1}{2}' ? '1/2' : a);
    expect(scoreRollouts(ROLLOUTS, 4, sameHalf).overall.maj_at_n).toBe(2 / 4);
  });

  it('breaks scores down by subject and by level, levels in numeric order', () => {
    const s = scoreRollouts(ROLLOUTS, 4);
    expect(Object.keys(s.by_subject!)).toEqual(['Algebra', 'Geometry']);
    expect(s.by_subject!.Algebra!.pass1).toBeCloseTo((0.25 + 0.5) / 2, 12);
    expect(s.by_subject!.Algebra!.pass_at_k['2']).toBeCloseTo((0.5 + 5 / 6) / 2, 12);
    expect(s.by_subject!.Geometry!.maj_at_n).toBe(0.5);
    expect(s.by_level!['1']!.pass1).toBeCloseTo(0.125, 12);
    expect(s.by_level!['2']!.pass1).toBeCloseTo(0.75, 12);
    expect(s.by_level!['2']!.problems).toBe(2);

    const levels = scoreRollouts([...problem('a', undefined, '10', ['1', '1', '1', '1'], [T, T, T, T]), ...problem('b', undefined, '2', ['1', '1', '1', '1'], [F, F, F, F])], 4);
    expect(levels.by_subject).toBeUndefined();
    expect(Object.keys(levels.by_level!)).toEqual(['2', '10']);
    // A set that labels some problems puts the rest under '(none)'.
    const partly = scoreRollouts([...problem('a', 'Algebra', undefined, ['1', '1', '1', '1'], [T, T, T, T]), ...problem('b', undefined, undefined, ['1', '1', '1', '1'], [F, F, F, F])], 4);
    expect(Object.keys(partly.by_subject!)).toEqual(['(none)', 'Algebra']);
    expect(partly.by_level).toBeUndefined();
  });

  it('greedy (n = 1): pass@1 is the accuracy and maj@1 agrees with it', () => {
    const greedy = [T, F, T].map((c, i) => ({ id: `g${i}`, pred_answer: c ? '1' : '2', correct: c, tokens: 3, thought_tokens: 3, finish_reason: 'stop' as const }));
    const { overall } = scoreRollouts(greedy, 1);
    expect(overall.pass1).toBeCloseTo(2 / 3, 12);
    expect(overall.pass_at_k).toEqual({ '1': overall.pass1 });
    expect(overall.maj_at_n).toBeCloseTo(2 / 3, 12);
  });

  it('refuses a problem with the wrong number of rollouts (duplicate ids, lost samples)', () => {
    expect(() => scoreRollouts(ROLLOUTS.slice(1), 4)).toThrow(/problem 'p1' has 3 rollouts, expected n = 4/);
    expect(() => scoreRollouts(ROLLOUTS, 0)).toThrow(/n must be a positive integer/);
  });

  it('prints one row overall, per subject and per level, in percent', () => {
    const table = formatScoresTable('math500: test', scoreRollouts(ROLLOUTS, 4));
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toBe('math500: test');
    expect(lines[1]!.split(/\s+/).filter(Boolean)).toEqual(['problems', 'pass@1', 'pass@2', 'pass@4', 'maj@4', 'thought', 'tokens', 'trunc%']);
    expect(lines[2]!.split(/\s+/)).toEqual(['all', '4', '43.8', '58.3', '75.0', '25.0', '22', '27', '25.0']);
    expect(lines.slice(3).map((l) => l.split(/\s{2,}/)[0])).toEqual(['Algebra', 'Geometry', 'level 1', 'level 2']);
  });
});

describe('eval rollouts', () => {
  const result = (text: string, finishReason: 'stop' | 'length', stopReason?: number | string): GenerationResult => ({
    request: 0, sample: 2, tokens: [1, 2, 3, 4, 5, 6], text, finishReason, stopReason,
  });
  const item = { id: 'q7', problem: 'What is 2+3?', gold: '5', subject: 'Algebra', level: '1' };

  it('puts the solution close tag back when it stopped the sample, and only then', () => {
    const body = '<|begin_of_thought|>add<|end_of_thought|><|begin_of_solution|>\\boxed{5}';
    expect(completedText(result(body, 'stop', SOLUTION_CLOSE))).toBe(body + SOLUTION_CLOSE);
    expect(completedText(result(body, 'stop', 511))).toBe(body);
    expect(completedText(result(body, 'length'))).toBe(body);
  });

  it('grades the completed text and counts thought tokens between the tags, else all tokens', () => {
    const seen: string[] = [];
    const grader = (text: string, gold: string, dataset?: string) => {
      seen.push(`${dataset}|${gold}|${text}`);
      return { correct: text.includes('\\boxed{5}'), pred_answer: '5', gold_answer: gold };
    };
    const words = (t: string) => t.split(/\s+/).filter(Boolean).length;
    const thought = '<|begin_of_thought|>one two three<|end_of_thought|><|begin_of_solution|>\\boxed{5}';
    const r = gradeRollout(item, result(thought, 'stop', SOLUTION_CLOSE), grader, words, 'math500');
    expect(seen).toEqual([`math500|5|${thought}${SOLUTION_CLOSE}`]);
    expect(r).toEqual({
      id: 'q7', sample: 2, subject: 'Algebra', level: '1', problem: item.problem, gold: '5', text: thought + SOLUTION_CLOSE,
      pred_answer: '5', correct: true, tokens: 6, thought_tokens: 3, finish_reason: 'stop',
    });
    // A thought cut off by the token limit runs to the end of the text.
    expect(gradeRollout(item, result('<|begin_of_thought|>a b c d e', 'length'), grader, words).thought_tokens).toBe(5);
    // No tags: the whole generation is thought.
    const plain = gradeRollout({ id: 'x', problem: 'p', gold: '1' }, result('so 5', 'length'), grader, words);
    expect(plain.thought_tokens).toBe(6);
    expect('subject' in plain || 'level' in plain).toBe(false);
  });
});

describe('eval prompts', () => {
  const tok = loadHfTokenizer(tinyEvalModelDir());

  it('asks the question as the user turn of the chat template, after the STILL-2 instruction with --prompt still2', () => {
    expect(userTurn('Q?', 'plain')).toBe('Q?');
    expect(userTurn('Q?', 'still2')).toBe(still2PromptTemplate() + 'Q?');
    for (const style of ['plain', 'still2'] as const) {
      const ids = promptIds(tok, 'What is 2+3?', style);
      expect(ids).toEqual(tok.encodeChat([{ role: 'user', content: userTurn('What is 2+3?', style) }], { addGenerationPrompt: true }));
      expect(tok.decode(ids)).toMatch(/<\|im_start\|>user\n[\s\S]*What is 2\+3\?<\|im_end\|>\n<\|im_start\|>assistant\n$/);
      expect(Math.max(...ids)).toBeLessThan(512);
    }
    expect(styleStops('still2')).toEqual([SOLUTION_CLOSE]);
    expect(styleStops('plain')).toEqual([]);
    expect(() => promptStyle('chatml')).toThrow(/--prompt must be one of still2, plain, got 'chatml'/);
  });
});
