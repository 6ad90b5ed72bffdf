// The `improve.method` and `improve.dpo` fields of a `still run` config, the same for toy and HF runs:
// how an improve round learns from exploration ('sft' on the pool, or 'dpo' after it, loop/dpo_stage.ts).
import { DPO_LOSS_TYPES, type DpoLossType } from '../train/dpo_loss.ts';
import type { ConfigObject } from './config_fields.ts';
import { PAIR_RULES, type PairRule } from './pairs.ts';

export const IMPROVE_METHODS = ['sft', 'dpo'] as const;
export type ImproveMethod = (typeof IMPROVE_METHODS)[number];

export interface DpoStageConfig {
  pairs: PairRule;
  pairsPerProblem: number;
  loss: DpoLossType;
  beta: number;
  labelSmoothing: number;
  /** Score only the thought block (STILL-2: the loss covers the thought). */
  thoughtOnly: boolean;
  /** The SFT term on the chosen side that keeps training stable (TRL's rpo_alpha). */
  nllWeight: number;
  epochs: number;
  lr: number;
  /** Pairs per micro-batch, and micro-batches per optimizer step. */
  batchSize: number;
  gradAccum: number;
  /** Share of the problems whose pairs are held out for eval metrics (0 = none). */
  heldOut: number;
}

/** The defaults that differ between toy and HF runs. */
export type DpoStageDefaults = Pick<DpoStageConfig, 'lr' | 'epochs' | 'batchSize' | 'gradAccum' | 'beta' | 'nllWeight'>;

/** Read `improve.dpo`. */
export function readDpoStage(o: ConfigObject, dflt: DpoStageDefaults): DpoStageConfig {
  const c: DpoStageConfig = {
    pairs: o.choice('pairs', PAIR_RULES, 'perplexity'),
    pairsPerProblem: o.number('pairsPerProblem', 1, { min: 1, int: true }),
    loss: o.choice('loss', DPO_LOSS_TYPES, 'sigmoid'),
    beta: o.number('beta', dflt.beta, { min: 0, exclusiveMin: true }),
    labelSmoothing: o.number('labelSmoothing', 0, { min: 0, max: 0.49 }),
    thoughtOnly: o.boolean('thoughtOnly', true),
    nllWeight: o.number('nllWeight', dflt.nllWeight, { min: 0 }),
    epochs: o.number('epochs', dflt.epochs, { min: 0, exclusiveMin: true }),
    lr: o.number('lr', dflt.lr, { min: 0, exclusiveMin: true }),
    batchSize: o.number('batchSize', dflt.batchSize, { min: 1, int: true }),
    gradAccum: o.number('gradAccum', dflt.gradAccum, { min: 1, int: true }),
    heldOut: o.number('heldOut', 0.2, { min: 0, max: 0.9 }),
  };
  o.done();
  return c;
}
