// Rollouts on an external OpenAI-compatible engine (vLLM, SGLang, or `still serve`): the client side of
// `--engine openai`. Prompts are sent as token ids (rendered here exactly as in-process), each problem one
// /v1/completions request of n samples, at most `concurrency` at a time; 429, 5xx, timeouts and
// connection errors are retried with exponential backoff, so a server that restarts costs a pause, not
// the run. Results come back as the generator's GenerationResult, so grading and journaling are the
// rollout job's own.
//
// Each request asks for what grading and the pool need beyond the text: the token ids (vLLM's
// return_token_ids, or return_tokens_as_token_ids with logprobs 0, the older way), the finish and stop
// reasons, and the log-probs. It also sends `seed_index` (still-ts's extension, ignored by vLLM): with the
// same seed, `still serve` draws exactly the samples an in-process run draws (token for token; a log-prob
// may differ in its last bits, since batch mates change how a batched matmul rounds). Waves do not apply:
// each problem is its own request, batched as the server sees fit.
import type { FinishReason, GenerationRequest, GenerationResult } from '../sample/request.ts';

export interface OpenAIEngineOptions {
  /** The server's address, with or without the trailing /v1 (http://host:8000/v1). */
  baseUrl: string;
  /** The model name requests carry (the base's, or a loaded adapter's). */
  model: string;
  /** Sent as a bearer token; never written anywhere. */
  apiKey?: string | null;
  /** Requests in flight at once. */
  concurrency: number;
  /** Seconds one request may take (a long-thought rollout can take minutes). */
  timeoutS?: number;
  /** Tries per request before the run stops (its finished problems stay journaled). */
  maxTries?: number;
  /** Backoff before the first retry, doubled each time up to 30 s. */
  backoffMs?: number;
}

/** A failure worth retrying (429, 5xx, timeouts, connection errors) or not (4xx: the request is wrong). */
export class RemoteError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status: number | null = null) {
    super(message);
  }
}

export function v1Url(baseUrl: string, path: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base.endsWith('/v1') ? base : `${base}/v1`}${path}`;
}

export class OpenAIClient {
  constructor(readonly o: OpenAIEngineOptions) {
    if (!/^https?:\/\//.test(o.baseUrl)) throw new Error(`--base-url must be an http(s) URL such as http://127.0.0.1:8000/v1, got '${o.baseUrl}'`);
    if (!(Number.isInteger(o.concurrency) && o.concurrency >= 1)) throw new Error(`--concurrency must be a positive integer, got ${o.concurrency}`);
  }

  /** One HTTP call; errors are classified, not retried. */
  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    let res: Response;
    try {
      res = await fetch(v1Url(this.o.baseUrl, path), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout((this.o.timeoutS ?? 1800) * 1000),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.o.timeoutS ?? 1800} s` : `${err.cause?.code ?? err.message}`;
      throw new RemoteError(`${v1Url(this.o.baseUrl, path)}: ${why}`, true);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new RemoteError(`${v1Url(this.o.baseUrl, path)}: the connection broke while reading the answer (${(e as Error).message})`, true);
    }
    if (res.status >= 400) {
      throw new RemoteError(`${v1Url(this.o.baseUrl, path)}: HTTP ${res.status}: ${serverMessage(text)}`, res.status === 429 || res.status >= 500, res.status);
    }
    return { status: res.status, text };
  }

  /** call() with retries and backoff for the retryable failures. */
  async callWithRetries(method: 'GET' | 'POST', path: string, body: unknown, note?: (line: string) => void): Promise<string> {
    const tries = this.o.maxTries ?? 10;
    let wait = this.o.backoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.call(method, path, body)).text;
      } catch (e) {
        if (!(e instanceof RemoteError) || !e.retryable || attempt >= tries) throw e;
        note?.(`${e.message}; retrying in ${(wait / 1000).toFixed(1)} s (try ${attempt + 1} of ${tries})`);
        await new Promise((ok) => setTimeout(ok, wait * (0.75 + 0.5 * Math.random())));
        wait = Math.min(wait * 2, 30_000);
      }
    }
  }

  /** The model names the server serves. */
  async models(): Promise<string[]> {
    const json = JSON.parse(await this.callWithRetries('GET', '/models', undefined)) as { data?: { id?: unknown }[] };
    return (json.data ?? []).map((m) => String(m.id));
  }

  /** One problem's n samples. */
  async complete(req: GenerationRequest, seed: number, note?: (line: string) => void): Promise<GenerationResult[]> {
    const n = req.n ?? 1;
    const p = req.params ?? {};
    const body = {
      model: this.o.model, prompt: req.prompt, n, max_tokens: p.maxNewTokens ?? 16,
      temperature: p.temperature ?? 1, top_p: p.topP ?? 1, top_k: p.topK ?? -1, min_p: p.minP ?? 0, repetition_penalty: p.repetitionPenalty ?? 1,
      seed: p.seed ?? seed, seed_index: req.seedIndex ?? 0,
      ...(p.stop && p.stop.length > 0 ? { stop: p.stop } : {}), ...(p.ignoreEos ? { ignore_eos: true } : {}),
      // Text as in-process: special tokens skipped (vLLM's default too); ids and log-probs for the rollout rows.
      skip_special_tokens: true, logprobs: 0, return_token_ids: true, return_tokens_as_token_ids: true,
    };
    const text = await this.callWithRetries('POST', '/completions', body, note);
    return parseChoices(text, n, !!p.logprobs, v1Url(this.o.baseUrl, '/completions'));
  }

  async loadAdapter(name: string, path: string): Promise<void> {
    await this.callWithRetries('POST', '/load_lora_adapter', { lora_name: name, lora_path: path });
  }

  /** Unload an adapter; one the server does not have is fine. */
  async unloadAdapter(name: string): Promise<void> {
    try {
      await this.callWithRetries('POST', '/unload_lora_adapter', { lora_name: name });
    } catch (e) {
      if (e instanceof RemoteError && (e.status === 404 || e.status === 400)) return;
      throw e;
    }
  }
}

/** The error text of an OpenAI-style body ({"error": {"message"}} or vLLM's {"message"}), else the text. */
function serverMessage(text: string): string {
  try {
    const json = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    if (typeof json.error === 'object' && json.error?.message) return json.error.message;
    if (typeof json.error === 'string') return json.error;
    if (json.message) return json.message;
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 500);
}

const FINISH: readonly string[] = ['stop', 'length'];

/** A completions response as n GenerationResults (request 0), in sample order; malformed ones are retried. */
export function parseChoices(text: string, n: number, keepLogprobs: boolean, where: string): GenerationResult[] {
  const fail = (why: string) => new RemoteError(`${where}: ${why}`, false);
  let json: { choices?: unknown[] };
  try {
    json = JSON.parse(text);
  } catch {
    throw new RemoteError(`${where}: the answer is not JSON (${text.slice(0, 200)})`, true);
  }
  if (!Array.isArray(json.choices) || json.choices.length !== n) throw fail(`expected ${n} choices, got ${Array.isArray(json.choices) ? json.choices.length : 'none'}`);
  const out: GenerationResult[] = new Array(n);
  for (const c of json.choices as Record<string, unknown>[]) {
    const index = c.index;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= n || out[index as number]) throw fail(`choice index ${JSON.stringify(index)} is not one of 0…${n - 1} (or repeats)`);
    if (typeof c.text !== 'string') throw fail(`choice ${index}: 'text' is not a string`);
    if (!FINISH.includes(c.finish_reason as string)) throw fail(`choice ${index}: finish_reason ${JSON.stringify(c.finish_reason)} is not 'stop' or 'length'`);
    const lp = c.logprobs as { tokens?: string[]; token_logprobs?: (number | null)[] } | null | undefined;
    const tokens = tokenIds(c, lp);
    if (!tokens) throw fail(`choice ${index}: no token ids (the server needs vLLM's return_token_ids or return_tokens_as_token_ids)`);
    const r: GenerationResult = { request: 0, sample: index as number, tokens, text: c.text, finishReason: c.finish_reason as FinishReason };
    const stop = c.stop_reason;
    if (typeof stop === 'string' || typeof stop === 'number') r.stopReason = stop;
    if (keepLogprobs) {
      if (!lp || !Array.isArray(lp.token_logprobs)) throw fail(`choice ${index}: no logprobs.token_logprobs`);
      r.logprobs = lp.token_logprobs.map((x) => x ?? 0);
    }
    out[index as number] = r;
  }
  return out;
}

function tokenIds(c: Record<string, unknown>, lp: { tokens?: string[] } | null | undefined): number[] | null {
  if (Array.isArray(c.token_ids) && c.token_ids.every((t) => Number.isInteger(t))) return c.token_ids as number[];
  if (lp && Array.isArray(lp.tokens)) {
    const ids = lp.tokens.map((t) => (/^token_id:\d+$/.test(t) ? Number(t.slice(9)) : NaN));
    if (ids.every((x) => Number.isInteger(x))) return ids;
  }
  return null;
}
