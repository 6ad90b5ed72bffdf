// Verification of a rollout against its problem: the last \boxed{} of the solution block, checked by the
// task's own verifier. This is the gate into the training pool, so it is strict: no fallback to "the last
// number", which would let a rollout in that never wrote an answer.
import type { Problem, Task } from '../tasks/task.ts';
import { lastBoxed, solutionBlock } from '../verify/extract.ts';

export interface Verdict {
  correct: boolean;
  answer: string | null;
}

export function verifyRollout(task: Task, problem: Problem, completion: string): Verdict {
  const answer = lastBoxed(solutionBlock(completion) ?? '');
  return { correct: answer !== null && task.check(answer, problem), answer };
}
