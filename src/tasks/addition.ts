// Multi-digit addition; level = digits of the longer operand (1..30), so levels measure length generalisation.
//
// Trace for 4821+973 (steps are separated by blank lines in the real text):
//   1+3+0=04 4  /  2+7+0=09 94  /  8+9+0=17 794  /  4+0+1=05 5794  /  Check: 5794-973=4821
// then the solution `\boxed{5794}`: least-significant digit first, the carry explicit, the answer
// growing at the front of each step so the box copies it from the last one (see column_add.ts, and
// StepStyle in task.ts for the 'restate' style). A slip ("8+9+0=16 …" then "Wait, 8+9+0=17 …")
// appears in a share of traces (default 30%).

import { addStepText, columnAddSteps } from './column_add.ts';
import { CHECK_MARKER, hasSelfCorrection } from './reflection.ts';
import type { Rng } from './rng.ts';
import { writeWithSlip } from './slip.ts';
import { composeCompletion } from './still_format.ts';
import { assertLevel, makeProblem, stepStyleOf, type Problem, type StepStyle, type Task, type TeacherOptions } from './task.ts';

const NAME = 'addition';
const DEFAULT_REFLECTION_RATE = 0.3;

/** A random number with exactly `digits` digits (a 1-digit number may be 0). */
export function randomDigits(digits: number, rng: Rng): string {
  let s = String(rng.int(digits === 1 ? 0 : 1, 9));
  for (let i = 1; i < digits; i++) s += String(rng.int(0, 9));
  return s;
}

/** The two operands of an addition question "a+b". */
export function parseAddition(question: string): [string, string] {
  const m = /^(\d+)\+(\d+)$/.exec(question);
  if (m === null) throw new Error(`tasks/addition: question ${JSON.stringify(question)} is not of the form "4821+973"`);
  return [m[1]!, m[2]!];
}

/** Exact decimal answer check: digits only, no sign, no leading zeros (the answer is the plain sum). */
export function checkInteger(predAnswer: string, gold: string): boolean {
  const a = predAnswer.trim();
  return /^(0|[1-9]\d*)$/.test(a) && a === gold;
}

/** A level's operands: the longer has `level` digits, the other 1..level, in random order. */
export function randomOperands(level: number, rng: Rng): [string, string] {
  const long = randomDigits(level, rng);
  const short = randomDigits(rng.int(1, level), rng);
  return rng.chance(0.5) ? [long, short] : [short, long];
}

/**
 * The thought's lines for a+b: one step per column (a share of them with a caught slip), then the check,
 * which undoes the addition; it restates numbers already on the page, so it costs the model little to
 * write, and it is the habit ("let me check") the paper distils.
 */
export function additionThought(a: string, b: string, rng: Rng, style: StepStyle, reflectionRate: number): { lines: string[]; sum: string } {
  const steps = columnAddSteps(a, b);
  const sum = steps[steps.length - 1]!.result;
  const lines = writeWithSlip(steps.map((st) => addStepText(st, style)), rng, reflectionRate);
  lines.push(`${CHECK_MARKER}${sum}-${b}=${a}`);
  return { lines, sum };
}

export const addition: Task = {
  name: NAME,
  description: 'multi-digit addition; level = digits of the longer operand (the other has 1..level digits)',
  minLevel: 1,
  maxLevel: 30,
  generate(level: number, rng: Rng): Problem {
    assertLevel(addition, level);
    const [a, b] = randomOperands(level, rng);
    return makeProblem(NAME, level, `${a}+${b}`, (BigInt(a) + BigInt(b)).toString());
  },
  teacher(problem: Problem, rng: Rng, options: TeacherOptions = {}): string {
    const [a, b] = parseAddition(problem.question);
    const { lines, sum } = additionThought(a, b, rng, stepStyleOf(NAME, options), options.reflectionRate ?? DEFAULT_REFLECTION_RATE);
    return composeCompletion(lines, `\\boxed{${sum}}`);
  },
  check(predAnswer: string, problem: Problem): boolean {
    return checkInteger(predAnswer, problem.answer);
  },
  hasReflection: hasSelfCorrection,
};
