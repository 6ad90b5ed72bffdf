// The sampling flags shared by `still generate` and `still sample`, and how they become SamplingParams and
// a Generator. Greedy stays the default until a sampling flag is given, as `still generate` always did.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadHfTokenizer, type HfTokenizer } from '../io/hf_tokenizer.ts';
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import type { DecoderModel } from '../nn/model.ts';
import { Generator } from '../sample/generator.ts';
import type { SamplingParams } from '../sample/request.ts';

export interface SamplingFlags {
  maxNewTokens: number;
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
  maxBatch: number;
  maxLen?: number;
  kvBudgetMb?: number;
}

function number(flag: string, integer: boolean) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
      throw new Error(`${flag} expects ${integer ? 'an integer' : 'a number'}, got '${v}'`);
    }
    return x;
  };
}

export function addSamplingOptions(cmd: Command, defaultMaxNewTokens: number): Command {
  return cmd
    .option('--max-new-tokens <n>', 'most tokens to generate per sample', number('--max-new-tokens', true), defaultMaxNewTokens)
    .option('--n <k>', 'samples per prompt (they share one prefill)', number('--n', true), 1)
    .option('--temperature <t>', '0 = greedy; default 0 unless another sampling flag is given, then 1', number('--temperature', false))
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]', number('--top-p', false))
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', number('--top-k', true))
    .option('--min-p <m>', 'drop tokens below m × the top probability', number('--min-p', false))
    .option('--repetition-penalty <r>', 'penalise tokens already in the prompt or output (1 = off)', number('--repetition-penalty', false))
    .option('--seed <s>', 'Philox seed: the same seed, inputs and backend give the same tokens', number('--seed', true))
    .option('--stop <str>', 'stop when the text contains STR (repeatable; stripped from the text)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--logprobs', "return each generated token's log-prob under the raw model")
    .option('--ignore-eos', 'keep generating past EOS ids')
    .option('--greedy', 'argmax decoding (temperature 0)')
    .option('--max-batch <n>', 'slots decoded together; bounds memory with --max-len', number('--max-batch', true), 16)
    .option('--max-len <n>', 'KV positions per slot (default: longest prompt + --max-new-tokens)', number('--max-len', true))
    .option('--kv-budget-mb <mb>', 'lower --max-batch so the KV cache fits in this many MiB', number('--kv-budget-mb', false));
}

export function samplingParams(o: SamplingFlags): SamplingParams {
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

export function makeGenerator(model: DecoderModel, prompts: number[][], o: SamplingFlags, tok: HfTokenizer | null): Generator {
  const longest = Math.max(...prompts.map((p) => p.length));
  const maxLen = o.maxLen ?? Math.min(longest + o.maxNewTokens, Math.max(model.config.maxPositionEmbeddings, longest + 1));
  const eosIds = [...new Set([...model.config.eosTokenIds, ...(tok?.stopIds ?? [])])];
  const gen = new Generator(model, {
    maxBatch: o.maxBatch,
    maxLen,
    kvBudgetBytes: o.kvBudgetMb === undefined ? undefined : o.kvBudgetMb * 2 ** 20,
    tokenizer: tok ? textView(tok) : undefined,
    eosIds,
    seed: o.seed ?? 0,
  });
  if (gen.maxBatch < o.maxBatch) {
    process.stderr.write(`still: --kv-budget-mb ${o.kvBudgetMb} fits ${gen.maxBatch} slots of ${maxLen} positions; decoding ${gen.maxBatch} at a time\n`);
  }
  return gen;
}
