// One run of the continuous-batching loop, step by step (Generator.session). Requests join with add() and
// leave with cancel() while others decode; each step() admits queued samples into free slots (prefilling a
// prompt once, copying its KV into sibling slots) and then decodes every live slot once. generate() is a
// session driven to the end in one call; the server drives one between turns of the event loop, so HTTP
// I/O goes on between decode steps. Admission order, batching and seeds are generate()'s, so a request
// draws the same tokens either way.
import type { SlotKVCache } from './slot_cache.ts';
import type { DecodeGraphs } from './decode_graph.ts';
import type { EarlyPrefills, GenerateHooks, Generator, OpenRequest } from './generator.ts';
import type { GenerationRequest, ResolvedRequest } from './request.ts';
import { Sequence } from './sequence.ts';

export class GenerationSession {
  /** Requests not yet opened for admission, in arrival order. */
  private readonly queue: ResolvedRequest[] = [];
  private readonly slots: (Sequence | null)[];
  private open: OpenRequest | null = null;
  private early: EarlyPrefills | null = null;
  private nextIndex = 0;
  private finished = 0;
  private total = 0;
  private generated = 0;
  private steps = 0;
  private closed = false;

  constructor(
    private readonly gen: Generator,
    private readonly cache: SlotKVCache,
    private readonly graphs: DecodeGraphs | null,
    private readonly hooks: GenerateHooks,
  ) {
    this.slots = new Array(gen.maxBatch).fill(null);
  }

  /** Queue a request (checked now; errors name it by its index); returns that index, which events carry. */
  add(request: GenerationRequest): number {
    if (this.closed) throw new Error('generation session: closed; it takes no more requests');
    const req = this.gen.resolve(request, this.nextIndex);
    this.nextIndex++;
    this.queue.push(req);
    this.total += req.n;
    return req.index;
  }

  /**
   * Drop a request: queued, it never starts; running, its slots are freed for others and its unfinished
   * samples end without a result. Call it between steps (not from a hook).
   */
  cancel(index: number): void {
    const q = this.queue.findIndex((r) => r.index === index);
    if (q >= 0) {
      this.total -= this.queue[q]!.n;
      this.queue.splice(q, 1);
      return;
    }
    let dropped = 0;
    if (this.open?.req.index === index) {
      dropped += this.open.req.n - this.open.nextSample;
      this.open.logits?.dispose();
      this.open = null;
    }
    this.slots.forEach((s, i) => {
      if (s !== null && s.req.index === index) {
        this.slots[i] = null;
        dropped++;
      }
    });
    this.total -= dropped;
  }

  /** Samples waiting for a slot (queued requests, and the rest of one being admitted). */
  get waiting(): number {
    return this.queue.reduce((s, r) => s + r.n, 0) + (this.open ? this.open.req.n - this.open.nextSample : 0);
  }

  /** Requests with a sample not yet admitted. */
  get queuedRequests(): number {
    return this.queue.length + (this.open ? 1 : 0);
  }

  /** Slots decoding now. */
  get running(): number {
    return this.slots.reduce((s, x) => s + (x ? 1 : 0), 0);
  }

  /** Is there anything left to do? */
  get busy(): boolean {
    return this.finished < this.total;
  }

  /** Admit what fits, then decode every live slot once. A no-op when nothing is left. */
  step(): void {
    const { gen, cache, graphs, slots } = this;
    let live: number[] = [];
    while (this.busy) {
      // With graphs, the prompts this round will admit are prefilled together first (see earlyPrefills).
      if (graphs) this.early = gen.earlyPrefills(cache, slots, this.queue, 0, this.open);
      try {
        this.admit();
      } finally {
        this.early?.dispose();
        this.early = null;
      }
      live = liveSlots(slots);
      if (live.length > 0) break; // otherwise everything admitted finished on its first token: admit again
    }
    if (live.length === 0) return;
    const drawn = gen.decode(cache, live.map((s) => slots[s]!), live, graphs, slots);
    live.forEach((slot, b) => this.accept(slot, slots[slot]!, drawn.tokens[b]!, drawn.logprobs[b]!));
    this.hooks.onStep?.({ step: ++this.steps, active: live.length, finished: this.finished, total: this.total, generated: this.generated });
  }

  /** Free what the session holds (captured graphs, a pending prompt's logits). The cache stays the generator's. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.open?.logits?.dispose();
    this.open = null;
    this.early?.dispose();
    this.graphs?.dispose();
  }

  /** Admit queued samples into free slots, request by request, sample by sample. */
  private admit(): void {
    const { gen, cache, slots } = this;
    for (;;) {
      const free = freeSlots(slots);
      if (free.length === 0) break;
      if (!this.open) {
        const next = this.queue.shift();
        if (!next) break;
        this.open = { req: next, logits: null, nextSample: 0 };
      }
      const open: OpenRequest = this.open;
      const req = open.req;
      const want = Math.min(free.length, req.n - open.nextSample);
      const taken = free.slice(0, want);
      // A prefill done early is good only if nothing else has written its slot since.
      this.early?.claim(req, taken);
      // A live sibling still holds the prompt's KV in positions [0, prompt length): copy it. Otherwise
      // prefill (again, if every earlier sibling has already finished and its slot been reused).
      const sibling = slots.findIndex((s) => s !== null && s.req === req);
      if (sibling >= 0) {
        cache.copyPrefix(sibling, taken, req.prompt.length);
        gen.stats.sharedPrefills += taken.length;
      } else {
        const logits = this.early?.take(req, taken[0]!) ?? gen.prefill(cache, req.prompt, taken[0]!);
        if (open.logits) logits.dispose(); // same prompt, same logits: keep the first
        else open.logits = logits;
        cache.copyPrefix(taken[0]!, taken.slice(1), req.prompt.length);
        gen.stats.sharedPrefills += taken.length - 1;
      }
      const promptLogits = open.logits!;
      for (const slot of taken) {
        const seq = new Sequence(req, open.nextSample++, gen.maxLen, gen.model.config.vocabSize, gen.options.tokenizer);
        slots[slot] = seq;
        const drawn = gen.sample(promptLogits, [seq.sampleRow()]);
        this.accept(slot, seq, drawn.tokens[0]!, drawn.logprobs[0]!);
      }
      if (open.nextSample === req.n) {
        promptLogits.dispose();
        this.open = null;
      }
    }
  }

  /** Record a token; free the slot when its sequence ends. */
  private accept(slot: number, seq: Sequence, token: number, logprob: number): void {
    const text = seq.push(token, logprob);
    this.generated++;
    const result = seq.finished ? seq.result() : undefined;
    if (result) {
      this.slots[slot] = null;
      this.finished++;
    }
    this.hooks.onToken?.({ request: seq.req.index, sample: seq.sample, token, logprob, text, finished: result });
  }
}

export function freeSlots(slots: readonly (Sequence | null)[]): number[] {
  const out: number[] = [];
  slots.forEach((s, i) => s === null && out.push(i));
  return out;
}

function liveSlots(slots: readonly (Sequence | null)[]): number[] {
  const out: number[] = [];
  slots.forEach((s, i) => s !== null && out.push(i));
  return out;
}
