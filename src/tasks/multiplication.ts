// Long multiplication n×m digits; level L means n = ceil((L+1)/2), m = floor((L+1)/2): 1×1, 2×1, 2×2, 3×2, …
//
// Trace for 47*36 (steps are separated by blank lines in the real text):
//   47*3 6  /  7*3+0=21 1  /  4*3+2=14 41  /  0*3+1=01 141    47 times the first digit of 36; "6" to come
//   47*6  /  7*6+0=42 2  /  4*6+4=28 82  /  0*6+2=02 282       times the next digit (digit_multiply.ts)
//   1410+282  /  0+2+0=02 2  / … / 1+0+0=01 1692               total*10 + partial (column_add.ts)
//   Check: 1692/36=47
// then `\boxed{1692}`. Partial products are added into the running total as soon as they are made, so
// every copy is from a line or two above. One slip (a product or sum off by one, or a forgotten carry),
// caught by "Wait, …", appears in a share of traces (default 30%).

import { checkInteger, randomDigits } from './addition.ts';
import { addStepText, columnAddSteps } from './column_add.ts';
import { digitMultiplySteps, mulStepText } from './digit_multiply.ts';
import { CHECK_MARKER, hasSelfCorrection } from './reflection.ts';
import type { Rng } from './rng.ts';
import { writeWithSlip, type StepText } from './slip.ts';
import { composeCompletion } from './still_format.ts';
import { assertLevel, makeProblem, stepStyleOf, type Problem, type StepStyle, type Task, type TeacherOptions } from './task.ts';

const NAME = 'multiplication';
const DEFAULT_REFLECTION_RATE = 0.3;

/** Digits of the two factors at a level: [n, m] with n >= m, growing one digit per level. */
export function multiplicationShape(level: number): [number, number] {
  return [Math.ceil((level + 1) / 2), Math.floor((level + 1) / 2)];
}

export function parseMultiplication(question: string): [string, string] {
  const m = /^(\d+)\*(\d+)$/.exec(question);
  if (m === null) throw new Error(`tasks/multiplication: question ${JSON.stringify(question)} is not of the form "47*36"`);
  return [m[1]!, m[2]!];
}

/**
 * The thought steps (before slips) that multiply a by b, digit by digit of b from the LEFT (Horner):
 * total = total*10 + a*digit. Then every addition appends exactly one "0", so no step has to count
 * how far to shift a partial product. Each partial product opens with a header "a*digit rest" naming
 * the digits of b still to come, so the next header is a copy of this one less its first digit.
 */
function longMultiplySteps(a: string, b: string, style: StepStyle): { steps: StepText[]; product: string } {
  const steps: StepText[] = [];
  let total: string | null = null;
  for (let j = 0; j < b.length; j++) {
    const digit = Number(b[j]);
    const rest = b.slice(j + 1);
    steps.push({ text: rest.length > 0 ? `${a}*${digit} ${rest}` : `${a}*${digit}`, slips: [] });
    const mul = digitMultiplySteps(a, digit);
    steps.push(...mul.map((st) => mulStepText(st, style)));
    const partial = mul[mul.length - 1]!.result;
    if (total === null) {
      total = partial;
    } else {
      steps.push({ text: `${total}0+${partial}`, slips: [] });
      const add = columnAddSteps(total + '0', partial);
      steps.push(...add.map((st) => addStepText(st, style)));
      total = add[add.length - 1]!.result;
    }
  }
  // A partial product by 0 is written "00…", as long multiplication does. The total never has leading
  // zeros: the first digit of b is not 0, and the longer operand of every later addition is the total.
  return { steps, product: total! };
}

export const multiplication: Task = {
  name: NAME,
  description: 'long multiplication; level L is ceil((L+1)/2) by floor((L+1)/2) digits: 1x1, 2x1, 2x2, 3x2, ...',
  minLevel: 1,
  maxLevel: 12,
  generate(level: number, rng: Rng): Problem {
    assertLevel(multiplication, level);
    const [n, m] = multiplicationShape(level);
    // Single digits are 1..9 here: a 0 factor makes a trivial problem and a partial of zeros.
    const factor = (digits: number): string => (digits === 1 ? String(rng.int(1, 9)) : randomDigits(digits, rng));
    const a = factor(n);
    const b = factor(m);
    return makeProblem(NAME, level, `${a}*${b}`, (BigInt(a) * BigInt(b)).toString());
  },
  teacher(problem: Problem, rng: Rng, options: TeacherOptions = {}): string {
    const [a, b] = parseMultiplication(problem.question);
    const { steps, product } = longMultiplySteps(a, b, stepStyleOf(NAME, options));
    const lines = writeWithSlip(steps, rng, options.reflectionRate ?? DEFAULT_REFLECTION_RATE);
    const check = BigInt(b) === 0n ? `${product}=0` : `${product}/${b}=${a}`;
    lines.push(CHECK_MARKER + check);
    return composeCompletion(lines, `\\boxed{${product}}`);
  },
  check(predAnswer: string, problem: Problem): boolean {
    return checkInteger(predAnswer, problem.answer);
  },
  hasReflection: hasSelfCorrection,
};
