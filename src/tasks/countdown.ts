// Countdown: reach the target from the given numbers with + - * /; level = how many numbers (2..6).
//
// Rules (as in TinyZero): each given number is used EXACTLY once; an answer is an expression such as
// "((8-2)*5)+3", checked with exact rationals. Every division must come out whole (classic Countdown
// forbids fractions); negative intermediate results are allowed, because they break nothing.
//
// Generation: numbers 1..10, target = the value of a random left-deep chain ((a op b) op c) op d whose
// intermediate results are all whole numbers in [1, 100]. So every problem has a chain solution, and
// the teacher searches chains only: each step combines the running value with one remaining number,
// which keeps every step local ("8-2=6 [3 5]": the new value and what is left).
//
// Teacher trace (numbers 8 3 5 2, target 33), with a dead end it abandons:
//   8+5=13 [3 2]  /  13*3=39 [2]  /  39-2=37 no  /  Back: 8 3 5 2  /  8-2=6 [3 5]  /  6*5=30 [3]  /
//   30+3=33 yes  /  Check: ((8-2)*5)+3=33        (steps are separated by blank lines)
// then the solution `\boxed{((8-2)*5)+3}`. The answer is fully parenthesised from the left, so writing
// it needs no precedence reasoning: one "(" per step after the first, one ")" after each inner step.

import { evaluateExpression } from './arith_expr.ts';
import { CHECK_MARKER, DEAD_END_MARKER, hasSelfCorrection } from './reflection.ts';
import type { Rng } from './rng.ts';
import { composeCompletion } from './still_format.ts';
import { assertLevel, makeProblem, type Problem, type Task, type TeacherOptions } from './task.ts';

const NAME = 'countdown';
const MIN_NUMBER = 1;
const MAX_NUMBER = 10;
/** Intermediate results stay in [1, MAX_VALUE]: small numbers keep the arithmetic facts learnable. */
const MAX_VALUE = 100;
const DEFAULT_REFLECTION_RATE = 0.3;

type Op = '+' | '-' | '*' | '/';
const OPS: readonly Op[] = ['+', '-', '*', '/'];

/** One chain step: running value `left` op number `right` = `value`. */
interface ChainStep { left: number; op: Op; right: number; value: number }

function applyOp(a: number, op: Op, b: number): number | null {
  let r: number;
  if (op === '+') r = a + b;
  else if (op === '-') r = a - b;
  else if (op === '*') r = a * b;
  else r = b !== 0 && a % b === 0 ? a / b : NaN;
  return Number.isInteger(r) && r >= 1 && r <= MAX_VALUE ? r : null;
}

export function formatCountdownQuestion(numbers: readonly number[], target: number): string {
  return `${numbers.join(' ')} -> ${target}`;
}

/** Numbers and target from a question written by `formatCountdownQuestion`. */
export function parseCountdownQuestion(question: string): { numbers: number[]; target: number } {
  const m = /^(\d+(?: \d+)*) -> (\d+)$/.exec(question);
  if (m === null) {
    throw new Error(`tasks/countdown: question ${JSON.stringify(question)} is not of the form "8 3 5 2 -> 33"`);
  }
  return { numbers: m[1]!.split(' ').map(Number), target: Number(m[2]) };
}

/** "((8-2)*5)+3" for the chain 8-2, *5, +3: fully parenthesised from the left. */
export function chainExpression(first: number, steps: readonly ChainStep[]): string {
  let expr = '('.repeat(Math.max(0, steps.length - 1)) + String(first);
  steps.forEach((s, i) => {
    expr += `${s.op}${s.right}` + (i < steps.length - 1 ? ')' : '');
  });
  return expr;
}

/** A random chain over `numbers` (in a random order) whose intermediates all stay valid, or null. */
function randomChain(numbers: readonly number[], rng: Rng): { order: number[]; steps: ChainStep[] } | null {
  const order = rng.shuffled(numbers);
  const steps: ChainStep[] = [];
  let value = order[0]!;
  for (const right of order.slice(1)) {
    const options = OPS.map((op) => ({ op, value: applyOp(value, op, right) })).filter((o) => o.value !== null);
    if (options.length === 0) return null;
    const pick = rng.pick(options);
    steps.push({ left: value, op: pick.op, right, value: pick.value! });
    value = pick.value!;
  }
  return { order, steps };
}

/**
 * Depth-first search over chains, in an order drawn from `rng`: the first chain that reaches the target.
 * The teacher solves the question itself (rather than reading the gold answer), so it also handles
 * questions it did not generate, and different seeds show different solutions.
 */
function solveChain(numbers: readonly number[], target: number, rng: Rng): { first: number; steps: ChainStep[] } | null {
  const search = (value: number, rest: number[], steps: ChainStep[]): ChainStep[] | null => {
    if (rest.length === 0) return value === target ? steps : null;
    for (const i of rng.shuffled(rest.map((_, k) => k))) {
      const right = rest[i]!;
      const remaining = rest.filter((_, k) => k !== i);
      for (const op of rng.shuffled(OPS)) {
        const v = applyOp(value, op, right);
        if (v === null) continue;
        const found = search(v, remaining, [...steps, { left: value, op, right, value: v }]);
        if (found) return found;
      }
    }
    return null;
  };
  for (const i of rng.shuffled(numbers.map((_, k) => k))) {
    const steps = search(numbers[i]!, numbers.filter((_, k) => k !== i), []);
    if (steps) return { first: numbers[i]!, steps };
  }
  return null;
}

/** Remaining numbers after removing one occurrence of each used number, in question order. */
function without(numbers: readonly number[], used: readonly number[]): number[] {
  const rest = numbers.slice();
  for (const u of used) rest.splice(rest.indexOf(u), 1);
  return rest;
}

/** The thought lines of one chain attempt: "8-2=6 [3 5]" … and the last one ends in "yes" or " no". */
function chainLines(numbers: readonly number[], first: number, steps: readonly ChainStep[], target: number): string[] {
  const used = [first];
  return steps.map((s, i) => {
    used.push(s.right);
    const head = `${s.left}${s.op}${s.right}=${s.value}`;
    if (i < steps.length - 1) return `${head} [${without(numbers, used).join(' ')}]`;
    return s.value === target ? `${head} yes` : head + DEAD_END_MARKER;
  });
}

function teacher(problem: Problem, rng: Rng, options: TeacherOptions = {}): string {
  const { numbers, target } = parseCountdownQuestion(problem.question);
  const solution = solveChain(numbers, target, rng);
  if (solution === null) {
    throw new Error(`tasks/countdown: no chain solution for ${JSON.stringify(problem.question)} (problem ${problem.id})`);
  }
  const lines: string[] = [];
  if (rng.chance(options.reflectionRate ?? DEFAULT_REFLECTION_RATE)) {
    // Two kinds of dead end: a wrong operation at the last step (backtrack one step and retry), or a
    // whole wrong chain (go back to the start). With two numbers they are the same thing.
    const last = solution.steps[solution.steps.length - 1]!;
    const wrongLast = OPS.filter((op) => op !== last.op)
      .map((op) => ({ ...last, op, value: applyOp(last.left, op, last.right) }))
      .filter((s): s is ChainStep => s.value !== null && s.value !== target);
    let wrongChain: { order: number[]; steps: ChainStep[] } | null = null;
    for (let attempt = 0; attempt < 20 && wrongChain === null; attempt++) {
      const c = randomChain(numbers, rng);
      if (c && c.steps[c.steps.length - 1]!.value !== target) wrongChain = c;
    }
    const allLines = chainLines(numbers, solution.first, solution.steps, target);
    if (wrongLast.length > 0 && (rng.chance(0.5) || wrongChain === null)) {
      const wrong = rng.pick(wrongLast);
      lines.push(...allLines.slice(0, -1), `${wrong.left}${wrong.op}${wrong.right}=${wrong.value}${DEAD_END_MARKER}`, allLines[allLines.length - 1]!);
    } else if (wrongChain !== null) {
      lines.push(...chainLines(numbers, wrongChain.order[0]!, wrongChain.steps, target), `Back: ${numbers.join(' ')}`, ...allLines);
    } else {
      lines.push(...allLines);
    }
  } else {
    lines.push(...chainLines(numbers, solution.first, solution.steps, target));
  }
  const expr = chainExpression(solution.first, solution.steps);
  lines.push(`${CHECK_MARKER}${expr}=${target}`);
  return composeCompletion(lines, `\\boxed{${expr}}`);
}

/** Does `predAnswer` use every given number exactly once and evaluate exactly to the target? */
export function checkCountdown(predAnswer: string, numbers: readonly number[], target: number): { ok: boolean; reason: string } {
  // "expr=33" is accepted when the stated value is the target: models often write the equation.
  const parts = predAnswer.split('=');
  if (parts.length > 2) return { ok: false, reason: 'more than one "="' };
  if (parts.length === 2 && parts[1]!.trim() !== String(target)) return { ok: false, reason: `states ${parts[1]!.trim()}, target is ${target}` };
  const result = evaluateExpression(parts[0]!);
  if (!result.ok) return { ok: false, reason: result.reason };
  const used = result.numbers.slice().sort((a, b) => a - b).join(' ');
  const given = numbers.slice().sort((a, b) => a - b).join(' ');
  if (used !== given) return { ok: false, reason: `uses [${used}], must use each of [${given}] exactly once` };
  if (!result.value.isInteger() || result.value.num !== BigInt(target)) {
    return { ok: false, reason: `evaluates to ${result.value}, target is ${target}` };
  }
  return { ok: true, reason: 'ok' };
}

export const countdown: Task = {
  name: NAME,
  description: 'Countdown: reach the target with + - * / using each given number once; level = how many numbers',
  minLevel: 2,
  maxLevel: 6,
  generate(level: number, rng: Rng): Problem {
    assertLevel(countdown, level);
    for (;;) {
      const numbers = Array.from({ length: level }, () => rng.int(MIN_NUMBER, MAX_NUMBER));
      const chain = randomChain(numbers, rng);
      if (chain === null) continue;
      const target = chain.steps[chain.steps.length - 1]!.value;
      // A target equal to a given number invites a non-answer ("just take the 7"); draw again.
      if (numbers.includes(target)) continue;
      return makeProblem(NAME, level, formatCountdownQuestion(numbers, target), chainExpression(chain.order[0]!, chain.steps));
    }
  },
  teacher,
  check(predAnswer: string, problem: Problem): boolean {
    const { numbers, target } = parseCountdownQuestion(problem.question);
    return checkCountdown(predAnswer, numbers, target).ok;
  },
  hasReflection: hasSelfCorrection,
};
