// The batched generation engine. A fixed set of slots (maxBatch × maxLen of KV cache) serves a queue of
// requests: each prompt is prefilled once, its n samples share that prefill (its KV rows are copied into
// sibling slots), every step decodes all live slots in one batched forward, and a slot freed by EOS, a stop
// string or the token limit takes the next queued sample (continuous batching). Memory is the cache plus one
// step's activations, whatever the queue's length. Synchronous, like the backends under it.
// On a backend that can capture CUDA graphs, each decode step replays a graph per batch-size bucket
// (decode_graph.ts), and the prompts admitted together are prefilled in batched forwards.
//
//   const gen = new Generator(model, { maxBatch: 8, maxLen: 512, tokenizer });
//   const results = gen.generate([{ prompt: ids, n: 4, params: { temperature: 0.7, maxNewTokens: 256 } }]);
//   gen.dispose();
import { hasDecodeGraphs, hasDeviceSampler, type Backend, type GraphBackend, type SampledTokens, type SampleRow } from '../backends/backend.ts';
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import type { DecoderModel } from '../nn/model.ts';
import { noGrad } from '../tensor/autograd.ts';
import type { DType } from '../tensor/dtype.ts';
import { embedding } from '../tensor/nn_ops.ts';
import { linear, slice } from '../tensor/ops.ts';
import { keep, tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { DecodeGraphs } from './decode_graph.ts';
import { resolveRequest, type GenerationRequest, type GenerationResult, type ResolvedRequest } from './request.ts';
import { freeSlots, GenerationSession } from './session.ts';
import { sampleTokens } from '../backends/sampler.ts';
import { Sequence } from './sequence.ts';
import { SlotKVCache } from './slot_cache.ts';

export interface GeneratorOptions {
  /** Slots: sequences decoded together. */
  maxBatch: number;
  /** Positions per slot: prompt + generated tokens of one sample. */
  maxLen: number;
  /** Lowers maxBatch so the KV cache fits in this many bytes (the --kv-budget). */
  kvBudgetBytes?: number;
  /** Decodes text for results, streaming and stop strings. Without one, the engine works on ids alone. */
  tokenizer?: TextTokenizer;
  /** EOS ids for requests that give none; default: the model config's plus the tokenizer's. */
  eosIds?: number[];
  /** Seed for requests that give none (default 0), so runs are reproducible unless asked otherwise. */
  seed?: number;
  /** KV cache dtype; default: the model's embedding dtype. */
  dtype?: DType;
  /**
   * Decode steps as CUDA graphs and batched prefills, where the backend can capture graphs (default: on
   * there; STILL_DECODE_GRAPHS=0 turns it off). Other backends always run the plain path.
   */
  graphs?: boolean;
}

export interface TokenEvent {
  request: number;
  sample: number;
  token: number;
  /** The token's log-prob under the raw logits (always set by the generator). */
  logprob?: number;
  /** Text that can be shown now (held back while a stop string may still be completing). */
  text: string;
  /** Set on the sample's last token. */
  finished?: GenerationResult;
}

export interface StepEvent {
  /** Decode steps so far in this call. */
  step: number;
  /** Slots decoded in this step. */
  active: number;
  /** Samples finished so far, of `total`. */
  finished: number;
  total: number;
  /** Tokens generated so far in this call. */
  generated: number;
}

export interface GenerateHooks {
  onToken?(e: TokenEvent): void;
  onStep?(e: StepEvent): void;
}

/** Cumulative work counters, for benchmarks and tests. */
export interface GeneratorStats {
  prefills: number;
  prefillTokens: number;
  prefillMs: number;
  decodeSteps: number;
  decodeTokens: number;
  decodeMs: number;
  /** Samples whose prompt KV was copied from a sibling instead of prefilled. */
  sharedPrefills: number;
}

/** The request whose samples are being admitted: its prompt's last-position logits, kept for siblings. */
export interface OpenRequest {
  req: ResolvedRequest;
  logits: Tensor | null;
  nextSample: number;
}

export class Generator {
  readonly maxBatch: number;
  readonly maxLen: number;
  readonly stats: GeneratorStats = {
    prefills: 0, prefillTokens: 0, prefillMs: 0, decodeSteps: 0, decodeTokens: 0, decodeMs: 0, sharedPrefills: 0,
  };
  private readonly backend: Backend;
  private readonly dtype: DType;
  private readonly eosIds: number[];
  private readonly graphBackend: GraphBackend | null;
  private cache: SlotKVCache | null = null;

  constructor(readonly model: DecoderModel, readonly options: GeneratorOptions) {
    const { maxBatch, maxLen } = options;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`Generator: maxBatch must be a positive integer, got ${maxBatch}`);
    if (!Number.isInteger(maxLen) || maxLen < 2) throw new Error(`Generator: maxLen must be an integer ≥ 2, got ${maxLen}`);
    const embed = model.weight('model.embed_tokens.weight');
    this.backend = embed.backend;
    this.dtype = options.dtype ?? embed.dtype;
    this.maxLen = maxLen;
    this.maxBatch = maxBatch;
    if (options.kvBudgetBytes !== undefined) {
      const perSlot = SlotKVCache.bytes(model.config, 1, maxLen, this.dtype);
      const fit = Math.floor(options.kvBudgetBytes / perSlot);
      if (fit < 1) throw new Error(`Generator: a KV budget of ${options.kvBudgetBytes} bytes holds no slot of maxLen ${maxLen} (${perSlot} bytes each)`);
      this.maxBatch = Math.min(maxBatch, fit);
    }
    // HfTokenizer also knows generation_config.json's stop ids (e.g. Qwen's <|im_end|> and <|endoftext|>).
    const tok = options.tokenizer as (TextTokenizer & { stopIds?: number[] }) | undefined;
    const tokEos = tok ? [tok.eosId, ...(tok.stopIds ?? [])] : [];
    this.eosIds = options.eosIds ?? [...new Set([...model.config.eosTokenIds, ...tokEos])];
    const wantGraphs = options.graphs ?? process.env.STILL_DECODE_GRAPHS !== '0';
    this.graphBackend = wantGraphs && hasDecodeGraphs(this.backend) ? this.backend : null;
  }

  /** Bytes of KV cache this generator holds once it has run. */
  get kvBytes(): number {
    return SlotKVCache.bytes(this.model.config, this.maxBatch, this.maxLen, this.dtype);
  }

  /** Run every request to completion. Results are ordered by request, then sample index. */
  generate(requests: readonly GenerationRequest[], hooks: GenerateHooks = {}): GenerationResult[] {
    const results: GenerationResult[][] = requests.map(() => []);
    const session = this.session({
      onToken: (e) => {
        if (e.finished) results[e.request][e.sample] = e.finished;
        hooks.onToken?.(e);
      },
      onStep: hooks.onStep,
    });
    try {
      // Every request is checked before any is sampled, as the whole list is one call.
      for (const r of requests) session.add(r);
      while (session.busy) session.step();
    } finally {
      session.close();
    }
    return results.flat();
  }

  /**
   * A step-wise run over this generator's slots: requests join with add() while others are decoding, leave
   * with cancel(), and step() advances one round of admission and one decode step. What generate() does
   * in one call, for callers that must return to the event loop between steps (the server). One session
   * at a time: it uses the generator's KV cache.
   */
  session(hooks: GenerateHooks = {}): GenerationSession {
    const cache = (this.cache ??= new SlotKVCache(this.backend, this.model.config, this.maxBatch, this.maxLen, this.dtype));
    // Graphs are captured per session: the model's weights or adapter may change between sessions.
    const graphs = this.graphBackend ? new DecodeGraphs(this.graphBackend, this.model, cache, this.maxBatch, this.maxLen) : null;
    return new GenerationSession(this, cache, graphs, hooks);
  }

  /** A request with every default filled in; `index` names it in results and errors. */
  resolve(request: GenerationRequest, index: number): ResolvedRequest {
    return resolveRequest(request, index, {
      vocabSize: this.model.config.vocabSize, maxLen: this.maxLen, eosIds: this.eosIds, seed: this.options.seed ?? 0,
      hasTokenizer: !!this.options.tokenizer,
    });
  }

  /** Free the KV cache. The generator can run again afterwards (it reallocates). */
  dispose(): void {
    this.cache?.dispose();
    this.cache = null;
  }

  /** Prefill one prompt into a slot; returns its last position's logits [1, V] (kept: the caller frees it). */
  prefill(cache: SlotKVCache, prompt: number[], slot: number): Tensor {
    const t0 = performance.now();
    const logits = noGrad(() =>
      tidy(() => {
        const be = this.backend;
        const ids = be.upload(Int32Array.from(prompt), [1, prompt.length], 'i32');
        const positions = be.upload(Int32Array.from(prompt, (_, i) => i), [1, prompt.length], 'i32');
        cache.bind([slot], [0], prompt.length);
        return keep(this.model.forward(ids, { positions, cache, output: 'last' }));
      }),
    );
    this.stats.prefills++;
    this.stats.prefillTokens += prompt.length;
    this.stats.prefillMs += performance.now() - t0;
    return logits;
  }

  /**
   * The prompts the coming admission round will prefill, prefilled together into the slots that round will
   * give them (it takes free slots in order), in batched forwards. Only the requests without a live sibling
   * need it. A sample that finishes on its first token frees a slot and shifts later assignments: such
   * requests miss their early prefill (claim/take below) and are prefilled the plain way.
   */
  earlyPrefills(cache: SlotKVCache, slots: readonly (Sequence | null)[], queue: readonly ResolvedRequest[], nextRequest: number, open: OpenRequest | null): EarlyPrefills | null {
    const free = freeSlots(slots);
    const plan: { req: ResolvedRequest; slot: number }[] = [];
    let at = 0;
    const admit = (req: ResolvedRequest, samples: number) => {
      if (at >= free.length || samples <= 0) return;
      if (!slots.some((s) => s !== null && s.req === req)) plan.push({ req, slot: free[at] });
      at += Math.min(free.length - at, samples);
    };
    if (open) admit(open.req, open.req.n - open.nextSample);
    for (let i = nextRequest; i < queue.length && at < free.length; i++) admit(queue[i], queue[i].n);
    if (plan.length < 2) return null;
    const early = new EarlyPrefills();
    // Groups of similar length, so padding to the longest costs little; sorted, then cut where it would.
    const order = [...plan].sort((a, b) => a.req.prompt.length - b.req.prompt.length);
    for (let i = 0; i < order.length; ) {
      let j = i + 1;
      let tokens = order[i].req.prompt.length;
      while (j < order.length) {
        const len = order[j].req.prompt.length;
        if (len * (j - i + 1) > 1.25 * (tokens + len) + 64 || len * (j - i + 1) > PREFILL_TOKENS) break;
        tokens += len;
        j++;
      }
      const group = order.slice(i, j);
      const logits = this.prefillBatch(cache, group.map((g) => g.req.prompt), group.map((g) => g.slot));
      group.forEach((g, k) => early.add(g.req, g.slot, logits[k]));
      i = j;
    }
    return early;
  }

  /**
   * Prefill prompts of different lengths in one forward, each into its slot: rows are padded at the end to
   * the longest (padding only ever writes cache positions the row's decode steps overwrite before reading
   * them), and each row's logits are those of its own last prompt position. Returns [1, V] logits per row.
   */
  private prefillBatch(cache: SlotKVCache, prompts: number[][], slots: number[]): Tensor[] {
    const t0 = performance.now();
    const be = this.backend;
    const t = Math.max(...prompts.map((p) => p.length));
    const b = prompts.length;
    const out = noGrad(() =>
      tidy(() => {
        const ids = new Int32Array(b * t);
        prompts.forEach((p, r) => ids.set(p, r * t));
        const idsT = be.upload(ids, [b, t], 'i32');
        const positions = be.upload(Int32Array.from({ length: b * t }, (_, i) => i % t), [b, t], 'i32');
        cache.bind(slots, new Array(b).fill(0), t);
        const hidden = this.model.forward(idsT, { positions, cache, output: 'hidden' });
        // Each row's last prompt position, gathered as rows of the hidden states, then the LM head.
        const last = be.upload(Int32Array.from(prompts, (p, r) => r * t + p.length - 1), [b], 'i32');
        const logits = linear(embedding(hidden, last), this.model.lmHead);
        return prompts.map((_, r) => keep(slice(logits, 0, r, r + 1)));
      }),
    );
    this.stats.prefills += b;
    this.stats.prefillTokens += prompts.reduce((s, p) => s + p.length, 0);
    this.stats.prefillMs += performance.now() - t0;
    return out;
  }

  /** One decode step: feed each live sequence's last token, draw the next one for each. */
  decode(cache: SlotKVCache, seqs: Sequence[], slots: number[], graphs: DecodeGraphs | null, all: readonly (Sequence | null)[]): SampledTokens {
    const t0 = performance.now();
    const drawn = graphs
      ? graphs.step(seqs.map((s, b) => ({ slot: slots[b], token: s.tokens[s.tokens.length - 1], position: s.position, sample: s.sampleRow() })), all.indexOf(null))
      : noGrad(() =>
        tidy(() => {
          const be = this.backend;
          const positions = seqs.map((s) => s.position);
          const ids = be.upload(Int32Array.from(seqs, (s) => s.tokens[s.tokens.length - 1]), [seqs.length, 1], 'i32');
          const pos = be.upload(Int32Array.from(positions), [seqs.length, 1], 'i32');
          cache.bind(slots, positions, 1);
          const logits = this.model.forward(ids, { positions: pos, cache, output: 'last' });
          return this.sample(logits, seqs.map((s) => s.sampleRow()));
        }),
      );
    this.stats.decodeSteps++;
    this.stats.decodeTokens += seqs.length;
    this.stats.decodeMs += performance.now() - t0;
    return drawn;
  }

  /** The backend's fused sampler when it has one, else the host reference on downloaded logits. */
  sample(logits: Tensor, rows: SampleRow[]): SampledTokens {
    if (hasDeviceSampler(this.backend)) return this.backend.sample(logits, rows);
    return sampleTokens(logits.toArray() as Float32Array, logits.shape[1], rows);
  }
}

/** Most prompt tokens (padding included) in one batched prefill. */
const PREFILL_TOKENS = 16384;

/** Prefills done before their admission round, each valid while nothing else writes its slot. */
export class EarlyPrefills {
  private readonly byReq = new Map<ResolvedRequest, { slot: number; logits: Tensor }>();

  add(req: ResolvedRequest, slot: number, logits: Tensor): void {
    this.byReq.set(req, { slot, logits });
  }

  /** `req` is about to write `taken`: every other request's early prefill in those slots is lost. */
  claim(req: ResolvedRequest, taken: readonly number[]): void {
    for (const [r, e] of this.byReq) {
      if (r !== req && taken.includes(e.slot)) this.drop(r);
    }
  }

  /** The prompt logits of `req` if its early prefill sits in `slot` (then owned by the caller), else null. */
  take(req: ResolvedRequest, slot: number): Tensor | null {
    const e = this.byReq.get(req);
    if (!e || e.slot !== slot) return null;
    this.byReq.delete(req);
    return e.logits;
  }

  dispose(): void {
    for (const r of [...this.byReq.keys()]) this.drop(r);
  }

  private drop(req: ResolvedRequest): void {
    this.byReq.get(req)?.logits.dispose();
    this.byReq.delete(req);
  }
}
