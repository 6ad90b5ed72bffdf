// Addition: the exact trace format, operand shapes per level, length budget, and the answer check.
import { describe, expect, it } from 'vitest';
import { addition } from '../src/tasks/addition.ts';
import { CharTokenizer } from '../src/tasks/char_tokenizer.ts';
import { columnAddSteps, formatAddStep } from '../src/tasks/column_add.ts';
import { Rng } from '../src/tasks/rng.ts';
import { parseCompletion } from '../src/tasks/still_format.ts';
import { makeProblem, STEP_STYLES, type StepStyle } from '../src/tasks/task.ts';

const P = makeProblem('addition', 4, '4821+973', '5794');

describe('addition teacher', () => {
  it('writes restate steps when asked: what is left of the operands, then the result so far', () => {
    expect(addition.teacher(P, new Rng(1), { reflectionRate: 0, stepStyle: 'restate' })).toBe(
      '<|begin_of_thought|>1+3+0=04 482+97:4\n\n2+7+0=09 48+9:94\n\n8+9+0=17 4+:794\n\n4+0+1=05 +:5794\n\n' +
        'Check: 5794-973=4821<|end_of_thought|><|begin_of_solution|>\\boxed{5794}<|end_of_solution|>',
    );
  });

  it('writes the documented trace by default: compact LSD-first steps, carries, the result so far, a check', () => {
    expect(addition.teacher(P, new Rng(1), { reflectionRate: 0 })).toBe(
      '<|begin_of_thought|>1+3+0=04 4\n\n2+7+0=09 94\n\n8+9+0=17 794\n\n4+0+1=05 5794\n\n' +
        'Check: 5794-973=4821<|end_of_thought|><|begin_of_solution|>\\boxed{5794}<|end_of_solution|>',
    );
    expect(() => addition.teacher(P, new Rng(1), { stepStyle: 'terse' as 'compact' })).toThrow(/stepStyle must be one of compact, restate, got "terse"/);
  });

  it('writes a slip as a whole wrong step followed by "Wait, " and the right step', () => {
    const steps = parseCompletion(addition.teacher(P, new Rng(1), { reflectionRate: 1, stepStyle: 'restate' }))!.steps;
    const wait = steps.findIndex((s) => s.startsWith('Wait, '));
    expect(wait).toBeGreaterThan(0);
    const wrong = steps[wait - 1]!;
    const right = steps[wait]!.slice('Wait, '.length);
    expect(wrong).not.toBe(right);
    // Same digits consumed, different sum: the error is visible inside the step or against the carry before it.
    const left = (step: string): string => step.split(' ')[1]!.split(':')[0]!;
    expect(left(wrong)).toBe(left(right));
    expect(steps.filter((s) => !s.startsWith('Wait, ')).length).toBe(steps.length - 1);
  });

  it('in restate style, makes each step depend only on the step before it', () => {
    // Re-derive every step from the previous line alone: digits from the ends of the operands left,
    // carry from the tens digit of the previous sum.
    const rng = new Rng(11);
    for (let i = 0; i < 200; i++) {
      const p = addition.generate(rng.int(1, 12), rng);
      const steps = parseCompletion(addition.teacher(p, rng, { reflectionRate: 0, stepStyle: 'restate' }))!.steps.slice(0, -1);
      let prev = { a: p.question.split('+')[0]!, b: p.question.split('+')[1]!, carry: 0, result: '' };
      for (const step of steps) {
        const m = /^(\d)\+(\d)\+(\d)=(\d)(\d) (\d*)\+(\d*):(\d+)$/.exec(step)!;
        expect(m, step).not.toBeNull();
        const da = prev.a.length ? Number(prev.a.at(-1)) : 0;
        const db = prev.b.length ? Number(prev.b.at(-1)) : 0;
        expect([Number(m[1]), Number(m[2]), Number(m[3])]).toEqual([da, db, prev.carry]);
        expect(Number(m[4]) * 10 + Number(m[5])).toBe(da + db + prev.carry);
        expect([m[6], m[7], m[8]]).toEqual([prev.a.slice(0, -1), prev.b.slice(0, -1), m[5] + prev.result]);
        prev = { a: m[6]!, b: m[7]!, carry: Number(m[4]), result: m[8]! };
      }
      expect(prev.result).toBe(p.answer);
    }
  });

  it('stays within the token budget: 3 digits under 150, 10 digits under 400 (a slip adds one step)', () => {
    const tok = new CharTokenizer();
    const maxTokens = (level: number, reflectionRate: number, stepStyle: StepStyle): number => {
      const rng = new Rng(level);
      let max = 0;
      for (let i = 0; i < 300; i++) {
        const p = addition.generate(level, rng);
        max = Math.max(max, tok.encode(addition.teacher(p, rng, { reflectionRate, stepStyle })).length);
      }
      return max;
    };
    for (const style of STEP_STYLES) {
      expect(maxTokens(3, 0, style)).toBeLessThan(150);
      expect(maxTokens(3, 1, style)).toBeLessThan(150);
      expect(maxTokens(10, 0, style)).toBeLessThan(400);
      expect(maxTokens(10, 1, style)).toBeLessThan(440);
    }
    expect(maxTokens(10, 1, 'compact')).toBeLessThan(300);
  });
});

describe('addition generator', () => {
  it('makes the longer operand exactly `level` digits, the other 1..level, no leading zeros', () => {
    const rng = new Rng(3);
    for (let level = 1; level <= 30; level++) {
      for (let i = 0; i < 30; i++) {
        const p = addition.generate(level, rng);
        const [a, b] = p.question.split('+') as [string, string];
        expect(Math.max(a.length, b.length)).toBe(level);
        for (const x of [a, b]) expect(x).toMatch(/^(0|[1-9]\d*)$/);
        expect(p.answer).toBe((BigInt(a) + BigInt(b)).toString());
      }
    }
  });
});

describe('addition check', () => {
  it('accepts exactly the sum', () => {
    expect(addition.check('5794', P)).toBe(true);
    expect(addition.check(' 5794 ', P)).toBe(true);
  });

  it('rejects off-by-one, reversed digits, leading zeros, signs and decoration', () => {
    for (const wrong of ['5793', '5795', '4975', '05794', '+5794', '5794.0', '5,794', '57 94', '5794a', '']) {
      expect(addition.check(wrong, P), wrong).toBe(false);
    }
  });
});

describe('column addition steps', () => {
  it('adds a final carry as its own step and handles unequal lengths', () => {
    const steps = columnAddSteps('99', '1');
    expect(steps.map((s) => formatAddStep(s, 'restate'))).toEqual(['9+1+0=10 9+:0', '9+0+1=10 +:00', '0+0+1=01 +:100']);
    expect(steps.map((s) => formatAddStep(s))).toEqual(['9+1+0=10 0', '9+0+1=10 00', '0+0+1=01 100']);
  });

  it('refuses operands that are not digits', () => {
    expect(() => columnAddSteps('12a', '3')).toThrow(/operand x must be decimal digits/);
  });
});
