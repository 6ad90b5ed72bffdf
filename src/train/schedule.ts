// Learning-rate schedules with HF transformers' semantics: linear warmup from 0, then constant, cosine
// or linear decay. `step` is the number of optimizer steps already taken (0 for the first update).
export type ScheduleKind = 'constant' | 'cosine' | 'linear';
export const SCHEDULES: readonly ScheduleKind[] = ['constant', 'cosine', 'linear'];

export interface Schedule {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Warmup steps: the rate rises linearly as lr·step/warmup (0 at the first step, as in HF). */
  warmup: number;
  /** Total optimizer steps of the run (decay reaches its floor here). */
  total: number;
  /** Decay floor as a fraction of lr (HF's cosine_with_min_lr); default 0. */
  minLrRatio?: number;
}

export function lrAt(s: Schedule, step: number): number {
  if (step < s.warmup) return (s.lr * step) / Math.max(1, s.warmup);
  if (s.kind === 'constant') return s.lr;
  const floor = s.minLrRatio ?? 0;
  const progress = Math.min(1, (step - s.warmup) / Math.max(1, s.total - s.warmup));
  const decay = s.kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return s.lr * (floor + (1 - floor) * decay);
}

export function checkSchedule(s: Schedule): void {
  if (!SCHEDULES.includes(s.kind)) throw new Error(`--schedule '${s.kind}' is not known; expected one of ${SCHEDULES.join(', ')}`);
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) throw new Error(`--lr must be a positive number, got ${s.lr}`);
  if (!Number.isInteger(s.warmup) || s.warmup < 0) throw new Error(`--warmup must be a whole number of steps ≥ 0, got ${s.warmup}`);
  if (s.minLrRatio !== undefined && !(s.minLrRatio >= 0 && s.minLrRatio <= 1)) throw new Error(`--min-lr-ratio must be in [0, 1], got ${s.minLrRatio}`);
}
