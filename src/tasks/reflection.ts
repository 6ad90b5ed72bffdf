// The teacher's reflection markers, shared by every task so the "reflection rate" metric means one thing.
//
// Short fixed phrases on purpose: a tiny character model learns a 5-character phrase quickly, and
// every character of a trace costs training time.
import { thoughtText } from './still_format.ts';

/** Starts the step that corrects a slip in the step before it: "Wait, 8+9+0=17 …". */
export const SLIP_MARKER = 'Wait, ';
/** Ends a step whose result misses the target, so the search abandons that path: "30*3=90 no". */
export const DEAD_END_MARKER = ' no';
/** Starts a self-verification step. */
export const CHECK_MARKER = 'Check: ';

/** True when the thought holds a corrected slip or an abandoned dead end. */
export function hasSelfCorrection(completion: string): boolean {
  const steps = thoughtText(completion).split('\n\n');
  return steps.some((s) => s.startsWith(SLIP_MARKER) || s.endsWith(DEAD_END_MARKER));
}
