// OpenAI-compatible response bodies: whole completions and chat completions, and the chunks of their
// server-sent event streams. Choices are numbered prompt × n + sample, as OpenAI and vLLM number them;
// usage counts each prompt once and every generated token (a final EOS included).
import type { HfTokenizer } from '../io/hf_tokenizer.ts';
import type { GenerationResult } from '../sample/request.ts';
import type { ParsedRequest } from './openai_request.ts';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(req: ParsedRequest, completionTokens: number): Usage {
  const prompt = req.requests.reduce((s, r) => s + r.prompt.length, 0);
  return { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens };
}

/** A token as log-prob entries name it: its text, or `token_id:N` when asked (vLLM's convention). */
function tokenString(tok: HfTokenizer, id: number, asId: boolean): string {
  return asId ? `token_id:${id}` : tok.decode([id]);
}

/** The completions API's logprobs object for some tokens of one choice. */
export function completionLogprobs(tok: HfTokenizer, ids: readonly number[], logprobs: readonly number[], asIds: boolean, offset: number) {
  const tokens = ids.map((id) => tokenString(tok, id, asIds));
  const text_offset: number[] = [];
  let at = offset;
  for (const t of tokens) {
    text_offset.push(at);
    at += t.length;
  }
  return { tokens, token_logprobs: [...logprobs], top_logprobs: tokens.map((t, i) => ({ [t]: logprobs[i]! })), text_offset };
}

/** The chat API's logprobs object. */
export function chatLogprobs(tok: HfTokenizer, ids: readonly number[], logprobs: readonly number[], asIds: boolean) {
  return {
    content: ids.map((id, i) => {
      const token = tokenString(tok, id, asIds);
      return { token, logprob: logprobs[i]!, bytes: [...Buffer.from(token, 'utf8')], top_logprobs: [] };
    }),
  };
}

const stopReason = (r: GenerationResult) => r.stopReason ?? null;

export interface ResponseHead {
  id: string;
  created: number;
  model: string;
}

/** The whole response of a non-streaming request: results per prompt, in sample order. */
export function completionBody(req: ParsedRequest, head: ResponseHead, results: GenerationResult[][], tok: HfTokenizer): Record<string, unknown> {
  const flat = results.flat();
  const tokens = flat.reduce((s, r) => s + r.tokens.length, 0);
  const choices = flat.map((r, index) => {
    const lp = req.logprobs ? r.logprobs ?? [] : null;
    const ids = req.returnTokenIds ? { token_ids: r.tokens } : {};
    if (req.endpoint === 'chat') {
      return {
        index, message: { role: 'assistant', content: r.text ?? '' },
        logprobs: lp ? chatLogprobs(tok, r.tokens, lp, req.tokensAsIds) : null,
        finish_reason: r.finishReason, stop_reason: stopReason(r), ...ids,
      };
    }
    return {
      index, text: r.text ?? '', logprobs: lp ? completionLogprobs(tok, r.tokens, lp, req.tokensAsIds, 0) : null,
      finish_reason: r.finishReason, stop_reason: stopReason(r), ...ids,
    };
  });
  return {
    id: head.id, object: req.endpoint === 'chat' ? 'chat.completion' : 'text_completion', created: head.created, model: head.model,
    choices, usage: usage(req, tokens),
  };
}

/** One streamed chunk: a choice's new text (and token), or its end. */
export function streamChunk(
  req: ParsedRequest, head: ResponseHead, tok: HfTokenizer,
  c: { index: number; text: string; token?: number; logprob?: number; finished?: GenerationResult; offset: number; first?: boolean },
): Record<string, unknown> {
  const object = req.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const tokens = c.token !== undefined ? [c.token] : [];
  const lps = c.logprob !== undefined ? [c.logprob] : [];
  const end = c.finished ? { finish_reason: c.finished.finishReason, stop_reason: stopReason(c.finished) } : { finish_reason: null };
  const ids = req.returnTokenIds ? { token_ids: tokens } : {};
  const choice = req.endpoint === 'chat'
    ? {
      index: c.index, delta: c.first ? { role: 'assistant', content: c.text } : { content: c.text },
      logprobs: req.logprobs && tokens.length ? chatLogprobs(tok, tokens, lps, req.tokensAsIds) : null, ...end, ...ids,
    }
    : {
      index: c.index, text: c.text,
      logprobs: req.logprobs && tokens.length ? completionLogprobs(tok, tokens, lps, req.tokensAsIds, c.offset) : null, ...end, ...ids,
    };
  return { id: head.id, object, created: head.created, model: head.model, choices: [choice] };
}

/** The last chunk when stream_options.include_usage: no choices, the usage. */
export function usageChunk(req: ParsedRequest, head: ResponseHead, completionTokens: number): Record<string, unknown> {
  return {
    id: head.id, object: req.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: head.created, model: head.model,
    choices: [], usage: usage(req, completionTokens),
  };
}
