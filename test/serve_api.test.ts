// `still serve` over real HTTP on loopback (the tiny Qwen2 with its tokenizer): a generator session lets
// requests join mid-run and draws what generate() draws; the server answers as in-process generation does,
// with and without an adapter; 64 concurrent streaming clients all finish and every token is counted in
// usage and /metrics; bad requests get 400/404/413 naming the field while the server keeps serving; a
// client that goes away frees its slots; a full queue answers 429; a non-loopback bind needs a key.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { loadPeftAdapter } from '../src/io/peft.ts';
import { loadModel } from '../src/nn/load.ts';
import { mergeLora } from '../src/nn/merge.ts';
import { Generator } from '../src/sample/generator.ts';
import type { GenerationRequest, GenerationResult } from '../src/sample/request.ts';
import { generatorOptions } from '../src/sample/sampling.ts';
import { startServer, type StillServer } from '../src/serve/server.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';

const dir = tinyEvalModelDir(256);
const LORA = 'fixtures/tiny-qwen2/lora';
let server: StillServer;
afterAll(async () => {
  await server?.close({ drainMs: 1000 });
  rmSync(dir, { recursive: true, force: true });
});
beforeAll(async () => {
  server = await startServer({ modelDir: dir, name: 'tiny', adapters: { lora: LORA }, port: 0, maxBatch: 16, maxBodyBytes: 64 * 1024 });
});

const post = async (path: string, body: unknown, init: RequestInit = {}) => {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    // SSE or plain text
  }
  return { status: res.status, text, json };
};

const metrics = async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const value = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1]);
  return { text, value };
};

/** The same requests in-process: a fresh model (merged with `adapter`), generate() as the CLI does it. */
function inProcess(requests: GenerationRequest[], adapter?: string): GenerationResult[] {
  const model = loadModel(dir, { quiet: true });
  if (adapter) mergeLora(model, loadPeftAdapter(adapter, model.config)).dispose();
  const tok = loadHfTokenizer(dir);
  const gen = new Generator(model, { ...generatorOptions(model.config, { maxBatch: 4, maxNewTokens: 1, n: 1, stop: [] }, tok), maxLen: 256 });
  try {
    return gen.generate(requests);
  } finally {
    gen.dispose();
  }
}

const prompt = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 131 + i * 37 + 11) % 500);

describe('a generator session', () => {
  it('lets requests join while others decode and draws what generate() draws for them', () => {
    const model = loadModel(dir, { quiet: true });
    const requests: GenerationRequest[] = [0, 1, 2, 3, 4].map((i) => ({ prompt: prompt(i, 5 + 3 * i), n: 2, seedIndex: i, params: { temperature: 0.9, seed: 7, maxNewTokens: 12 + i } }));
    const gen = new Generator(model, { maxBatch: 3, maxLen: 64 });
    const whole = gen.generate(requests);
    const results = new Map<string, GenerationResult>();
    const session = gen.session({ onToken: (e) => e.finished && results.set(`${e.request}/${e.sample}`, e.finished) });
    session.add(requests[0]!);
    session.step();
    session.step();
    for (const r of requests.slice(1)) {
      session.add(r);
      session.step();
    }
    // A request that leaves mid-run frees its slots for the others, and returns nothing.
    const gone = session.add({ prompt: prompt(9, 6), n: 3, params: { maxNewTokens: 40 } });
    session.step();
    session.cancel(gone);
    while (session.busy) session.step();
    session.close();
    gen.dispose();
    expect(results.size).toBe(10);
    for (const w of whole) expect(results.get(`${w.request}/${w.sample}`)?.tokens).toEqual(w.tokens);
  });
});

describe('still serve', () => {
  it('lists the base and the adapter, and answers as in-process generation does with each', async () => {
    const models = await (await fetch(`${server.url}/v1/models`)).json();
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(['tiny', 'lora']);
    const ids = prompt(3, 9);
    const want = inProcess([{ prompt: ids, n: 3, seedIndex: 5, params: { temperature: 0.8, topP: 0.9, seed: 11, maxNewTokens: 20, logprobs: true } }]);
    const wantLora = inProcess([{ prompt: ids, n: 3, seedIndex: 5, params: { temperature: 0.8, topP: 0.9, seed: 11, maxNewTokens: 20, logprobs: true } }], LORA);
    expect(wantLora.map((r) => r.tokens)).not.toEqual(want.map((r) => r.tokens));
    for (const [model, expected] of [['tiny', want], ['lora', wantLora], ['tiny', want]] as const) {
      const r = await post('/v1/completions', {
        model, prompt: ids, n: 3, temperature: 0.8, top_p: 0.9, seed: 11, seed_index: 5, max_tokens: 20, logprobs: 0, return_token_ids: true,
      });
      expect(r.status).toBe(200);
      expect(r.json.choices.map((c: any) => c.token_ids)).toEqual(expected.map((x) => x.tokens));
      expect(r.json.choices.map((c: any) => c.text)).toEqual(expected.map((x) => x.text));
      r.json.choices.forEach((c: any, i: number) => c.logprobs.token_logprobs.forEach((lp: number, j: number) => expect(lp).toBeCloseTo(expected[i]!.logprobs![j]!, 5)));
      expect(r.json.usage).toEqual({ prompt_tokens: 9, completion_tokens: 60, total_tokens: 69 });
    }
    // Chat renders the template, as still eval prompts do.
    const tok = loadHfTokenizer(dir);
    const chatIds = tok.encodeChat([{ role: 'user', content: 'What is 2+2?' }], { addGenerationPrompt: true });
    const [chatWant] = inProcess([{ prompt: chatIds, params: { temperature: 0, maxNewTokens: 12 } }]);
    const chat = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'What is 2+2?' }], temperature: 0, max_tokens: 12 });
    expect(chat.json.choices[0].message).toEqual({ role: 'assistant', content: chatWant!.text });
    expect(chat.json.usage.prompt_tokens).toBe(chatIds.length);
  });

  it('streams 64 concurrent clients to the end, every token counted in usage and /metrics', async () => {
    const before = (await metrics()).value('still_generation_tokens_total');
    const clients = Array.from({ length: 64 }, async (_, i) => {
      const chat = i % 4 === 0;
      const res = await fetch(`${server.url}/v1/${chat ? 'chat/completions' : 'completions'}`, {
        method: 'POST',
        body: JSON.stringify({
          model: i % 2 ? 'tiny' : 'lora', ...(chat ? { messages: [{ role: 'user', content: `q${i}` }] } : { prompt: `Count ${i}:` }),
          max_tokens: 8 + (i % 9), temperature: 1, seed: i, stream: true, stream_options: { include_usage: true }, stop: i % 3 ? undefined : ['e'],
        }),
      });
      expect(res.status).toBe(200);
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
      expect(events.at(-1)).toBe('[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      const usage = chunks.at(-1).usage;
      const ends = chunks.flatMap((c) => c.choices).filter((c: any) => c.finish_reason !== null);
      expect(ends).toHaveLength(1);
      if (ends[0].finish_reason === 'length') expect(usage.completion_tokens).toBe(8 + (i % 9));
      expect(usage.completion_tokens).toBeGreaterThan(0);
      return usage.completion_tokens as number;
    });
    const tokens = (await Promise.all(clients)).reduce((a, b) => a + b, 0);
    const after = await metrics();
    expect(after.value('still_generation_tokens_total') - before).toBe(tokens);
    expect(after.value('still_running_sequences')).toBe(0);
    expect(after.value('still_queue_depth')).toBe(0);
    expect(after.text).toContain('still_requests_total{endpoint="/v1/completions",status="200"}');
  }, 60_000);

  it('refuses bad requests with the field named, and keeps serving', async () => {
    const cases: [unknown, number, string | null, RegExp][] = [
      [{ model: 'nope', prompt: 'hi' }, 404, 'model', /model 'nope' does not exist; served: tiny, lora/],
      [{ model: 'tiny', prompt: 'hi', n: 0 }, 400, 'n', /'n' must be an integer in \[1, 1024\], got 0/],
      [{ model: 'tiny', prompt: 'hi', temperature: -0.5 }, 400, 'temperature', /'temperature' must be a number in \[0, 100\], got -0.5/],
      [{ model: 'tiny', prompt: prompt(1, 300) }, 400, 'prompt', /'prompt' has 300 tokens, and the model's context is 256/],
      [{ model: 'tiny', prompt: prompt(1, 250), max_tokens: 10 }, 400, 'max_tokens', /leaves 6 of the model's context of 256/],
      [{ model: 'tiny', messages: 'hi' }, 400, 'messages', /'messages' must be/],
      [{ model: 'tiny', prompt: 'hi', logprobs: 5 }, 400, 'logprobs', /'logprobs' must be 0 or null/],
      ['{"model": "tiny", "prompt": ', 400, 'body', /not valid JSON/],
      [JSON.stringify({ model: 'tiny', prompt: 'x'.repeat(70_000) }), 413, 'body', /larger than 65536 bytes/],
    ];
    for (const [body, status, param, message] of cases) {
      const path = typeof body === 'object' && body !== null && 'messages' in body ? '/v1/chat/completions' : '/v1/completions';
      const r = await post(path, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(r.json.error.param).toBe(param);
      expect(r.json.error.message).toMatch(message);
    }
    expect((await post('/v1/load_lora_adapter', { lora_name: 'x', lora_path: '/nowhere/at/all' })).json.error).toMatchObject({ param: 'lora_path', message: expect.stringContaining('the server cannot read') });
    expect((await post('/v1/unload_lora_adapter', { lora_name: 'x' })).status).toBe(404);
    const ok = await post('/v1/completions', { model: 'tiny', prompt: 'still here', max_tokens: 3 });
    expect(ok.status).toBe(200);
    expect(ok.json.usage.completion_tokens).toBe(3);
  });

  it('loads and unloads adapters at run time; a request naming an unloaded one gets 404', async () => {
    expect((await post('/v1/load_lora_adapter', { lora_name: 'again', lora_path: LORA })).status).toBe(200);
    const a = await post('/v1/completions', { model: 'again', prompt: [5, 6, 7], max_tokens: 6, temperature: 0, return_token_ids: true });
    const b = await post('/v1/completions', { model: 'lora', prompt: [5, 6, 7], max_tokens: 6, temperature: 0, return_token_ids: true });
    expect(a.json.choices[0].token_ids).toEqual(b.json.choices[0].token_ids);
    expect((await post('/v1/unload_lora_adapter', { lora_name: 'again' })).status).toBe(200);
    const gone = await post('/v1/completions', { model: 'again', prompt: [5, 6, 7], max_tokens: 6 });
    expect(gone.status).toBe(404);
    // Unloading the adapter the weights hold took it out of them: the base answers as the base again.
    const base = await post('/v1/completions', { model: 'tiny', prompt: [5, 6, 7], max_tokens: 6, temperature: 0, return_token_ids: true });
    const [want] = inProcess([{ prompt: [5, 6, 7], params: { temperature: 0, maxNewTokens: 6 } }]);
    expect(base.json.choices[0].token_ids).toEqual(want!.tokens);
  });

  it('frees the slots of a client that goes away', async () => {
    const before = await metrics();
    const ctl = new AbortController();
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST', signal: ctl.signal, body: JSON.stringify({ model: 'tiny', prompt: 'long', n: 4, max_tokens: 200, ignore_eos: true, stream: true }),
    });
    const reader = res.body!.getReader();
    await reader.read(); // tokens are flowing
    expect((await metrics()).value('still_running_sequences')).toBe(4);
    ctl.abort();
    await new Promise((ok) => setTimeout(ok, 200));
    const after = await metrics();
    expect(after.value('still_running_sequences')).toBe(0);
    expect(after.value('still_generations_cancelled_total') - before.value('still_generations_cancelled_total')).toBe(1);
    // Far fewer than 4 × 200 tokens were made for it.
    expect(after.value('still_generation_tokens_total') - before.value('still_generation_tokens_total')).toBeLessThan(400);
  });
});

describe('still serve limits', () => {
  it('answers 429 when the queue is full, and serves the queued requests', async () => {
    const long = tinyEvalModelDir(2048);
    const small = await startServer({ modelDir: long, name: 'tiny', port: 0, maxBatch: 1, maxQueue: 2 });
    try {
      const req = (max: number) => fetch(`${small.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'q', max_tokens: max, ignore_eos: true }) });
      const gauge = async (name: string) => Number((await (await fetch(`${small.url}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)$`, 'm'))![1]);
      const first = req(600); // holds the one slot for a while
      while ((await gauge('still_running_sequences')) < 1) await new Promise((ok) => setTimeout(ok, 5));
      const queued = [req(5), req(5)];
      while ((await gauge('still_queue_depth')) < 2) await new Promise((ok) => setTimeout(ok, 5));
      const refused = await req(5);
      expect(refused.status).toBe(429);
      expect((await refused.json()).error).toMatchObject({ type: 'rate_limit_error', message: expect.stringContaining('the queue is full (2 requests waiting)') });
      for (const r of await Promise.all([first, ...queued])) expect(r.status).toBe(200);
    } finally {
      await small.close({ drainMs: 10_000 });
      rmSync(long, { recursive: true, force: true });
    }
  });

  it('binds beyond loopback only with an API key, which /v1 requests must then send', async () => {
    await expect(startServer({ modelDir: dir, host: '0.0.0.0', port: 0 })).rejects.toThrow('--host 0.0.0.0 is not a loopback address');
    const guarded = await startServer({ modelDir: dir, name: 'tiny', host: '0.0.0.0', port: 0, apiKey: 'sekret' });
    try {
      const url = `http://127.0.0.1:${guarded.port}`;
      expect((await fetch(`${url}/v1/models`)).status).toBe(401);
      expect((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer wrong!' } })).status).toBe(401);
      expect((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sekret' } })).status).toBe(200);
      expect((await fetch(`${url}/health`)).status).toBe(200);
    } finally {
      await guarded.close({ drainMs: 1000 });
    }
  });
});
