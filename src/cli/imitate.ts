// `still imitate`: the STILL-2 "imitate" stage — `still sft` with defaults for long-thought data
// ({question, combined_text, domain} rows, whose combined_text must carry the thought/solution tags).
//
// Defaults (ours, for long traces; every one can be overridden): 3 epochs, cosine decay after a 3% warmup,
// clipping at global norm 1.0, lr 1e-4 for LoRA or 1e-5 for full fine-tuning, examples up to 16384
// tokens (capped by the model's context), 16 micro-batches of one packed example per optimizer step.
import type { Command } from 'commander';
import { SFT_DEFAULTS, defineSftCommand } from './sft.ts';

export function registerImitate(program: Command): void {
  defineSftCommand(program, {
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
  });
}
