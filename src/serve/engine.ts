// The serving engine: one model, its tokenizer and one continuous-batching generator session that every
// HTTP request shares. Requests (a prompt × n samples, or several prompts) are tickets; the engine adds
// them to the session as they come, decodes one step, and yields to the event loop (setImmediate) before
// the next, so sockets are read and written between steps. A ticket cancelled (its client went away)
// leaves the session at once and its slots go to the next request.
//
// LoRA adapters: generation runs on merged weights, so one adapter is active at a time. Requests name a
// variant (the base, or an adapter); those for another variant than the active one wait until the running
// batch drains, then the engine switches (unmerges the old adapter, merges the new one). Unmerging is
// W − s·B·A, exact up to float rounding: a base served again after an adapter differs by that rounding.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadAdapterFor } from '../io/adapter_base.ts';
import type { HfTokenizer } from '../io/hf_tokenizer.ts';
import { ADAPTER_CONFIG } from '../io/peft.ts';
import type { LoraAdapter } from '../nn/lora.ts';
import { mergeLora, unmergeLora } from '../nn/merge.ts';
import type { DecoderModel } from '../nn/model.ts';
import { explainNanLogits } from '../nn/weights_check.ts';
import { Generator, type TokenEvent } from '../sample/generator.ts';
import type { GenerationRequest, GenerationResult } from '../sample/request.ts';
import { generatorOptions } from '../sample/sampling.ts';
import type { GenerationSession } from '../sample/session.ts';
import { EngineError } from './errors.ts';
import { ServeMetrics } from './metrics.ts';

export interface EngineOptions {
  /** The model's directory (adapters are checked against it). */
  modelDir: string;
  model: DecoderModel;
  tokenizer: HfTokenizer;
  /** The name clients use for the base model. */
  name: string;
  /** Sequences decoded together. */
  maxBatch: number;
  /** Positions per sequence, prompt included (default: the model's context). */
  maxLen?: number;
  /** Requests waiting for a slot beyond which new ones are refused (429). */
  maxQueue: number;
  /** Adapters served from the start: name → PEFT directory. */
  adapters?: Record<string, string>;
  notice?: (line: string) => void;
}

export interface TicketListener {
  /** A token of prompt `prompt`, sample `sample` (indices within the ticket). */
  onToken?(prompt: number, sample: number, e: TokenEvent): void;
  /** Every sample finished: results per prompt, in sample order. */
  onDone(results: GenerationResult[][]): void;
  onError(err: Error): void;
}

export interface Ticket {
  cancel(): void;
}

interface TicketState {
  variant: string | null;
  requests: GenerationRequest[];
  listener: TicketListener;
  /** Session index → prompt index, once added. */
  indices: number[];
  results: GenerationResult[][];
  left: number;
  done: boolean;
}

export class ServeEngine {
  readonly generator: Generator;
  readonly metrics = new ServeMetrics();
  readonly maxLen: number;
  private readonly adapters = new Map<string, string>();
  private active: { name: string; adapter: LoraAdapter } | null = null;
  private session: GenerationSession | null = null;
  private readonly waiting: TicketState[] = [];
  private readonly running = new Map<number, { ticket: TicketState; prompt: number }>();
  private pumping = false;
  private stopping = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(readonly o: EngineOptions) {
    const cfg = o.model.config;
    this.maxLen = o.maxLen ?? cfg.maxPositionEmbeddings;
    const opts = generatorOptions(cfg, { maxBatch: o.maxBatch, maxNewTokens: 1, n: 1, stop: [] }, o.tokenizer);
    this.generator = new Generator(o.model, { ...opts, maxLen: this.maxLen });
    for (const [name, dir] of Object.entries(o.adapters ?? {})) this.loadAdapter(name, dir);
  }

  /** The names requests may use: the base, then the adapters. */
  models(): string[] {
    return [this.o.name, ...this.adapters.keys()];
  }

  /** Register an adapter (checked against the base now; merged when a request needs it). */
  loadAdapter(name: string, dir: string): void {
    if (name === this.o.name) throw new EngineError(400, `lora_name '${name}' is the base model's name`, 'lora_name');
    if (this.adapters.has(name)) throw new EngineError(400, `lora_name '${name}' is loaded already; unload it first`, 'lora_name');
    if (!existsSync(join(dir, ADAPTER_CONFIG))) {
      throw new EngineError(400, `lora_path '${dir}': the server cannot read ${join(dir, ADAPTER_CONFIG)} (the path is read on the server's machine, so it must be one the server can see)`, 'lora_path');
    }
    try {
      // Read now so a bad adapter is refused at load time, not when a request first needs it.
      loadAdapterFor(dir, this.o.modelDir, this.o.model.config).dispose();
    } catch (e) {
      throw new EngineError(400, `lora_path '${dir}': ${(e as Error).message}`, 'lora_path');
    }
    this.adapters.set(name, dir);
    this.o.notice?.(`adapter '${name}' loaded from ${dir}`);
  }

  unloadAdapter(name: string): void {
    if (!this.adapters.has(name)) throw new EngineError(404, `lora_name '${name}' is not loaded`, 'lora_name', 'not_found_error');
    if (this.waiting.some((t) => t.variant === name) || (this.active?.name === name && this.session?.busy)) {
      throw new EngineError(400, `lora_name '${name}' is serving requests now; unload it when they finish`, 'lora_name');
    }
    this.adapters.delete(name);
    if (this.active?.name === name) {
      // Its weights are still merged: take them out now, so a later adapter of the same name starts clean.
      this.session?.close();
      this.session = null;
      this.switchTo(null);
    }
    this.o.notice?.(`adapter '${name}' unloaded`);
  }

  /** The variant a model name asks for: null for the base, else the adapter's name. */
  variantOf(model: string): string | null {
    if (model === this.o.name) return null;
    if (this.adapters.has(model)) return model;
    throw new EngineError(404, `model '${model}' does not exist; served: ${this.models().join(', ')}`, 'model', 'not_found_error');
  }

  /** Requests with a sample still waiting for a slot (what --max-queue bounds). */
  get queuedRequests(): number {
    return this.waiting.length + (this.session?.queuedRequests ?? 0);
  }

  /** Samples waiting for a slot. */
  get queuedSamples(): number {
    return this.waiting.reduce((s, t) => s + t.left, 0) + (this.session?.waiting ?? 0);
  }

  get runningSequences(): number {
    return this.session?.running ?? 0;
  }

  /** Queue generation requests for a model name; refusals throw EngineError before anything starts. */
  submit(model: string, requests: GenerationRequest[], listener: TicketListener): Ticket {
    if (this.stopping) throw new EngineError(503, 'the server is shutting down', null, 'server_error');
    const variant = this.variantOf(model);
    if (this.queuedRequests >= this.o.maxQueue) {
      throw new EngineError(429, `the queue is full (${this.o.maxQueue} requests waiting); retry later`, null, 'rate_limit_error');
    }
    requests.forEach((r, i) => {
      try {
        this.generator.resolve(r, i); // the checks generate() makes, before the request is queued
      } catch (e) {
        throw new EngineError(400, (e as Error).message, 'prompt');
      }
    });
    const ticket: TicketState = {
      variant, requests, listener, indices: [], results: requests.map(() => []), left: requests.reduce((s, r) => s + (r.n ?? 1), 0), done: false,
    };
    this.waiting.push(ticket);
    this.metrics.promptTokens += requests.reduce((s, r) => s + r.prompt.length, 0);
    // Not now: the caller sets up its response before the first token can arrive.
    setImmediate(() => void this.pump());
    return { cancel: () => this.cancel(ticket) };
  }

  /** Stop taking requests; resolves when everything in flight has finished. */
  drain(): Promise<void> {
    this.stopping = true;
    if (!this.pumping) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancel everything in flight (each listener hears an error) and free the session. */
  cancelAll(reason: string): void {
    for (const t of [...this.waiting, ...[...this.running.values()].map((r) => r.ticket)]) this.fail(t, new EngineError(503, reason, null, 'server_error'));
  }

  dispose(): void {
    this.session?.close();
    this.session = null;
    this.generator.dispose();
  }

  private cancel(t: TicketState): void {
    if (t.done) return;
    t.done = true;
    const w = this.waiting.indexOf(t);
    if (w >= 0) this.waiting.splice(w, 1);
    for (const index of t.indices) {
      this.session?.cancel(index);
      this.running.delete(index);
    }
    this.metrics.cancelled++;
  }

  private fail(t: TicketState, err: Error): void {
    if (t.done) return;
    this.cancel(t);
    this.metrics.cancelled--;
    t.listener.onError(err);
  }

  /** Move waiting tickets of the active variant into the session; switch variants when it is idle. */
  private admit(): void {
    if (this.waiting.length === 0) return;
    const activeName = this.active?.name ?? null;
    if (this.session && !this.session.busy && this.waiting[0]!.variant !== activeName) {
      this.session.close();
      this.session = null;
      this.switchTo(this.waiting[0]!.variant);
    }
    if (!this.session) {
      if (this.waiting[0]!.variant !== (this.active?.name ?? null)) this.switchTo(this.waiting[0]!.variant);
      this.session = this.generator.session({ onToken: (e) => this.onToken(e) });
    }
    const now = this.active?.name ?? null;
    for (let i = 0; i < this.waiting.length; ) {
      const t = this.waiting[i]!;
      if (t.variant !== now) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      t.requests.forEach((r, prompt) => {
        const index = this.session!.add(r);
        t.indices.push(index);
        this.running.set(index, { ticket: t, prompt });
      });
    }
  }

  private switchTo(variant: string | null): void {
    const model = this.o.model;
    if (this.active) {
      unmergeLora(model, this.active.adapter);
      model.adapter = null;
      this.active.adapter.dispose();
      this.active = null;
    }
    if (variant !== null) {
      const adapter = loadAdapterFor(this.adapters.get(variant)!, this.o.modelDir, model.config);
      mergeLora(model, adapter);
      this.active = { name: variant, adapter };
    }
    this.o.notice?.(`serving ${variant ?? this.o.name} (merged weights)`);
  }

  private onToken(e: TokenEvent): void {
    const at = this.running.get(e.request);
    if (!at) return;
    const t = at.ticket;
    this.metrics.generationTokens++;
    t.listener.onToken?.(at.prompt, e.sample, e);
    if (!e.finished) return;
    t.results[at.prompt]![e.sample] = e.finished;
    if (--t.left > 0) return;
    for (const index of t.indices) this.running.delete(index);
    t.done = true;
    this.metrics.finished++;
    t.listener.onDone(t.results);
  }

  /** The decode loop: one step, then back to the event loop, while there is work. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        try {
          this.admit();
        } catch (e) {
          // A variant that cannot be merged fails its requests, not the server.
          const t = this.waiting[0];
          if (t) this.fail(t, new EngineError(400, (e as Error).message, 'model'));
          continue;
        }
        if (!this.session?.busy) break;
        try {
          this.session.step();
        } catch (e) {
          const err = explainNanLogits(e, this.o.model, this.o.modelDir);
          for (const { ticket } of [...this.running.values()]) this.fail(ticket, err instanceof Error ? err : new Error(String(err)));
          this.session.close();
          this.session = null;
        }
        this.metrics.steps++;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.pumping = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
