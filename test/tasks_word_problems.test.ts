// Word problems: levels and number shapes, determinism, the trace (numbers pulled out of the sentence, then
// the restate column steps and a check), the STILL-2 format and the math grader's verdict on its answer.
import { describe, expect, it } from 'vitest';
import { still2FormatProblem } from '../src/data/still2.ts';
import { Rng } from '../src/tasks/rng.ts';
import { parseCompletion } from '../src/tasks/still_format.ts';
import { makeProblem } from '../src/tasks/task.ts';
import { parseWordProblem, wordProblems } from '../src/tasks/word_problems.ts';
import { lastBoxed, solutionBlock } from '../src/verify/extract.ts';
import { gradeAnswer } from '../src/verify/grade.ts';

const P = makeProblem('word_problems', 4, 'Mia has 4821 stickers. She gets 973 more. How many stickers does Mia have now?', '5794');

describe('word problems', () => {
  it('writes the numbers first, then restate column steps, a check and the boxed sum', () => {
    expect(wordProblems.teacher(P, new Rng(1), { reflectionRate: 0 })).toBe(
      '<|begin_of_thought|>4821+973\n\n1+3+0=04 482+97:4\n\n2+7+0=09 48+9:94\n\n8+9+0=17 4+:794\n\n4+0+1=05 +:5794\n\n' +
        'Check: 5794-973=4821<|end_of_thought|><|begin_of_solution|>\\boxed{5794}<|end_of_solution|>',
    );
    expect(parseWordProblem(P.question)).toEqual(['4821', '973']);
    expect(() => parseWordProblem('Mia has stickers.')).toThrow(/exactly two numbers/);
  });

  it('draws the longer number with `level` digits and states a sum the answer matches', () => {
    const rng = new Rng(3);
    for (let level = 1; level <= 10; level++) {
      for (let i = 0; i < 30; i++) {
        const p = wordProblems.generate(level, rng);
        const [a, b] = parseWordProblem(p.question);
        expect(Math.max(a.length, b.length)).toBe(level);
        expect(p.answer).toBe((BigInt(a) + BigInt(b)).toString());
        expect(p.id).toMatch(new RegExp(`^word_problems-${level}-[0-9a-f]{16}$`));
        expect(p.question).toMatch(/^[A-Z][ -~]+\?$/); // one printable-ASCII sentence pair ending in a question
      }
    }
    expect(() => wordProblems.generate(0, rng)).toThrow(/level must be an integer in \[1, 10\]/);
  });

  it('is deterministic for a seed and varies the story', () => {
    const draw = (seed: number) => Array.from({ length: 40 }, (_, i) => wordProblems.generate(1 + (i % 5), new Rng(seed + i)));
    expect(draw(7)).toEqual(draw(7));
    const questions = draw(7).map((p) => p.question);
    expect(new Set(questions.map((q) => q.split(' ')[0])).size).toBeGreaterThan(4); // names (or "A box …")
    expect(new Set(questions.map((q) => q.replace(/\d+/g, 'N'))).size).toBeGreaterThan(20);
    const traces = (seed: number) => draw(seed).map((p, i) => wordProblems.teacher(p, new Rng(i)));
    expect(traces(7)).toEqual(traces(7));
  });

  it('writes traces in the STILL-2 format whose boxed answer the math grader accepts, slips caught with "Wait"', () => {
    const rng = new Rng(5);
    let slips = 0;
    for (let i = 0; i < 200; i++) {
      const p = wordProblems.generate(rng.int(1, 6), rng);
      const trace = wordProblems.teacher(p, rng);
      expect(still2FormatProblem(trace)).toBeNull();
      const parsed = parseCompletion(trace)!;
      expect(parsed.steps[0]).toBe(parseWordProblem(p.question).join('+'));
      expect(parsed.steps.at(-1)).toMatch(/^Check: \d+-\d+=\d+$/);
      const box = lastBoxed(solutionBlock(trace)!)!;
      expect(gradeAnswer(box, p.answer)).toBe(true);
      expect(wordProblems.check(box, p)).toBe(true);
      if (wordProblems.hasReflection(trace)) {
        slips++;
        expect(trace).toContain('\n\nWait, ');
      }
    }
    expect(slips).toBeGreaterThan(35); // the default rate is 30%
    expect(slips).toBeLessThan(85);
    const sure = wordProblems.teacher(P, new Rng(2), { reflectionRate: 1 });
    expect(sure).toMatch(/\n\nWait, \d\+\d\+\d=\d\d /);
    expect(wordProblems.check('5795', P)).toBe(false);
  });
});
