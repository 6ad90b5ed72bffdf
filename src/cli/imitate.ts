// `still imitate`: the STILL-2 "imitate" stage — `still sft` with defaults for long-thought data
// ({question, combined_text, domain} rows, whose combined_text must carry the thought/solution tags).
//
// Defaults (ours, for long traces; every one can be overridden): 3 epochs, cosine decay after a 3% warmup,
// clipping at global norm 1.0, lr 1e-4 for LoRA or 1e-5 for full fine-tuning, examples up to 16384
// tokens (capped by the model's context), 16 micro-batches of one packed example per optimizer step.
//
// `still imitate --task NAME --levels 1,2,3 --examples N --out DIR` is the toy stage instead: a char-level
// student trained from scratch on teacher traces (imitate_toy.ts).
import type { Command } from 'commander';
import { addToyImitate } from './imitate_toy.ts';
import { SFT_DEFAULTS, defineSftCommand, type SftDefaults } from './sft.ts';

export const IMITATE_DEFAULTS: SftDefaults = {
  ...SFT_DEFAULTS,
  name: 'imitate',
  description: 'STILL-2 imitate stage: SFT on long-thought rows (prompt template + question → thought + solution)',
  lrLora: 1e-4,
  lrFull: 1e-5,
  schedule: 'cosine',
  warmup: '0.03',
  maxGradNorm: 1,
  batchSize: 1,
  gradAccum: 16,
  epochs: 3,
  maxLength: 16384,
  requireStill2Format: true,
};

export function registerImitate(program: Command): void {
  // With --task it is the toy stage instead: a char-level student trained from scratch (imitate_toy.ts).
  addToyImitate(defineSftCommand(program, IMITATE_DEFAULTS), IMITATE_DEFAULTS);
}
