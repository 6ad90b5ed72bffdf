// The SFT defaults of `still sft` and of the STILL-2 imitate/improve stages (`still imitate`, `still
// improve`, and the STILL-2 loop on HF checkpoints). Every value can be overridden per run.
import type { ScheduleKind } from './schedule.ts';

export interface SftRecipe {
  lrLora: number;
  lrFull: number;
  schedule: ScheduleKind;
  /** Warmup: whole steps (≥ 1, or 0), or a fraction of the run (< 1). */
  warmup: number;
  maxGradNorm: number;
  batchSize: number;
  gradAccum: number;
  /** Passes over the data when neither steps nor epochs are given (none: one of them must be). */
  epochs?: number;
  /** Examples are cut to this many tokens (always within the model's context). */
  maxLength?: number;
  /** Refuse STILL-2 rows without the thought/solution tags. */
  requireStill2Format: boolean;
}

export const SFT_RECIPE: SftRecipe = {
  lrLora: 2e-4,
  lrFull: 2e-5,
  schedule: 'linear',
  warmup: 0,
  maxGradNorm: 0,
  batchSize: 1,
  gradAccum: 1,
  requireStill2Format: false,
};

/**
 * Long-thought imitation (ours, for long traces): 3 epochs, cosine decay after a 3% warmup, clipping at
 * global norm 1.0, lr 1e-4 for LoRA or 1e-5 for full fine-tuning, examples up to 16384 tokens (capped by
 * the model's context), 16 micro-batches of one packed example per optimizer step.
 */
export const IMITATE_RECIPE: SftRecipe = {
  ...SFT_RECIPE,
  lrLora: 1e-4,
  lrFull: 1e-5,
  schedule: 'cosine',
  warmup: 0.03,
  maxGradNorm: 1,
  batchSize: 1,
  gradAccum: 16,
  epochs: 3,
  maxLength: 16384,
  requireStill2Format: true,
};
