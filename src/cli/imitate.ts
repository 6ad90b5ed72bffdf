// `still imitate`: the STILL-2 "imitate" stage — `still sft` with the long-thought recipe
// (src/train/sft_recipe.ts IMITATE_RECIPE: {question, combined_text, domain} rows, whose combined_text must
// carry the thought/solution tags; 3 epochs, cosine after a 3% warmup, clipping at 1.0, 16 accumulated
// micro-batches, examples up to 16384 tokens).
//
// `still imitate --task NAME --levels 1,2,3 --examples N --out DIR` is the toy stage instead: a char-level
// student trained from scratch on teacher traces (imitate_toy.ts).
import type { Command } from 'commander';
import { IMITATE_RECIPE } from '../train/sft_recipe.ts';
import { addToyImitate } from './imitate_toy.ts';
import { defineSftCommand, type SftCommandDefaults } from './sft.ts';

export const IMITATE_DEFAULTS: SftCommandDefaults = {
  name: 'imitate',
  description: 'STILL-2 imitate stage: SFT on long-thought rows (prompt template + question → thought + solution)',
  recipe: IMITATE_RECIPE,
};

export function registerImitate(program: Command): void {
  // With --task it is the toy stage instead: a char-level student trained from scratch (imitate_toy.ts).
  addToyImitate(defineSftCommand(program, IMITATE_DEFAULTS), IMITATE_DEFAULTS);
}
