// One sample in flight: its generated tokens, log-probs and text, its Philox stream, and the rules that end
// it (EOS id, stop string, token limit).
import type { SampleRow } from '../backends/backend.ts';
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import { IncrementalDetokenizer } from './detokenizer.ts';
import { seedKey } from '../backends/philox.ts';
import type { FinishReason, GenerationResult, ResolvedRequest } from './request.ts';
import { StopMatcher } from './stop_strings.ts';

export class Sequence {
  readonly tokens: number[] = [];
  readonly logprobs: number[] = [];
  text = '';
  finishReason: FinishReason | null = null;
  stopReason: number | string | undefined;
  /** Most tokens this sample may generate: maxNewTokens, or fewer when the slot would overflow. */
  readonly limit: number;
  private readonly key: [number, number];
  private readonly detok: IncrementalDetokenizer | null;
  private readonly stops: StopMatcher | null;
  /** Text streamed so far (text[0, streamed)). */
  private streamed = 0;
  /** Distinct ids seen (prompt + output), for the repetition penalty; null when it is off. */
  private readonly seen: Uint8Array | null;
  private penalized = new Int32Array(0);
  private penalizedCount = 0;

  constructor(
    readonly req: ResolvedRequest,
    readonly sample: number,
    maxLen: number,
    vocabSize: number,
    tokenizer?: TextTokenizer,
  ) {
    this.limit = Math.min(req.maxNewTokens, maxLen - req.prompt.length);
    this.key = seedKey(req.seed);
    this.detok = tokenizer ? new IncrementalDetokenizer(tokenizer) : null;
    this.stops = req.stop.length > 0 ? new StopMatcher(req.stop) : null;
    this.seen = req.repetitionPenalty !== 1 ? new Uint8Array(vocabSize) : null;
    for (const id of req.prompt) this.markSeen(id);
  }

  get finished(): boolean {
    return this.finishReason !== null;
  }

  /** The position the last generated token goes to in the KV cache (the next decode step's input). */
  get position(): number {
    return this.req.prompt.length + this.tokens.length - 1;
  }

  /** How the next token is drawn: step = tokens generated so far. */
  sampleRow(): SampleRow {
    const r = this.req;
    return {
      temperature: r.temperature, topK: r.topK, topP: r.topP, minP: r.minP, repetitionPenalty: r.repetitionPenalty,
      penalized: this.penalized.subarray(0, this.penalizedCount),
      key: this.key,
      counter: [this.tokens.length, this.sample, r.seedIndex],
    };
  }

  /** Append a drawn token; returns the text that may be streamed now (held back near a possible stop string). */
  push(token: number, logprob: number): string {
    if (this.finished) throw new Error(`sequence ${this.req.index}/${this.sample} is finished; it takes no more tokens`);
    this.tokens.push(token);
    if (this.req.logprobs) this.logprobs.push(logprob);
    this.markSeen(token);
    if (this.req.eosIds.includes(token)) {
      this.finish('stop', token, this.tokens.slice(0, -1));
    } else {
      if (this.detok) this.addText(this.detok.next(this.tokens));
      if (!this.finished && this.tokens.length >= this.limit) this.finish('length', undefined, this.tokens);
    }
    const end = this.finished ? this.text.length : Math.max(this.streamed, this.text.length - (this.stops?.holdBack ?? 0));
    const out = this.text.slice(this.streamed, end);
    this.streamed = end;
    return out;
  }

  result(): GenerationResult {
    if (!this.finishReason) throw new Error(`sequence ${this.req.index}/${this.sample} has not finished`);
    const out: GenerationResult = {
      request: this.req.index, sample: this.sample, tokens: this.tokens.slice(), finishReason: this.finishReason,
    };
    if (this.detok) out.text = this.text;
    if (this.stopReason !== undefined) out.stopReason = this.stopReason;
    if (this.req.logprobs) out.logprobs = this.logprobs.slice();
    return out;
  }

  private addText(delta: string): void {
    if (!delta) return;
    const checked = this.text.length;
    this.text += delta;
    const match = this.stops?.find(this.text, checked);
    if (match) {
      this.text = this.text.slice(0, match.at);
      this.finishReason = 'stop';
      this.stopReason = match.stop;
    }
  }

  /** End the sequence; `textIds` are the ids whose text still has to be flushed (EOS excluded). */
  private finish(reason: FinishReason, stopReason: number | undefined, textIds: readonly number[]): void {
    if (this.detok) this.addText(this.detok.flush(textIds));
    if (this.finished) return; // the flushed text completed a stop string
    this.finishReason = reason;
    this.stopReason = stopReason;
  }

  private markSeen(id: number): void {
    if (!this.seen || this.seen[id]) return;
    this.seen[id] = 1;
    if (this.penalizedCount === this.penalized.length) {
      const grown = new Int32Array(Math.max(64, this.penalized.length * 2));
      grown.set(this.penalized);
      this.penalized = grown;
    }
    this.penalized[this.penalizedCount++] = id;
  }
}
