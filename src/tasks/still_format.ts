// The STILL-2 completion format: thought steps separated by blank lines, then a solution with \boxed{}.

import { SOLUTION_CLOSE, SOLUTION_OPEN, THOUGHT_CLOSE, THOUGHT_OPEN } from '../data/still2.ts';

// The tags are defined once, with the STILL-2 data format (src/data/still2.ts).
export const BEGIN_THOUGHT = THOUGHT_OPEN;
export const END_THOUGHT = THOUGHT_CLOSE;
export const BEGIN_SOLUTION = SOLUTION_OPEN;
export const END_SOLUTION = SOLUTION_CLOSE;
/** Steps of a thought are separated by one blank line, as in the STILL-2 data. */
export const STEP_SEPARATOR = '\n\n';

/** `<|begin_of_thought|>step\n\nstep…<|end_of_thought|><|begin_of_solution|>solution<|end_of_solution|>` */
export function composeCompletion(steps: readonly string[], solution: string): string {
  steps.forEach((step, i) => {
    if (step.length === 0 || step.includes(STEP_SEPARATOR) || step.startsWith('\n') || step.endsWith('\n')) {
      throw new Error(`still_format: thought step ${i} must be non-empty and hold no blank line, got ${JSON.stringify(step)}`);
    }
  });
  return BEGIN_THOUGHT + steps.join(STEP_SEPARATOR) + END_THOUGHT + BEGIN_SOLUTION + solution + END_SOLUTION;
}

export interface ParsedCompletion {
  thought: string;
  steps: string[];
  solution: string;
}

/**
 * Splits a well-formed completion into thought steps and solution, or returns null when the tags are
 * missing, repeated or out of order (a model's malformed rollout is data, not an exception).
 */
export function parseCompletion(text: string): ParsedCompletion | null {
  const tags = [BEGIN_THOUGHT, END_THOUGHT, BEGIN_SOLUTION, END_SOLUTION];
  const at = tags.map((t) => text.indexOf(t));
  if (at.some((p, i) => p < 0 || text.indexOf(tags[i]!, p + 1) >= 0)) return null;
  if (at[0] !== 0 || !(at[0]! < at[1]! && at[1]! < at[2]! && at[2]! < at[3]!)) return null;
  if (at[2] !== at[1]! + END_THOUGHT.length || at[3]! + END_SOLUTION.length !== text.length) return null;
  const thought = text.slice(BEGIN_THOUGHT.length, at[1]);
  const solution = text.slice(at[2]! + BEGIN_SOLUTION.length, at[3]);
  return { thought, steps: thought.split(STEP_SEPARATOR), solution };
}

/** The thought part of a completion (or the whole text when it has no thought tags): where reflection lives. */
export function thoughtText(text: string): string {
  const begin = text.indexOf(BEGIN_THOUGHT);
  const from = begin < 0 ? 0 : begin + BEGIN_THOUGHT.length;
  const end = text.indexOf(END_THOUGHT, from);
  return text.slice(from, end < 0 ? text.length : end);
}
