// Arithmetic word problems: one-sentence stories that hide an addition, for real (BPE) tokenizers.
// Level = digits of the longer operand (1..10); the other operand has 1..level digits, as in addition.ts.
//
// "Mia has 4821 stickers. She gets 973 more. How many stickers does Mia have now?" The teacher's thought
// first pulls the numbers out of the sentence ("4821+973"), then adds them column by column in the
// 'restate' style of column_add.ts (each step restates what is left of both operands, which tiny models
// learn much faster than the compact style once the question is a sentence, not "4821+973"), then
// checks by subtracting back. In a share of traces (default 30%) one step slips and is caught ("Wait, …"):
//
//   <|begin_of_thought|>4821+973
//
//   1+3+0=04 482+97:4
//
//   … 4+0+1=05 +:5794
//
//   Check: 5794-973=4821<|end_of_thought|><|begin_of_solution|>\boxed{5794}<|end_of_solution|>
//
// The questions use letters, so this task is not in the registry (index.ts): the character tokenizer of
// the toy students has no id for them, and it is not meant to; scripts/make_tiny_math.ts pairs it with a
// byte-level BPE tokenizer of its own.

import { additionThought, checkInteger, randomOperands } from './addition.ts';
import { hasSelfCorrection } from './reflection.ts';
import type { Rng } from './rng.ts';
import { composeCompletion } from './still_format.ts';
import { assertLevel, makeProblem, stepStyleOf, type Problem, type Task, type TeacherOptions } from './task.ts';

const NAME = 'word_problems';
const DEFAULT_REFLECTION_RATE = 0.3;

const PEOPLE: readonly (readonly [name: string, pronoun: string])[] = [
  ['Mia', 'She'], ['Leo', 'He'], ['Ava', 'She'], ['Sam', 'He'], ['Zoe', 'She'], ['Ben', 'He'],
  ['Emma', 'She'], ['Noah', 'He'], ['Lily', 'She'], ['Omar', 'He'], ['Ruby', 'She'], ['Max', 'He'],
];

/** [singular, plural]: "1 apple", "7 apples". */
const THINGS: readonly (readonly [one: string, many: string])[] = [
  ['sticker', 'stickers'], ['apple', 'apples'], ['coin', 'coins'], ['marble', 'marbles'], ['book', 'books'],
  ['stamp', 'stamps'], ['card', 'cards'], ['shell', 'shells'], ['pencil', 'pencils'], ['bead', 'beads'],
  ['cookie', 'cookies'], ['flower', 'flowers'],
];

interface Story {
  name: string;
  pronoun: string;
  /** "4821 stickers" / "1 sticker". */
  count: (n: string) => string;
  many: string;
}

/**
 * Story templates; each puts the first operand before the second in the text, so the thought's first line
 * copies the numbers in reading order.
 */
const TEMPLATES: readonly ((s: Story, a: string, b: string) => string)[] = [
  (s, a, b) => `${s.name} has ${s.count(a)}. ${s.pronoun} gets ${b} more. How many ${s.many} does ${s.name} have now?`,
  (s, a, b) => `${s.name} had ${s.count(a)} and found ${b} more. How many ${s.many} does ${s.name} have in all?`,
  (s, a, b) => `A box holds ${s.count(a)}. ${s.name} puts in ${b} more. How many ${s.many} are in the box now?`,
  (s, a, b) => `${s.name} collected ${s.count(a)} on Monday and ${s.count(b)} on Tuesday. How many ${s.many} did ${s.name} collect in total?`,
];

/** The two operands of a word problem, in the order the question states them. */
export function parseWordProblem(question: string): [string, string] {
  const numbers = question.match(/\d+/g);
  if (numbers === null || numbers.length !== 2) {
    throw new Error(`tasks/word_problems: question ${JSON.stringify(question)} must state exactly two numbers`);
  }
  return [numbers[0]!, numbers[1]!];
}

export const wordProblems: Task = {
  name: NAME,
  description: 'addition word problems ("Mia has 4821 stickers. She gets 973 more. …"); level = digits of the longer number',
  minLevel: 1,
  maxLevel: 10,
  generate(level: number, rng: Rng): Problem {
    assertLevel(wordProblems, level);
    const [a, b] = randomOperands(level, rng);
    const [name, pronoun] = rng.pick(PEOPLE);
    const [one, many] = rng.pick(THINGS);
    const story: Story = { name, pronoun, many, count: (n) => `${n} ${n === '1' ? one : many}` };
    const question = rng.pick(TEMPLATES)(story, a, b);
    return makeProblem(NAME, level, question, (BigInt(a) + BigInt(b)).toString());
  },
  teacher(problem: Problem, rng: Rng, options: TeacherOptions = {}): string {
    const [a, b] = parseWordProblem(problem.question);
    // Restate unless asked otherwise: the model reads each step's digits off the step before it.
    const style = stepStyleOf(NAME, { stepStyle: options.stepStyle ?? 'restate' });
    const { lines, sum } = additionThought(a, b, rng, style, options.reflectionRate ?? DEFAULT_REFLECTION_RATE);
    return composeCompletion([`${a}+${b}`, ...lines], `\\boxed{${sum}}`);
  },
  check(predAnswer: string, problem: Problem): boolean {
    return checkInteger(predAnswer, problem.answer);
  },
  hasReflection: hasSelfCorrection,
};
