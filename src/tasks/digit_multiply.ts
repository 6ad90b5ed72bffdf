// Multiplying a number by one digit, LSD-first, one thought step per digit (the partial products of long
// multiplication). Same shape as column_add.ts: each step restates what is left, so it is local.
//
//   "7*6+0=42 2"  reads: next digit of the number from the right, times the digit, plus the carry,
//   = two-digit value (carry, digit); then the product so far. The 'restate' style also writes what
//   is left of the number, "7*6+0=42 4:2" (see StepStyle in task.ts).

import type { StepStyle } from './task.ts';

export interface MulStep {
  a: number;
  digit: number;
  carryIn: number;
  /** a * digit + carryIn, in 0..89. */
  value: number;
  restA: string;
  result: string;
}

/** The steps of `x` (decimal string) times `digit`; the last step's result is the product. */
export function digitMultiplySteps(x: string, digit: number): MulStep[] {
  if (!/^\d+$/.test(x)) throw new Error(`tasks/digit_multiply: operand must be decimal digits, got ${JSON.stringify(x)}`);
  if (!Number.isInteger(digit) || digit < 0 || digit > 9) throw new Error(`tasks/digit_multiply: digit must be 0..9, got ${digit}`);
  const steps: MulStep[] = [];
  let restA = x, result = '', carry = 0;
  while (restA.length > 0 || carry > 0) {
    const a = restA.length > 0 ? Number(restA[restA.length - 1]) : 0;
    const value = a * digit + carry;
    restA = restA.slice(0, -1);
    result = String(value % 10) + result;
    steps.push({ a, digit, carryIn: carry, value, restA, result });
    carry = Math.floor(value / 10);
  }
  return steps;
}

/**
 * "a*d+c=cv restA:result" ('restate') or "a*d+c=cv result" ('compact'); `value` and `carryIn` may be
 * overridden to write a slip.
 */
export function formatMulStep(s: MulStep, style: StepStyle = 'compact', value = s.value, carryIn = s.carryIn): string {
  const result = String(value % 10) + s.result.slice(1);
  const head = `${s.a}*${s.digit}+${carryIn}=${String(value).padStart(2, '0')}`;
  return style === 'restate' ? `${head} ${s.restA}:${result}` : `${head} ${result}`;
}

/** The step and its plausible slips: the value off by one, and an incoming carry forgotten. */
export function mulStepText(s: MulStep, style: StepStyle = 'compact'): { text: string; slips: string[] } {
  const slips = [s.value + 1, s.value - 1].filter((v) => v >= 0 && v <= 89).map((v) => formatMulStep(s, style, v));
  if (s.carryIn > 0) slips.push(formatMulStep(s, style, s.value - s.carryIn, 0));
  return { text: formatMulStep(s, style), slips };
}
