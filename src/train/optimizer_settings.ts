// The optimizer settings every training workflow takes (runSft, runDpo): steps or epochs, AdamW and its
// learning-rate schedule, clipping, shuffling. Unset fields take the workflow's recipe defaults.
import type { ScheduleKind } from './schedule.ts';

export interface OptimizerSettings {
  steps?: number;
  epochs?: number;
  /** Peak learning rate; default the recipe's for the mode (LoRA or full). */
  lr?: number;
  /** Rows per micro-batch: examples for SFT, pairs for DPO. */
  batchSize?: number;
  gradAccum?: number;
  weightDecay?: number;
  /** Whole steps (≥ 1, or 0), or a fraction of the run (< 1). */
  warmup?: number;
  schedule?: ScheduleKind;
  minLrRatio?: number;
  maxGradNorm?: number;
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  shuffle?: boolean;
  seed?: number;
}
