// Writes thought steps with, at a seeded rate, one plausible slip that the next step catches and redoes.
//
// The slip is a whole wrong step (e.g. "8+9+0=16 4+:694"), then "Wait, " and the right step. The error
// is visible inside the wrong step itself or against the step before it, so a model trained on these
// traces learns a local check it can really do: "does this line add up? if not, redo it".
import { SLIP_MARKER } from './reflection.ts';
import type { Rng } from './rng.ts';

export interface StepText {
  /** The correct step. */
  text: string;
  /** Plausible wrong versions of this step (may be empty: that step never slips). */
  slips: string[];
}

/** The lines of `steps`; with probability `rate`, one slippable step is preceded by a slip of itself. */
export function writeWithSlip(steps: readonly StepText[], rng: Rng, rate: number): string[] {
  const lines = steps.map((s) => s.text);
  const slippable = steps.flatMap((s, i) => (s.slips.length > 0 ? [i] : []));
  if (slippable.length === 0 || !rng.chance(rate)) return lines;
  const at = rng.pick(slippable);
  const step = steps[at]!;
  lines.splice(at, 1, rng.pick(step.slips), SLIP_MARKER + step.text);
  return lines;
}
