// Incremental detokenization: the text each new token adds, without decoding the whole output every step
// (which is quadratic in its length). Decodes a short window of recent ids and emits what it adds to the
// window's earlier text, holding back while the window ends in an incomplete UTF-8 sequence (U+FFFD).
// This is the prefix/read-offset scheme of HF text-generation-inference and vLLM.
import type { TextTokenizer } from '../io/text_tokenizer.ts';

const REPLACEMENT = '\uFFFD';

export class IncrementalDetokenizer {
  /** Start of the window that gives the next token its left context (e.g. a leading space). */
  private prefixOffset = 0;
  /** Ids before this one have been emitted as text. */
  private readOffset = 0;

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Text added by the ids appended to `ids` since the last call ('' while a character is incomplete). */
  next(ids: readonly number[]): string {
    const prefix = this.tokenizer.decode(ids.slice(this.prefixOffset, this.readOffset));
    const full = this.tokenizer.decode(ids.slice(this.prefixOffset));
    if (full.length > prefix.length && !full.endsWith(REPLACEMENT) && full.startsWith(prefix)) {
      this.prefixOffset = this.readOffset;
      this.readOffset = ids.length;
      return full.slice(prefix.length);
    }
    if (!full.startsWith(prefix)) {
      // A tokenizer whose window decode rewrites earlier text (rare normalisers): fall back to a full decode.
      const before = this.tokenizer.decode(ids.slice(0, this.readOffset));
      const all = this.tokenizer.decode(ids.slice());
      this.prefixOffset = this.readOffset = ids.length;
      return all.startsWith(before) ? all.slice(before.length) : '';
    }
    return '';
  }

  /** Whatever text is still held back (an incomplete character at the very end), at the end of a sequence. */
  flush(ids: readonly number[]): string {
    if (this.readOffset >= ids.length) return '';
    const prefix = this.tokenizer.decode(ids.slice(this.prefixOffset, this.readOffset));
    const full = this.tokenizer.decode(ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = ids.length;
    return full.startsWith(prefix) ? full.slice(prefix.length) : '';
  }
}
