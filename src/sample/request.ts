// What callers ask the generator for (requests with vLLM-style sampling parameters) and what they get back,
// with the defaults and the checks that turn a request into a fully specified one.

export interface SamplingParams {
  /** Divides the logits; below 1e-5 means greedy. vLLM's default: 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 or -1 = off (default). */
  topK?: number;
  /** Nucleus sampling mass in (0, 1]; 1 = off (default). */
  topP?: number;
  /** Drop tokens below minP × the top probability; 0 = off (default). */
  minP?: number;
  /** > 1 discourages tokens seen in the prompt or output (vLLM/HF semantics); 1 = off (default). */
  repetitionPenalty?: number;
  /** Most tokens to generate per sample (vLLM's max_tokens, default 16). */
  maxNewTokens?: number;
  /** Ids that end a sample; default: the generator's (model config and tokenizer EOS). */
  eosIds?: number[];
  /** Keep going past EOS ids (benchmarks). */
  ignoreEos?: boolean;
  /** Stop when the decoded text contains one of these; the stop string is cut from the text. Needs a tokenizer. */
  stop?: string[];
  /** Philox seed, an integer in [0, 2^53); default: the generator's seed. */
  seed?: number;
  /** Return the log-prob of each chosen token under the raw model distribution. */
  logprobs?: boolean;
}

export interface GenerationRequest {
  /** Prompt token ids (non-empty). */
  prompt: number[];
  /** Samples to draw from this prompt (default 1); they share one prefill. */
  n?: number;
  params?: SamplingParams;
  /**
   * The request word of the Philox counter; default: the request's index in the generate() call. Give it
   * to make a request draw the same tokens wherever it sits in a list.
   */
  seedIndex?: number;
}

export type FinishReason = 'stop' | 'length';

export interface GenerationResult {
  /** Index of the request in the generate() call, and of the sample within it. */
  request: number;
  sample: number;
  /** Generated ids only (not the prompt); a final EOS id is included, as vLLM does. */
  tokens: number[];
  /** Decoded generated text (without EOS, stop string stripped); present when the generator has a tokenizer. */
  text?: string;
  finishReason: FinishReason;
  /** What stopped it: the EOS id or the stop string; absent for 'length'. */
  stopReason?: number | string;
  /** Log-prob of each generated token under the raw logits, when params.logprobs. */
  logprobs?: number[];
}

/** A request with every default filled in and every field checked. */
export interface ResolvedRequest {
  index: number;
  prompt: number[];
  n: number;
  seedIndex: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  maxNewTokens: number;
  eosIds: number[];
  stop: string[];
  seed: number;
  logprobs: boolean;
}

export interface RequestDefaults {
  vocabSize: number;
  maxLen: number;
  eosIds: number[];
  seed: number;
  hasTokenizer: boolean;
}

const U32 = 2 ** 32;

export function resolveRequest(req: GenerationRequest, index: number, d: RequestDefaults): ResolvedRequest {
  const where = `request ${index}`;
  const fail = (field: string, want: string, got: unknown) =>
    new Error(`${where}: ${field} must be ${want}, got ${JSON.stringify(got)}`);
  const p = req.params ?? {};
  if (!Array.isArray(req.prompt) || req.prompt.length === 0) throw fail('prompt', 'a non-empty array of token ids', req.prompt);
  req.prompt.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= d.vocabSize) {
      throw new Error(`${where}: prompt[${i}] = ${JSON.stringify(id)} is not a token id in [0, ${d.vocabSize})`);
    }
  });
  if (req.prompt.length >= d.maxLen) {
    throw new Error(`${where}: the prompt has ${req.prompt.length} tokens, but slots hold maxLen ${d.maxLen} (raise maxLen / --max-len)`);
  }
  const n = req.n ?? 1;
  if (!Number.isInteger(n) || n < 1) throw fail('n', 'a positive integer', req.n);
  const seedIndex = req.seedIndex ?? index;
  if (!Number.isInteger(seedIndex) || seedIndex < 0 || seedIndex >= U32) throw fail('seedIndex', 'an integer in [0, 2^32)', req.seedIndex);
  const temperature = p.temperature ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw fail('temperature', 'a finite number ≥ 0', p.temperature);
  const topK = p.topK === undefined || p.topK === -1 ? 0 : p.topK;
  if (!Number.isInteger(topK) || topK < 0) throw fail('topK', 'a non-negative integer (0 or -1 = off)', p.topK);
  const topP = p.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw fail('topP', 'in (0, 1]', p.topP);
  const minP = p.minP ?? 0;
  if (!(minP >= 0 && minP <= 1)) throw fail('minP', 'in [0, 1]', p.minP);
  const repetitionPenalty = p.repetitionPenalty ?? 1;
  if (!(repetitionPenalty > 0) || !Number.isFinite(repetitionPenalty)) throw fail('repetitionPenalty', 'a finite number > 0', p.repetitionPenalty);
  const maxNewTokens = p.maxNewTokens ?? 16;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw fail('maxNewTokens', 'a positive integer', p.maxNewTokens);
  const eosIds = p.ignoreEos ? [] : (p.eosIds ?? d.eosIds);
  eosIds.forEach((id) => {
    if (!Number.isInteger(id)) throw fail('eosIds', 'integers', p.eosIds);
  });
  const stop = p.stop ?? [];
  if (stop.length > 0 && !d.hasTokenizer) {
    throw new Error(`${where}: stop strings ${JSON.stringify(stop)} are matched on decoded text, so the generator needs a tokenizer`);
  }
  const seed = p.seed ?? d.seed;
  if (!Number.isSafeInteger(seed) || seed < 0) throw fail('seed', 'an integer in [0, 2^53)', p.seed);
  return {
    index, prompt: req.prompt, n, seedIndex, temperature, topK, topP, minP, repetitionPenalty, maxNewTokens, eosIds, stop, seed,
    logprobs: p.logprobs ?? false,
  };
}
