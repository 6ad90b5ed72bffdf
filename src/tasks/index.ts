// The task registry: look tasks up by name (`--task addition`).
import { addition } from './addition.ts';
import { countdown } from './countdown.ts';
import { multiplication } from './multiplication.ts';
import type { Task } from './task.ts';

export type { Problem, StepStyle, Task, TeacherOptions } from './task.ts';
export { STEP_STYLES } from './task.ts';
export { Rng } from './rng.ts';
export { CharTokenizer } from './char_tokenizer.ts';

export const TASKS: readonly Task[] = [addition, multiplication, countdown];

export function taskNames(): string[] {
  return TASKS.map((t) => t.name);
}

export function getTask(name: string): Task {
  const task = TASKS.find((t) => t.name === name);
  if (task === undefined) {
    throw new Error(`tasks: unknown task ${JSON.stringify(name)}; known tasks: ${taskNames().join(', ')}`);
  }
  return task;
}
