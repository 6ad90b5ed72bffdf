// Column addition written LSD-first, one digit per thought step, shared by addition and multiplication.
//
// 'compact' (default), for 4821+973:  "1+3+0=04 4", "2+7+0=09 94", "8+9+0=17 794", "4+0+1=05 5794".
// Each step reads: the next digit of each operand from the right (an exhausted operand gives 0), plus
// the carry = two-digit sum (carry, digit), then the result so far with the new digit in front. The
// carry comes from the step before, and the last step holds the answer in normal order.
// 'restate' also writes what is left of both operands, "1+3+0=04 482+97:4", so the next step takes its
// digits from the ends of "482" and "97" and never looks further back (see StepStyle in task.ts).

import type { StepStyle } from './task.ts';

export interface AddStep {
  a: number;
  b: number;
  carryIn: number;
  /** a + b + carryIn, in 0..19. */
  sum: number;
  /** Operands left after this step (MSD-first strings, possibly empty) and the result so far. */
  restA: string;
  restB: string;
  result: string;
}

/** The steps that add two non-negative decimal strings; the last step's result is the sum. */
export function columnAddSteps(x: string, y: string): AddStep[] {
  for (const [name, v] of [['x', x], ['y', y]] as const) {
    if (!/^\d+$/.test(v)) throw new Error(`tasks/column_add: operand ${name} must be decimal digits, got ${JSON.stringify(v)}`);
  }
  const steps: AddStep[] = [];
  let restA = x, restB = y, result = '', carry = 0;
  while (restA.length > 0 || restB.length > 0 || carry > 0) {
    const a = restA.length > 0 ? Number(restA[restA.length - 1]) : 0;
    const b = restB.length > 0 ? Number(restB[restB.length - 1]) : 0;
    const sum = a + b + carry;
    restA = restA.slice(0, -1);
    restB = restB.slice(0, -1);
    result = String(sum % 10) + result;
    steps.push({ a, b, carryIn: carry, sum, restA, restB, result });
    carry = Math.floor(sum / 10);
  }
  return steps;
}

/**
 * "a+b+c=cs restA+restB:result" ('restate') or "a+b+c=cs result" ('compact'); `sum` and `carryIn`
 * may be overridden to write a slip.
 */
export function formatAddStep(s: AddStep, style: StepStyle = 'compact', sum = s.sum, carryIn = s.carryIn): string {
  const result = String(sum % 10) + s.result.slice(1);
  const head = `${s.a}+${s.b}+${carryIn}=${String(sum).padStart(2, '0')}`;
  return style === 'restate' ? `${head} ${s.restA}+${s.restB}:${result}` : `${head} ${result}`;
}

/**
 * The step and its plausible slips: a sum off by one (a miscounted fact), and, when a carry came in,
 * the carry forgotten. Each slip is detectable from the step itself or from the carry in the step before.
 */
export function addStepText(s: AddStep, style: StepStyle = 'compact'): { text: string; slips: string[] } {
  const slips = [s.sum === 0 ? 1 : s.sum === 19 ? 18 : s.sum + 1, s.sum === 0 || s.sum === 19 ? null : s.sum - 1]
    .filter((v): v is number => v !== null)
    .map((wrong) => formatAddStep(s, style, wrong));
  if (s.carryIn === 1) slips.push(formatAddStep(s, style, s.sum - 1, 0));
  return { text: formatAddStep(s, style), slips };
}
