// Multiplication: level shapes, the exact trace format (Horner order, one "0" per addition), the check.
import { describe, expect, it } from 'vitest';
import { digitMultiplySteps, formatMulStep } from '../src/tasks/digit_multiply.ts';
import { multiplication, multiplicationShape } from '../src/tasks/multiplication.ts';
import { CharTokenizer } from '../src/tasks/char_tokenizer.ts';
import { Rng } from '../src/tasks/rng.ts';
import { parseCompletion } from '../src/tasks/still_format.ts';
import { makeProblem } from '../src/tasks/task.ts';

const P = makeProblem('multiplication', 3, '47*36', '1692');

describe('multiplication levels', () => {
  it('grow one digit per level: 1x1, 2x1, 2x2, 3x2, 3x3, 4x3', () => {
    expect([1, 2, 3, 4, 5, 6].map(multiplicationShape)).toEqual([[1, 1], [2, 1], [2, 2], [3, 2], [3, 3], [4, 3]]);
  });

  it('generates factors of exactly those digit counts, without zero factors', () => {
    const rng = new Rng(2);
    for (let level = 1; level <= 12; level++) {
      const [n, m] = multiplicationShape(level);
      for (let i = 0; i < 30; i++) {
        const p = multiplication.generate(level, rng);
        const [a, b] = p.question.split('*') as [string, string];
        expect([a.length, b.length]).toEqual([n, m]);
        expect(a).toMatch(/^[1-9]\d*$/);
        expect(b).toMatch(/^[1-9]\d*$/);
        expect(p.answer).toBe((BigInt(a) * BigInt(b)).toString());
      }
    }
  });
});

describe('multiplication teacher', () => {
  it('writes restate steps when asked: partials by each digit of b from the left, total*10 + partial', () => {
    expect(multiplication.teacher(P, new Rng(1), { reflectionRate: 0, stepStyle: 'restate' })).toBe(
      '<|begin_of_thought|>47*3 6\n\n7*3+0=21 4:1\n\n4*3+2=14 :41\n\n0*3+1=01 :141\n\n' +
        '47*6\n\n7*6+0=42 4:2\n\n4*6+4=28 :82\n\n0*6+2=02 :282\n\n' +
        '1410+282\n\n0+2+0=02 141+28:2\n\n1+8+0=09 14+2:92\n\n4+2+0=06 1+:692\n\n1+0+0=01 +:1692\n\n' +
        'Check: 1692/36=47<|end_of_thought|><|begin_of_solution|>\\boxed{1692}<|end_of_solution|>',
    );
  });

  it('writes the documented compact steps by default', () => {
    const steps = parseCompletion(multiplication.teacher(P, new Rng(1), { reflectionRate: 0 }))!.steps;
    expect(steps).toEqual([
      '47*3 6', '7*3+0=21 1', '4*3+2=14 41', '0*3+1=01 141', '47*6', '7*6+0=42 2', '4*6+4=28 82', '0*6+2=02 282',
      '1410+282', '0+2+0=02 2', '1+8+0=09 92', '4+2+0=06 692', '1+0+0=01 1692', 'Check: 1692/36=47',
    ]);
  });

  it('appends exactly one "0" to the running total before each addition', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 100; i++) {
      const p = multiplication.generate(rng.int(3, 8), rng);
      const steps = parseCompletion(multiplication.teacher(p, rng, { reflectionRate: 0, stepStyle: 'restate' }))!.steps;
      // Split the thought into blocks, each opened by a header line, and read each block's last result.
      const blocks: { header: string; result: string }[] = [];
      for (const step of steps.filter((x) => !x.startsWith('Check: '))) {
        const result = /:(\d+)$/.exec(step);
        if (result) blocks[blocks.length - 1]!.result = result[1]!;
        else blocks.push({ header: step, result: '' });
      }
      let total = blocks[0]!.result;
      for (let k = 1; k < blocks.length; k += 2) {
        const partial = blocks[k]!;
        const add = blocks[k + 1]!;
        expect(partial.header).toMatch(/^\d+\*\d( \d+)?$/);
        expect(add.header).toBe(`${total}0+${partial.result}`);
        total = add.result;
      }
      expect(total).toBe(p.answer);
    }
  });

  it('stays under 500 tokens at the demo levels (2x2 and 3x2), slips included', () => {
    const tok = new CharTokenizer();
    const rng = new Rng(9);
    for (const level of [3, 4]) {
      for (let i = 0; i < 200; i++) {
        const p = multiplication.generate(level, rng);
        for (const stepStyle of ['compact', 'restate'] as const) {
          expect(tok.encode(multiplication.teacher(p, rng, { reflectionRate: 1, stepStyle })).length).toBeLessThan(500);
        }
      }
    }
  });
});

describe('multiplication check', () => {
  it('accepts exactly the product and rejects near misses', () => {
    expect(multiplication.check('1692', P)).toBe(true);
    for (const wrong of ['1691', '1693', '2961', '01692', '-1692', '1692.5', '47*36', '']) {
      expect(multiplication.check(wrong, P), wrong).toBe(false);
    }
  });
});

describe('digit multiplication steps', () => {
  it('writes a*d+carry with a two-digit value and the product so far', () => {
    expect(digitMultiplySteps('509', 5).map((s) => formatMulStep(s, 'restate'))).toEqual([
      '9*5+0=45 50:5', '0*5+4=04 5:45', '5*5+0=25 :545', '0*5+2=02 :2545',
    ]);
    expect(digitMultiplySteps('509', 5).map((s) => formatMulStep(s))).toEqual(['9*5+0=45 5', '0*5+4=04 45', '5*5+0=25 545', '0*5+2=02 2545']);
  });

  it('refuses a multiplier that is not one digit', () => {
    expect(() => digitMultiplySteps('12', 10)).toThrow(/digit must be 0\.\.9/);
  });
});
