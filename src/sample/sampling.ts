// Sampling settings as a command or a script states them (vLLM's names, one value each), and how they
// become the generator's SamplingParams and a Generator sized for a set of prompts. `still generate`,
// `still sample`, `still eval` and the explore stage all go through here. Greedy stays the default until a
// sampling setting is given, as `still generate` always did.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../io/hf_config.ts';
import { loadHfTokenizer, type HfTokenizer } from '../io/hf_tokenizer.ts';
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import type { DecoderModel } from '../nn/model.ts';
import { planKvSlots } from '../train/memory_plan.ts';
import { Generator, type GeneratorOptions } from './generator.ts';
import type { SamplingParams } from './request.ts';

/**
 * The default token budget of a long-thought rollout (STILL-2 evaluates with ~20k new tokens). Each
 * prompt's share is cut to what the model's context leaves, and the commands say so when that happens.
 */
export const LONG_THOUGHT_TOKENS = 16384;

export interface SamplingOptions {
  maxNewTokens: number;
  /** Samples per prompt (they share one prefill). */
  n: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stop: string[];
  logprobs?: boolean;
  ignoreEos?: boolean;
  greedy?: boolean;
  /** Slots decoded together. */
  maxBatch: number;
  /** KV positions per slot (default: longest prompt + maxNewTokens, within the model's context). */
  maxLen?: number;
  /** Lower maxBatch so the KV cache fits in this many MiB. */
  kvBudgetMb?: number;
  /**
   * Lower maxBatch so weights, one forward's working set and the KV cache fit in this many GiB
   * (train/memory_plan.ts planKvSlots); makeGenerator only. An error when not one slot fits.
   */
  maxMemory?: number;
}

/**
 * The range checks every command shares, run before anything is loaded or written, so a bad value never
 * leaves a journal or an output folder behind. Names are the CLI's flags, which the options mirror.
 */
export function checkSamplingOptions(o: SamplingOptions): void {
  const fail = (what: string) => {
    throw new Error(what);
  };
  if (!(Number.isInteger(o.maxNewTokens) && o.maxNewTokens >= 1)) fail(`--max-new-tokens must be a positive integer, got ${o.maxNewTokens}`);
  if (!(Number.isInteger(o.n) && o.n >= 1)) fail(`--n must be a positive integer, got ${o.n}`);
  if (o.temperature !== undefined && !(o.temperature >= 0)) fail(`--temperature must be ≥ 0, got ${o.temperature}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) fail(`--top-p must be in (0, 1], got ${o.topP}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= -1)) fail(`--top-k must be an integer ≥ 0 (or -1 for off), got ${o.topK}`);
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) fail(`--min-p must be in [0, 1], got ${o.minP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) fail(`--repetition-penalty must be > 0, got ${o.repetitionPenalty}`);
  if (!(Number.isInteger(o.maxBatch) && o.maxBatch >= 1)) fail(`--max-batch must be a positive integer, got ${o.maxBatch}`);
  if (o.maxLen !== undefined && !(Number.isInteger(o.maxLen) && o.maxLen >= 2)) fail(`--max-len must be an integer ≥ 2, got ${o.maxLen}`);
  if (o.kvBudgetMb !== undefined && !(o.kvBudgetMb > 0)) fail(`--kv-budget-mb must be > 0, got ${o.kvBudgetMb}`);
  if (o.maxMemory !== undefined && !(o.maxMemory > 0)) fail(`--max-memory must be > 0 GiB, got ${o.maxMemory}`);
  if (o.maxMemory !== undefined && o.kvBudgetMb !== undefined) fail('give --kv-budget-mb or --max-memory, not both');
}

export function samplingParams(o: SamplingOptions): SamplingParams {
  const sampling = [o.topP, o.topK, o.minP, o.seed].some((x) => x !== undefined) || o.n > 1;
  if (o.greedy && o.temperature !== undefined && o.temperature !== 0) {
    throw new Error(`--greedy and --temperature ${o.temperature} contradict each other`);
  }
  return {
    temperature: o.greedy ? 0 : (o.temperature ?? (sampling ? 1 : 0)),
    topP: o.topP, topK: o.topK, minP: o.minP, repetitionPenalty: o.repetitionPenalty,
    maxNewTokens: o.maxNewTokens,
    stop: o.stop.length > 0 ? o.stop : undefined,
    seed: o.seed,
    logprobs: o.logprobs ?? false,
    ignoreEos: o.ignoreEos ?? false,
  };
}

/** The model directory's tokenizer when it has a tokenizer.json, else null (the engine then works on ids). */
export function optionalTokenizer(dir: string): HfTokenizer | null {
  return existsSync(join(dir, 'tokenizer.json')) ? loadHfTokenizer(dir) : null;
}

/**
 * Output text as vLLM shows it by default: special tokens skipped. The engine only needs decode and eosId,
 * so this wraps the HF tokenizer rather than changing it.
 */
export function textView(tok: HfTokenizer): TextTokenizer {
  return {
    vocabSize: tok.vocabSize, eosId: tok.eosId, padId: tok.padId,
    encode: (text) => tok.encode(text),
    decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
  };
}

/** The generator's settings for these options: EOS ids from the config and the tokenizer, text as vLLM shows it. */
export function generatorOptions(config: ModelConfig, o: SamplingOptions, tok: HfTokenizer | null): Omit<GeneratorOptions, 'maxLen'> {
  return {
    maxBatch: o.maxBatch,
    kvBudgetBytes: o.kvBudgetMb === undefined ? undefined : o.kvBudgetMb * 2 ** 20,
    tokenizer: tok ? textView(tok) : undefined,
    eosIds: [...new Set([...config.eosTokenIds, ...(tok?.stopIds ?? [])])],
    seed: o.seed ?? 0,
  };
}

/** A generator for these prompts: slots long enough for the longest, within the model's context. */
export function makeGenerator(
  model: DecoderModel, prompts: readonly number[][], o: SamplingOptions, tok: HfTokenizer | null, notice: (line: string) => void = () => {},
): Generator {
  const longest = Math.max(...prompts.map((p) => p.length));
  const maxLen = o.maxLen ?? Math.min(longest + o.maxNewTokens, Math.max(model.config.maxPositionEmbeddings, longest + 1));
  const options = generatorOptions(model.config, o, tok);
  if (o.maxMemory !== undefined) {
    const dtype = model.weight('model.embed_tokens.weight').dtype;
    options.kvBudgetBytes = planKvSlots({ config: model.config, dtype, maxLen, maxBatch: o.maxBatch, budget: o.maxMemory * 2 ** 30 }).kvBytes;
  }
  const gen = new Generator(model, { ...options, maxLen });
  noteKvBudget(gen, o.maxBatch, notice);
  return gen;
}

/** Say so when a KV budget decodes fewer slots together than were asked for. */
export function noteKvBudget(gen: Generator, asked: number, notice: (line: string) => void): void {
  if (gen.maxBatch < asked) notice(`the KV budget fits ${gen.maxBatch} slots of ${gen.maxLen} positions; decoding ${gen.maxBatch} at a time (asked for ${asked})`);
}
