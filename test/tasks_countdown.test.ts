// Countdown: the checker's rules (each number exactly once, exact value, whole divisions), the
// generator's guarantees, the teacher's search trace, and the expression evaluator under it.
import { describe, expect, it } from 'vitest';
import { evaluateExpression } from '../src/tasks/arith_expr.ts';
import { chainExpression, checkCountdown, countdown, parseCountdownQuestion } from '../src/tasks/countdown.ts';
import { Rng } from '../src/tasks/rng.ts';
import { parseCompletion } from '../src/tasks/still_format.ts';
import { makeProblem } from '../src/tasks/task.ts';
import { extractAnswer } from '../src/verify/extract.ts';

const P = makeProblem('countdown', 4, '8 3 5 2 -> 33', '((8-2)*5)+3');

describe('countdown check', () => {
  it('accepts any expression that uses each number once and hits the target', () => {
    for (const ok of ['((8-2)*5)+3', '(8-2)*5+3', '3+5*(8-2)', ' ( 8 - 2 ) * 5 + 3 ', '(8-2)*5+3=33', '(8-2)×5+3', '(8−2)x5+3']) {
      expect(countdown.check(ok, P), ok).toBe(true);
    }
  });

  it('rejects a wrong value, a reused, missing or foreign number, and a wrong stated result', () => {
    const cases: [string, RegExp][] = [
      ['(8-2)*5+2', /uses \[2 2 5 8\]/],
      ['(8-2)*5', /uses \[2 5 8\]/],
      ['(8-2)*5+3+0', /uses \[0 2 3 5 8\]/],
      ['(8+2)*3+5', /evaluates to 35/],
      ['(8-2)*5+3=34', /states 34/],
      ['(8-2)*5+3=33=33', /more than one "="/],
      ['33', /uses \[33\]/],
      ['(8-2)*5+03', /number 03 has a leading zero/],
    ];
    for (const [answer, reason] of cases) {
      const r = checkCountdown(answer, [8, 3, 5, 2], 33);
      expect(r.ok, answer).toBe(false);
      expect(r.reason, answer).toMatch(reason);
    }
  });

  it('rejects division by zero and divisions that are not whole', () => {
    expect(checkCountdown('7/(2-2)+5', [7, 2, 2, 5], 12)).toEqual({ ok: false, reason: 'division by zero' });
    // 7/2*2 = 7 exactly in rationals, but 7/2 is not a whole number, which Countdown forbids.
    expect(checkCountdown('7/2*2', [7, 2, 2], 7).ok).toBe(false);
    expect(checkCountdown('7/2*2', [7, 2, 2], 7).reason).toMatch(/7\/2 is not a whole number/);
    expect(checkCountdown('8/2*2', [8, 2, 2], 8).ok).toBe(true);
  });

  it('rejects syntax errors and unary minus without throwing', () => {
    for (const bad of ['(8-2*5+3', '8-2)*5+3', '8 2', '-8+2', '8+', 'eval(1)', '8^2', '']) {
      expect(countdown.check(bad, P), bad).toBe(false);
    }
  });
});

describe('expression evaluator', () => {
  it('respects precedence and left associativity, exactly', () => {
    const value = (e: string): string => {
      const r = evaluateExpression(e);
      if (!r.ok) throw new Error(r.reason);
      return r.value.toString();
    };
    expect(value('2+3*4')).toBe('14');
    expect(value('(2+3)*4')).toBe('20');
    expect(value('10-4-3')).toBe('3');
    expect(value('64/8/2')).toBe('4');
    expect(value('3-10')).toBe('-7');
    expect(value('99999999999*99999999999')).toBe('9999999999800000000001');
  });

  it('reports which numbers were used, in order', () => {
    const r = evaluateExpression('((3+2)*5)+8');
    expect(r.ok && r.numbers).toEqual([3, 2, 5, 8]);
  });
});

describe('countdown generator', () => {
  it('makes `level` numbers in 1..10 and a target that is none of them, solvable by its gold chain', () => {
    const rng = new Rng(4);
    for (let level = 2; level <= 6; level++) {
      for (let i = 0; i < 50; i++) {
        const p = countdown.generate(level, rng);
        const { numbers, target } = parseCountdownQuestion(p.question);
        expect(numbers.length).toBe(level);
        for (const n of numbers) expect(n >= 1 && n <= 10).toBe(true);
        expect(numbers).not.toContain(target);
        expect(target >= 1 && target <= 100).toBe(true);
        expect(countdown.check(p.answer, p), p.answer).toBe(true);
      }
    }
  });

  it('refuses a malformed question with the expected form in the message', () => {
    expect(() => parseCountdownQuestion('8,3,5 -> 33')).toThrow(/not of the form "8 3 5 2 -> 33"/);
  });
});

describe('countdown teacher', () => {
  it('writes chain steps with what is left, and a check of the fully parenthesised answer', () => {
    expect(countdown.teacher(P, new Rng(1), { reflectionRate: 0 })).toBe(
      '<|begin_of_thought|>2*8=16 [3 5]\n\n16-5=11 [3]\n\n11*3=33 yes\n\nCheck: ((2*8)-5)*3=33' +
        '<|end_of_thought|><|begin_of_solution|>\\boxed{((2*8)-5)*3}<|end_of_solution|>',
    );
  });

  it('abandons dead ends: a wrong last step, or a whole wrong chain and "Back:" to the start', () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const trace = countdown.teacher(P, new Rng(seed), { reflectionRate: 1 });
      const steps = parseCompletion(trace)!.steps;
      const dead = steps.findIndex((s) => s.endsWith(' no'));
      expect(dead, trace).toBeGreaterThanOrEqual(0);
      // The dead end really misses: its value is not the target.
      expect(steps[dead]).not.toMatch(/=33 no$/);
      kinds.add(steps[dead + 1]!.startsWith('Back: ') ? 'restart' : 'last-step');
      expect(countdown.check(extractAnswer(trace)!, P)).toBe(true);
    }
    expect(kinds).toEqual(new Set(['restart', 'last-step']));
  });

  it('solves questions it did not generate, and fails clearly on unsolvable ones', () => {
    const solvable = makeProblem('countdown', 3, '4 6 9 -> 15', '');
    expect(countdown.check(extractAnswer(countdown.teacher(solvable, new Rng(2)))!, solvable)).toBe(true);
    const unsolvable = makeProblem('countdown', 2, '1 1 -> 97', '');
    expect(() => countdown.teacher(unsolvable, new Rng(2))).toThrow(/no chain solution for "1 1 -> 97"/);
  });

  it('parenthesises chains from the left', () => {
    const step = (left: number, op: '+' | '-' | '*' | '/', right: number, value: number) => ({ left, op, right, value });
    expect(chainExpression(7, [step(7, '+', 1, 8)])).toBe('7+1');
    expect(chainExpression(7, [step(7, '+', 1, 8), step(8, '*', 2, 16), step(16, '-', 3, 13)])).toBe('((7+1)*2)-3');
  });
});
