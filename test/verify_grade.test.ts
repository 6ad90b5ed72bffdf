// grade()/gradeAnswer(): end-to-end verdicts, dataset policies, speed of the easy path, bounded work on hostile input.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { COMPARE_BUDGET_STEPS, WorkBudget } from '../src/verify/budget.ts';
import { equalNormalized } from '../src/verify/equal.ts';
import { normalizeAnswer } from '../src/verify/normalize.ts';
import { symbolicEqual } from '../src/verify/symbolic.ts';
import { grade, gradeAnswer, mathVerifier, verifierFromCheck, warmUpGrader } from '../src/verify/grade.ts';

beforeAll(() => warmUpGrader());

describe('grade', () => {
  it('extracts the answer and reports both sides', () => {
    const out = '<|begin_of_thought|>try 24... no<|end_of_thought|><|begin_of_solution|>So $\\boxed{25}$.<|end_of_solution|>';
    expect(grade(out, '025', 'aime24')).toEqual({ correct: true, pred_answer: '25', gold_answer: '025' });
    expect(grade('I am not sure.', '7')).toEqual({ correct: false, pred_answer: null, gold_answer: '7' });
  });

  it('accepts a numeric gold (AMC stores 27.0 as a JSON number) and a gold that is still a boxed solution', () => {
    expect(grade('\\boxed{27}', 27.0, 'amc23').correct).toBe(true);
    expect(grade('\\boxed{70}', '\\boxed{70}', 'aime25')).toEqual({ correct: true, pred_answer: '70', gold_answer: '70' });
    expect(grade('\\boxed{71}', 'so \\boxed{70}', 'aime25').correct).toBe(false);
  });

  it('exposes the same judgement as a task verifier', () => {
    const verify = mathVerifier('math500');
    expect(verify('\\boxed{\\dfrac{14}{3}}', '\\frac{14}{3}').correct).toBe(true);
    expect(verify('\\boxed{\\dfrac{3}{14}}', '\\frac{14}{3}').correct).toBe(false);
  });

  it('wraps a synthetic task check in the same Verifier shape (extraction included)', () => {
    const exactInteger = verifierFromCheck((pred, gold) => /^-?\d+$/.test(pred) && BigInt(pred) === BigInt(gold));
    expect(exactInteger('<|begin_of_solution|>\\boxed{1234567890123}<|end_of_solution|>', '1234567890123'))
      .toEqual({ correct: true, pred_answer: '1234567890123', gold_answer: '1234567890123' });
    expect(exactInteger('\\boxed{12.0}', '12').correct).toBe(false);
    expect(exactInteger('no answer', '12')).toEqual({ correct: false, pred_answer: null, gold_answer: '12' });
  });
});

describe('gradeAnswer policies', () => {
  it('compares integers exactly but decimals within a relative 1e-4', () => {
    expect(gradeAnswer('1450001', '1,450,000', 'gsm8k')).toBe(false);
    expect(gradeAnswer('0.33333', '\\frac{1}{3}')).toBe(true);
    expect(gradeAnswer('0.333', '\\frac{1}{3}')).toBe(false);
  });

  it('keeps Qwen percent leniency on MATH-style sets, drops it where a factor of 100 is never a rewriting', () => {
    expect(gradeAnswer('0.25', '25', 'math500')).toBe(true);
    expect(gradeAnswer('0.25', '25')).toBe(true);
    expect(gradeAnswer('2500', '25', 'aime24')).toBe(false);
    expect(gradeAnswer('1e-3', '1e-5', 'minerva')).toBe(false);
    // A percent sign restores it anywhere.
    expect(gradeAnswer('0.25', '25\\%', 'gsm8k')).toBe(true);
  });

  it('keeps unit-like letters in Minerva answers (m is a mass there), strips unit words elsewhere', () => {
    expect(gradeAnswer('\\frac{37}{4}', '\\frac{37}{4} m', 'minerva')).toBe(false);
    expect(gradeAnswer('50', '50 minutes', 'olympiadbench')).toBe(true);
  });

  it('treats unknown functions as functions, not products: I(0) is not I times 0', () => {
    expect(gradeAnswer('0', 'I(0)', 'minerva')).toBe(false);
    expect(gradeAnswer('I(0)', 'I(0) e^{-\\frac{t}{R C}}', 'minerva')).toBe(false);
    expect(gradeAnswer('n^2+n', 'n(n+1)')).toBe(true);
  });

  it('is deterministic: the same pair gets the same verdict every time', () => {
    const pairs: [string, string][] = [['(x-1)(x^4+x^2+1)', 'x^5 - x^4 + x^3 - x^2 + x - 1'], ['mn-\\lceil m/2\\rceil', 'm n-\\lfloor m / 2\\rfloor']];
    for (const [p, g] of pairs) {
      const first = gradeAnswer(p, g);
      for (let i = 0; i < 5; i++) expect(gradeAnswer(`${p}${' '.repeat(i)}`, g)).toBe(first);
    }
  });
});

describe('verdicts do not depend on the clock (issue 18)', () => {
  // Pairs whose verdict needs the Compute Engine's simplification, not only numeric evaluation: two
  // constants within rounding noise of 0, and an identity in a variable.
  const needsCas: [string, string][] = [['\\sin(\\pi)', '0'], ['\\tan^2(y)+1', '\\sec^2(y)']];

  it('grades the same when every clock reading jumps a minute ahead (a loaded machine)', () => {
    const idle = needsCas.map(([p, g]) => gradeAnswer(p, g));
    expect(idle).toEqual([true, true]);
    let now = performance.now();
    const perf = vi.spyOn(performance, 'now').mockImplementation(() => (now += 60_000));
    const date = vi.spyOn(Date, 'now').mockImplementation(() => (now += 60_000));
    try {
      expect(needsCas.map(([p, g]) => gradeAnswer(`${p} `, g))).toEqual(idle);
    } finally {
      perf.mockRestore();
      date.mockRestore();
    }
  });

  it('bounds the work in steps: a spent budget says "different", an ample one decides', () => {
    expect(symbolicEqual('\\tan^2(y)+1', '\\sec^2(y)', new WorkBudget(5))).toBe(false);
    expect(symbolicEqual('\\tan^2(y)+1', '\\sec^2(y)', new WorkBudget(COMPARE_BUDGET_STEPS))).toBe(true);
    const budget = new WorkBudget(COMPARE_BUDGET_STEPS);
    symbolicEqual('(x-1)(x^4+x^2+1)', 'x^5 - x^4 + x^3 - x^2 + x - 1', budget);
    expect(budget.remaining).toBeLessThan(COMPARE_BUDGET_STEPS);
  });

  it('stops a comparison whose work is past the budget, the same way every time', () => {
    // 24 long polynomials against the same 24 in reverse order: equal as sets, but parsing 48 long
    // expressions alone is past the budget, so the grader gives up and says "different".
    const items = Array.from({ length: 24 }, (_, k) => `x^{5}y^{3}+${k}x^{4}y^{2}z+${k + 1}x\\cdot y\\cdot z^{3}-${k + 2}x^{2}z^{4}+\\frac{x}{y+${k}}-\\frac{z^{2}}{x^{2}+${k + 3}}+\\sqrt{x+${k}}\\cdot\\sqrt{y+${k + 1}}`);
    const pred = normalizeAnswer(items.join(', '));
    const gold = normalizeAnswer([...items].reverse().map((q) => `${q}+0`).join(', '));
    const ample = new WorkBudget(1e12);
    expect(equalNormalized(pred, gold, { percent: false, skipUnits: false, budget: ample })).toBe(true);
    expect(1e12 - ample.remaining).toBeGreaterThan(COMPARE_BUDGET_STEPS);
    for (let i = 0; i < 2; i++) expect(gradeAnswer(pred, gold)).toBe(false);
  });
});

describe('cost', () => {
  it('grades plain integers in well under a millisecond', () => {
    const t = performance.now();
    let correct = 0;
    for (let i = 0; i < 20_000; i++) if (gradeAnswer(String(i % 1000), '025', 'aime24')) correct++;
    const perCallMs = (performance.now() - t) / 20_000;
    expect(correct).toBe(20);
    expect(perCallMs).toBeLessThan(0.05);
  });

  it('finishes hostile inputs quickly: huge factorials and powers, deep nesting, long lists and text', () => {
    const hostile: [string, string][] = [
      ['(10^{100})!', '5'], ['(10^{100})!', '(10^{100})!+1'], ['99999^{99999}', '2'], ['10^{10^{10}}', '10^{10^{10}}+1'],
      ['x^{100000}', 'x'], ['\\binom{10^{9}}{5}', '3'], ['\\sum_{i=1}^{10^{9}} i', '5'],
      [`${'('.repeat(300)}1${')'.repeat(300)}`, '1'], [`${'\\sqrt{'.repeat(200)}2${'}'.repeat(200)}`, '1'],
      [`${'1,'.repeat(500)}1`, `${'1,'.repeat(500)}2`], [`${'(1,2),'.repeat(40)}(1,2)`, `${'(2,1),'.repeat(40)}(1,2)`],
      ['x'.repeat(20_000), 'y'], [`${'{'.repeat(50_000)}\\boxed{${'{'.repeat(50_000)}`, '42'],
      // A degenerate generation that repeats an opening box.
      [`${'\\boxed{'.repeat(20_000)}1`, '2'],
    ];
    for (const [p, g] of hostile) {
      const t = performance.now();
      const verdict = grade(`\\boxed{${p}}`, g).correct;
      const ms = performance.now() - t;
      expect(verdict, p.slice(0, 30)).toBe(false);
      expect(ms, p.slice(0, 30)).toBeLessThan(1000);
    }
  });
});
