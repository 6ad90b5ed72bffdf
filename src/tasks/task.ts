// The Task interface: a seeded problem generator, a teacher that writes STILL-2 traces, and a verifier.
import { hash64Hex } from './hash.ts';
import type { Rng } from './rng.ts';

export interface Problem {
  /** Stable across runs: task name, level and a hash of the question, so data splits can be kept disjoint. */
  id: string;
  task: string;
  /** Difficulty; each task documents what its level means. */
  level: number;
  /** The prompt text the model sees (ASCII only, no special tokens). */
  question: string;
  /** The gold answer, in the form `check` accepts. */
  answer: string;
}

export interface TeacherOptions {
  /**
   * Probability that a trace contains a caught-and-corrected slip (or, for Countdown, an abandoned
   * dead end). Each task documents its default; 0 gives clean traces for ablations.
   */
  reflectionRate?: number;
  /**
   * How arithmetic steps are written (addition and multiplication; Countdown ignores it):
   * - 'compact' (default): "1+3+0=04 4". Each step writes its digits, the carry and the result so far;
   *   the model finds the i-th digit from the right of each operand in the question itself.
   * - 'restate': "1+3+0=04 482+97:4". Each step also restates what is left of the operands, so it
   *   depends only on the step before it; about 35% more tokens at 10 digits.
   * Compact is the default because it learned as fast or faster per training token in our runs
   * (a 220k-parameter char model, 0.8-1.2M tokens), and restating bought no length generalisation
   * there: trained on 1-4 digits, both styles scored 0 on 5 digits, greedy and pass@8.
   */
  stepStyle?: StepStyle;
}

export type StepStyle = 'compact' | 'restate';
export const STEP_STYLES: readonly StepStyle[] = ['compact', 'restate'];

/** The step style asked for (default 'compact'); a clear error for a value from a bad config. */
export function stepStyleOf(task: string, options: TeacherOptions): StepStyle {
  const style = options.stepStyle ?? 'compact';
  if (!STEP_STYLES.includes(style)) {
    throw new Error(`tasks/${task}: stepStyle must be one of ${STEP_STYLES.join(', ')}, got ${JSON.stringify(style)}`);
  }
  return style;
}

export interface Task {
  name: string;
  /** One line for help texts and reports, saying what a level means. */
  description: string;
  minLevel: number;
  maxLevel: number;
  generate(level: number, rng: Rng): Problem;
  /** The full STILL-2 completion (thought + solution) for `problem`; always verifies as correct. */
  teacher(problem: Problem, rng: Rng, options?: TeacherOptions): string;
  /** Is `predAnswer` (the content of the last \boxed{}) a correct answer to `problem`? */
  check(predAnswer: string, problem: Problem): boolean;
  /** Does the completion contain a self-correction (slip caught, dead end abandoned)? */
  hasReflection(completion: string): boolean;
}

/** A problem with its stable id: `<task>-<level>-<16 hex digits of hash(question)>`. */
export function makeProblem(task: string, level: number, question: string, answer: string): Problem {
  return { id: `${task}-${level}-${hash64Hex(question)}`, task, level, question, answer };
}

/** Throws a clear error when a task is asked for a level it does not generate. */
export function assertLevel(task: Task, level: number): void {
  if (!Number.isInteger(level) || level < task.minLevel || level > task.maxLevel) {
    throw new Error(`tasks/${task.name}: level must be an integer in [${task.minLevel}, ${task.maxLevel}], got ${level}`);
  }
}
