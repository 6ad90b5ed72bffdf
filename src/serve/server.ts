// `still serve`'s HTTP side (node:http): the OpenAI-compatible routes over one ServeEngine.
//
//   POST /v1/completions, /v1/chat/completions   whole or streamed (server-sent events)
//   GET  /v1/models                              the base and the loaded adapters
//   POST /v1/load_lora_adapter, /v1/unload_lora_adapter   vLLM's runtime LoRA endpoints
//   GET  /health, /metrics                       liveness, and Prometheus text
//
// Loopback by default; any other address needs an API key, which /v1/* requests must then carry as
// `Authorization: Bearer KEY`. A client that disconnects cancels its request (its slots are freed at once).
// close() drains: no new requests, in-flight ones finish (or are cancelled after a timeout).
//
//   const server = await startServer({ modelDir: 'checkpoints/m', port: 8000 });
//   … await server.close();
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { basename, resolve } from 'node:path';
import { loadHfTokenizer, type HfTokenizer } from '../io/hf_tokenizer.ts';
import { loadModel } from '../nn/load.ts';
import type { GenerationResult } from '../sample/request.ts';
import { ServeEngine } from './engine.ts';
import { EngineError, errorBody } from './errors.ts';
import { parseRequest, type Endpoint, type ParsedRequest } from './openai_request.ts';
import { completionBody, streamChunk, usageChunk, type ResponseHead } from './openai_response.ts';

export interface ServeOptions {
  /** HF model directory (config.json, weights, tokenizer.json). */
  modelDir: string;
  /** The name requests use for the base model (default: the directory's name). */
  name?: string;
  /** LoRA adapters served from the start: name → PEFT directory. */
  adapters?: Record<string, string>;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  /** Required for a non-loopback host: requests must then send it as a bearer token. */
  apiKey?: string | null;
  maxBatch?: number;
  /** Positions per sequence (default: the model's context). */
  maxLen?: number;
  /** Requests waiting for a slot beyond which new ones get 429. */
  maxQueue?: number;
  /** Request bodies above this many bytes get 413. */
  maxBodyBytes?: number;
  notice?: (line: string) => void;
}

export interface StillServer {
  url: string;
  port: number;
  engine: ServeEngine;
  /** Stop taking requests, let in-flight ones finish (cancelled after `drainMs`), then stop. */
  close(o?: { drainMs?: number }): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.'));
}

export async function startServer(o: ServeOptions): Promise<StillServer> {
  const host = o.host ?? '127.0.0.1';
  if (!isLoopback(host) && !o.apiKey) {
    throw new Error(`--host ${host} is not a loopback address: anyone who can reach it could use the server, so pass --api-key-env NAME (the key every request must send)`);
  }
  const tok = loadHfTokenizer(o.modelDir);
  const model = loadModel(o.modelDir, { quiet: true });
  const engine = new ServeEngine({
    modelDir: o.modelDir, model, tokenizer: tok, name: o.name ?? basename(resolve(o.modelDir)), maxBatch: o.maxBatch ?? 16, maxLen: o.maxLen,
    maxQueue: o.maxQueue ?? 256, adapters: o.adapters, notice: o.notice,
  });
  const app = new App(engine, tok, { apiKey: o.apiKey ?? null, maxBodyBytes: o.maxBodyBytes ?? 16 * 2 ** 20 });
  const server = createServer((req, res) => void app.handle(req, res));
  // Idle keep-alive sockets outlive the clients' own idle timeout (undici's is 4 s), so a client never
  // sends on a socket the server is closing at that moment.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 8000, host, () => ok());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url, port, engine,
    close: async ({ drainMs = 30_000 } = {}) => {
      app.draining = true;
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([engine.drain(), new Promise<void>((ok) => (timer = setTimeout(ok, drainMs)))]);
      clearTimeout(timer);
      engine.cancelAll('the server is shutting down');
      server.closeAllConnections();
      await closed;
      engine.dispose();
    },
  };
}

class App {
  draining = false;
  private nextId = 0;

  constructor(private readonly engine: ServeEngine, private readonly tok: HfTokenizer, private readonly o: { apiKey: string | null; maxBodyBytes: number }) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    res.on('finish', () => this.engine.metrics.request(path.startsWith('/v1/') || path === '/health' || path === '/metrics' ? path : 'other', res.statusCode));
    try {
      if (path.startsWith('/v1/')) this.authorize(req);
      const route = `${req.method} ${path}`;
      switch (route) {
        case 'GET /health':
          return this.json(res, this.draining ? 503 : 200, { status: this.draining ? 'draining' : 'ok' });
        case 'GET /metrics':
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(this.engine.metrics.render({
            queuedRequests: this.engine.queuedRequests, queuedSamples: this.engine.queuedSamples, running: this.engine.runningSequences, maxBatch: this.engine.generator.maxBatch,
          }));
          return;
        case 'GET /v1/models':
          return this.json(res, 200, this.models());
        case 'POST /v1/completions':
          return await this.generate('completions', req, res);
        case 'POST /v1/chat/completions':
          return await this.generate('chat', req, res);
        case 'POST /v1/load_lora_adapter': {
          const body = await this.body(req);
          this.engine.loadAdapter(stringField(body, 'lora_name'), stringField(body, 'lora_path'));
          return this.text(res, 200, `Success: LoRA adapter '${body.lora_name}' added successfully.`);
        }
        case 'POST /v1/unload_lora_adapter': {
          const body = await this.body(req);
          this.engine.unloadAdapter(stringField(body, 'lora_name'));
          return this.text(res, 200, `Success: LoRA adapter '${body.lora_name}' removed successfully.`);
        }
        default: {
          const known = ['/health', '/metrics', '/v1/models', '/v1/completions', '/v1/chat/completions', '/v1/load_lora_adapter', '/v1/unload_lora_adapter'];
          if (known.includes(path)) throw new EngineError(405, `${req.method} is not allowed on ${path}`);
          throw new EngineError(404, `no route ${path}`, null, 'not_found_error');
        }
      }
    } catch (e) {
      const err = e instanceof EngineError ? e : new EngineError(400, (e as Error).message);
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err.status === 413) res.setHeader('connection', 'close');
      this.json(res, err.status, errorBody(err));
    }
  }

  private models() {
    const created = Math.floor(Date.now() / 1000);
    const base = this.engine.models()[0]!;
    return {
      object: 'list',
      data: this.engine.models().map((id) => ({
        id, object: 'model', created, owned_by: 'still-ts', root: base, parent: id === base ? null : base, max_model_len: this.engine.maxLen,
      })),
    };
  }

  private authorize(req: IncomingMessage): void {
    if (!this.o.apiKey) return;
    const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer\s+/i, ''));
    const want = Buffer.from(this.o.apiKey);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new EngineError(401, 'a missing or wrong API key (send "Authorization: Bearer KEY")', null, 'authentication_error');
    }
  }

  /** The JSON body, within the size limit. */
  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const limit = this.o.maxBodyBytes;
    const tooBig = () => new EngineError(413, `the request body is larger than ${limit} bytes`, 'body');
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      throw tooBig();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        req.resume();
        throw tooBig();
      }
      chunks.push(chunk as Buffer);
    }
    let json: unknown;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      throw new EngineError(400, `the request body is not valid JSON (${(e as Error).message})`, 'body');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new EngineError(400, 'the request body must be a JSON object', 'body');
    return json as Record<string, unknown>;
  }

  private async generate(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.draining) throw new EngineError(503, 'the server is shutting down', null, 'server_error');
    const parsed = parseRequest(endpoint, await this.body(req), this.tok, this.engine.maxLen);
    this.engine.variantOf(parsed.model); // 404 before anything is queued
    const head: ResponseHead = { id: `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${Date.now().toString(36)}-${this.nextId++}`, created: Math.floor(Date.now() / 1000), model: parsed.model };
    if (parsed.stream) return this.stream(parsed, head, res);
    await new Promise<void>((done, fail) => {
      const ticket = this.engine.submit(parsed.model, parsed.requests, {
        onDone: (results) => {
          this.json(res, 200, completionBody(parsed, head, results, this.tok));
          done();
        },
        onError: fail,
      });
      res.on('close', () => {
        if (!res.writableFinished) ticket.cancel();
        done();
      });
    });
  }

  private stream(parsed: ParsedRequest, head: ResponseHead, res: ServerResponse): void {
    const n = parsed.n;
    const offsets = new Array<number>(parsed.requests.length * n).fill(0);
    const started = new Set<number>();
    let tokens = 0;
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const ticket = this.engine.submit(parsed.model, parsed.requests, {
      onToken: (prompt, sample, e) => {
        tokens++;
        const index = prompt * n + sample;
        const first = parsed.endpoint === 'chat' && !started.has(index);
        started.add(index);
        const finished: GenerationResult | undefined = e.finished;
        if (e.text === '' && !finished && !parsed.logprobs && !parsed.returnTokenIds && !first) return;
        send(streamChunk(parsed, head, this.tok, {
          index, text: e.text, offset: offsets[index]!, first, finished,
          ...(parsed.logprobs || parsed.returnTokenIds ? { token: e.token } : {}), ...(parsed.logprobs ? { logprob: e.logprob } : {}),
        }));
        offsets[index]! += e.text.length;
      },
      onDone: () => {
        if (parsed.includeUsage) send(usageChunk(parsed, head, tokens));
        res.end('data: [DONE]\n\n');
      },
      onError: (err) => {
        const e = err instanceof EngineError ? err : new EngineError(503, err.message, null, 'server_error');
        send(errorBody(e));
        res.end('data: [DONE]\n\n');
      },
    });
    // Headers only once the request is accepted: a refusal (429) is still a plain JSON error.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.on('close', () => {
      if (!res.writableFinished) ticket.cancel();
    });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private text(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  }
}

function stringField(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw new EngineError(400, `'${field}' must be a non-empty string, got ${JSON.stringify(v)}`, field);
  return v;
}
