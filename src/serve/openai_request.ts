// An OpenAI-compatible request body (POST /v1/completions or /v1/chat/completions) checked field by field
// and turned into generator requests. Field names and defaults are OpenAI's, with vLLM's extensions that
// rollout clients use (top_k, min_p, repetition_penalty, ignore_eos, return_token_ids,
// return_tokens_as_token_ids, add_special_tokens), plus still-ts's seed_index (the Philox counter word that makes a problem's
// samples equal to an in-process run's, see rollout_job.ts). Every refusal names the field.
import { randomInt } from 'node:crypto';
import type { ChatMessage } from '../io/chat_template.ts';
import type { HfTokenizer } from '../io/hf_tokenizer.ts';
import type { GenerationRequest, SamplingParams } from '../sample/request.ts';
import { EngineError } from './errors.ts';

export type Endpoint = 'completions' | 'chat';

export interface ParsedRequest {
  endpoint: Endpoint;
  model: string;
  /** One generator request per prompt (n samples each). */
  requests: GenerationRequest[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** Return each token's log-prob. */
  logprobs: boolean;
  /** vLLM extensions: the generated ids per choice, and log-prob tokens written as `token_id:N`. */
  returnTokenIds: boolean;
  tokensAsIds: boolean;
}

const U32 = 2 ** 32;

function bad(field: string, want: string, got: unknown): EngineError {
  return new EngineError(400, `'${field}' must be ${want}, got ${JSON.stringify(got)}`, field);
}

/** The fields both endpoints share. */
class Fields {
  constructor(private readonly body: Record<string, unknown>) {}

  has(k: string): boolean {
    return this.body[k] !== undefined && this.body[k] !== null;
  }

  get(k: string): unknown {
    return this.body[k];
  }

  number(k: string, dflt: number, ok: (x: number) => boolean, want: string): number {
    if (!this.has(k)) return dflt;
    const x = this.body[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || !ok(x)) throw bad(k, want, x);
    return x;
  }

  int(k: string, dflt: number, ok: (x: number) => boolean, want: string): number {
    return this.number(k, dflt, (x) => Number.isInteger(x) && ok(x), want);
  }

  bool(k: string, dflt: boolean): boolean {
    if (!this.has(k)) return dflt;
    if (typeof this.body[k] !== 'boolean') throw bad(k, 'true or false', this.body[k]);
    return this.body[k] as boolean;
  }
}

export function parseRequest(endpoint: Endpoint, body: unknown, tok: HfTokenizer, maxLen: number): ParsedRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new EngineError(400, 'the request body must be a JSON object', 'body');
  const f = new Fields(body as Record<string, unknown>);
  const model = f.get('model');
  if (typeof model !== 'string' || model === '') throw bad('model', 'a model name (GET /v1/models lists them)', model);

  // Text prompts get the tokenizer's specials (a Llama BOS) as vLLM adds them; the chat template writes its own.
  const addSpecial = f.bool('add_special_tokens', endpoint !== 'chat');
  const prompts = endpoint === 'chat' ? [chatPrompt(f.get('messages'), tok)] : completionPrompts(f.get('prompt'), (text) => tok.encode(text, { addSpecialTokens: addSpecial }), tok);
  const promptField = endpoint === 'chat' ? 'messages' : 'prompt';
  for (const p of prompts) {
    if (p.length >= maxLen) throw new EngineError(400, `'${promptField}' has ${p.length} tokens, and the model's context is ${maxLen}`, promptField);
  }
  const n = f.int('n', 1, (x) => x >= 1 && x <= 1024, 'an integer in [1, 1024]');
  if (f.has('best_of') && f.get('best_of') !== n) throw bad('best_of', `absent or equal to n (${n}): best_of is not supported`, f.get('best_of'));
  for (const k of ['presence_penalty', 'frequency_penalty']) f.number(k, 0, (x) => x === 0, '0 (not supported; use repetition_penalty)');
  if (f.has('echo') && f.get('echo') !== false) throw bad('echo', 'false (echo is not supported)', f.get('echo'));
  if (f.has('suffix') && f.get('suffix') !== '') throw bad('suffix', 'absent (suffix is not supported)', f.get('suffix'));
  if (f.has('logit_bias') && Object.keys(f.get('logit_bias') as object).length > 0) throw bad('logit_bias', 'absent (not supported)', f.get('logit_bias'));

  const maxField = endpoint === 'chat' && f.has('max_completion_tokens') ? 'max_completion_tokens' : 'max_tokens';
  const longest = Math.max(...prompts.map((p) => p.length));
  const room = maxLen - longest;
  const maxTokens = f.int(maxField, endpoint === 'chat' ? room : Math.min(16, room), (x) => x >= 1, 'a positive integer');
  if (maxTokens > room) {
    throw new EngineError(400, `'${maxField}' is ${maxTokens}, but the prompt (${longest} tokens) leaves ${room} of the model's context of ${maxLen}`, maxField);
  }
  let logprobs = false;
  if (endpoint === 'chat') {
    logprobs = f.bool('logprobs', false);
    f.int('top_logprobs', 0, (x) => x === 0, '0 (only the sampled token\'s log-prob is returned)');
  } else if (f.has('logprobs')) {
    f.int('logprobs', 0, (x) => x === 0, '0 or null (only the sampled token\'s log-prob is returned)');
    logprobs = true;
  }
  const stop = stopStrings(f.get('stop'));
  const params: SamplingParams = {
    temperature: f.number('temperature', 1, (x) => x >= 0 && x <= 100, 'a number in [0, 100]'),
    topP: f.number('top_p', 1, (x) => x > 0 && x <= 1, 'a number in (0, 1]'),
    topK: f.int('top_k', 0, (x) => x >= -1, 'an integer ≥ -1 (0 or -1 = off)'),
    minP: f.number('min_p', 0, (x) => x >= 0 && x <= 1, 'a number in [0, 1]'),
    repetitionPenalty: f.number('repetition_penalty', 1, (x) => x > 0, 'a number > 0'),
    maxNewTokens: maxTokens,
    ignoreEos: f.bool('ignore_eos', false),
    ...(stop.length > 0 ? { stop } : {}),
    // No seed: a fresh one, as an OpenAI server samples afresh each time.
    seed: f.int('seed', randomInt(2 ** 47), (x) => x >= 0 && Number.isSafeInteger(x), 'an integer in [0, 2^53)'),
    logprobs,
  };
  const seedIndex = f.int('seed_index', 0, (x) => x >= 0 && x < U32, 'an integer in [0, 2^32)');
  const streamOptions = f.get('stream_options');
  if (streamOptions !== undefined && streamOptions !== null && (typeof streamOptions !== 'object' || Array.isArray(streamOptions))) {
    throw bad('stream_options', 'an object {"include_usage": bool}', streamOptions);
  }
  const includeUsage = new Fields((streamOptions ?? {}) as Record<string, unknown>).bool('include_usage', false);
  return {
    endpoint, model, n, stream: f.bool('stream', false), includeUsage, logprobs,
    returnTokenIds: f.bool('return_token_ids', false), tokensAsIds: f.bool('return_tokens_as_token_ids', false),
    // Several prompts in one request: each its own Philox counter word, as the rollout job numbers problems.
    requests: prompts.map((prompt, i) => ({ prompt, n, seedIndex: (seedIndex + i) % U32, params })),
  };
}

/** prompt: a string, a list of strings, a list of token ids, or a list of such lists. */
function completionPrompts(prompt: unknown, encode: (text: string) => number[], tok: HfTokenizer): number[][] {
  const ids = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t));
  const want = 'a non-empty string, a list of strings, a list of token ids, or a list of such lists';
  if (typeof prompt === 'string') {
    if (prompt === '') throw bad('prompt', want, prompt);
    return [encode(prompt)];
  }
  if (!Array.isArray(prompt) || prompt.length === 0) throw bad('prompt', want, prompt);
  if (ids(prompt)) return [checkIds(prompt, tok, 'prompt')];
  return prompt.map((p, i) => {
    if (typeof p === 'string' && p !== '') return encode(p);
    if (ids(p)) return checkIds(p, tok, `prompt[${i}]`);
    throw bad(`prompt[${i}]`, 'a non-empty string or list of token ids', p);
  });
}

function checkIds(ids: number[], tok: HfTokenizer, field: string): number[] {
  const badId = ids.findIndex((t) => t < 0 || t >= tok.vocabSize);
  if (badId >= 0) throw new EngineError(400, `'${field}[${badId}]' = ${ids[badId]} is not a token id in [0, ${tok.vocabSize})`, field);
  return ids;
}

/** messages: [{role, content}], content a string or a list of {"type": "text", "text"} parts. */
function chatPrompt(messages: unknown, tok: HfTokenizer): number[] {
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages', 'a non-empty list of {"role", "content"}', messages);
  if (tok.chatTemplate === null) throw new EngineError(400, 'the model has no chat template (tokenizer_config.json); use /v1/completions', 'messages');
  const rendered: ChatMessage[] = messages.map((m, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as ChatMessage).role !== 'string') throw bad(`messages[${i}].role`, 'a string', (m as ChatMessage | null)?.role);
    const content = (m as { content?: unknown }).content;
    if (typeof content === 'string') return { ...(m as ChatMessage), content };
    if (Array.isArray(content) && content.every((p) => p && typeof p === 'object' && p.type === 'text' && typeof p.text === 'string')) {
      return { ...(m as ChatMessage), content: content.map((p) => p.text as string).join('') };
    }
    throw bad(`messages[${i}].content`, 'a string or a list of {"type": "text", "text"} parts', content);
  });
  try {
    return tok.encodeChat(rendered, { addGenerationPrompt: true });
  } catch (e) {
    throw new EngineError(400, `'messages': the chat template failed: ${(e as Error).message}`, 'messages');
  }
}

function stopStrings(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  if (typeof stop === 'string') return stop === '' ? [] : [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === 'string' && s !== '')) return stop as string[];
  throw bad('stop', 'a string or a list of non-empty strings', stop);
}
