// A small byte-level BPE trainer (GPT-2 / Qwen style), so the project can make a real tokenizer.json of
// its own for a corpus (scripts/make_tiny_math.ts); bpe_tokenizer_json.ts writes the files.
//
// The pieces are the ones Qwen's tokenizer.json declares, so @huggingface/tokenizers (and transformers)
// encode with our merges exactly as we trained them:
// - NFC normalisation;
// - Qwen's Split regex: letters run into words (with one leading space or symbol), every digit is a piece
//   of its own, punctuation runs and whitespace runs are pieces;
// - ByteLevel: each UTF-8 byte of a piece becomes one printable character (bytes_to_unicode), so any
//   text encodes and decodes exactly with 256 base tokens and no unknown token;
// - BPE: merges learned by counting, applied by rank.
// Training counts the distinct pieces of the corpus, then repeatedly merges the most frequent adjacent
// pair of symbols (ties: the pair that sorts first, so training is deterministic). Added tokens
// (`<|im_end|>`, the STILL-2 tags) are cut out of the text first, as the library matches them before BPE.

/** Qwen2's pre-tokenizer regex, as written in its tokenizer.json (Rust/Oniguruma syntax). */
export const QWEN_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The same regex in JS syntax: JS has no inline (?i:…) group, so the contractions spell out both cases.
const SPLIT = /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's bytes_to_unicode: byte → printable character. Printable Latin-1 bytes map to themselves, the
 * others to U+0100 and up (a space is "Ġ", a newline "Ċ"). The order of this list is the order of the
 * 256 base ids, as in GPT-2 and Qwen ("!" is id 0).
 */
export const BYTE_LEVEL_ALPHABET: readonly { byte: number; char: string }[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const out = printable.map((b) => ({ byte: b, char: String.fromCharCode(b) }));
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) out.push({ byte: b, char: String.fromCharCode(256 + extra++) });
  return out;
})();

const BYTE_CHAR: string[] = (() => {
  const t = new Array<string>(256);
  for (const { byte, char } of BYTE_LEVEL_ALPHABET) t[byte] = char;
  return t;
})();

const utf8 = new TextEncoder();

/** The text's pieces (NFC, then the split regex), each written in byte-level characters. */
export function preTokenize(text: string): string[] {
  const pieces: string[] = [];
  let last = 0;
  const normalized = text.normalize('NFC');
  const toBytes = (s: string) => Array.from(utf8.encode(s), (b) => BYTE_CHAR[b]!).join('');
  for (const m of normalized.matchAll(SPLIT)) {
    // The regex covers every character, but a gap would still be a piece of its own ('Isolated' split).
    if (m.index > last) pieces.push(toBytes(normalized.slice(last, m.index)));
    pieces.push(toBytes(m[0]));
    last = m.index + m[0].length;
  }
  if (last < normalized.length) pieces.push(toBytes(normalized.slice(last)));
  return pieces;
}

/** The stretches of `text` between added tokens (which BPE never sees). */
export function splitOnAddedTokens(text: string, added: readonly string[]): string[] {
  if (added.length === 0) return [text];
  // Longest first, so a token that is a prefix of another never wins.
  const escaped = [...added].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return text.split(new RegExp(escaped.join('|'), 'g')).filter((s) => s.length > 0);
}

export interface BpeModel {
  /** Token string (byte-level characters) → id: the 256 bytes, then one id per merge in rank order. */
  vocab: Map<string, number>;
  /** Merges in rank order; merge i makes token 256 + i. */
  merges: [string, string][];
}

export interface TrainBpeOptions {
  /** Most merges to learn. */
  merges: number;
  /** Stop early when the best pair occurs fewer times than this in the corpus (default 2). */
  minFrequency?: number;
  /** Tokens matched before BPE (specials, STILL-2 tags): cut out of the corpus. */
  addedTokens?: readonly string[];
}

/** Learn merges from `texts`. Deterministic: the same corpus and options give the same merges. */
export function trainBpe(texts: Iterable<string>, opts: TrainBpeOptions): BpeModel {
  const minFrequency = opts.minFrequency ?? 2;
  // Distinct pieces with their counts: the corpus is mostly repeats, so merging works on a few hundred words.
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const part of splitOnAddedTokens(text, opts.addedTokens ?? [])) {
      for (const piece of preTokenize(part)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
    }
  }
  const words = [...counts].map(([piece, count]) => ({ symbols: Array.from(piece), count }));

  const vocab = new Map<string, number>(BYTE_LEVEL_ALPHABET.map(({ char }, id) => [char, id]));
  const merges: [string, string][] = [];
  while (merges.length < opts.merges) {
    // A full recount each round: O(corpus words × merges), well under a second at this size.
    const pairs = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const key = `${w.symbols[i]} ${w.symbols[i + 1]}`; // byte-level characters never include ' '
        pairs.set(key, (pairs.get(key) ?? 0) + w.count);
      }
    }
    let best: string | null = null;
    let bestCount = 0;
    for (const [key, c] of pairs) if (c > bestCount || (c === bestCount && best !== null && key < best)) [best, bestCount] = [key, c];
    if (best === null || bestCount < minFrequency) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    vocab.set(a + b, vocab.size);
    for (const w of words) w.symbols = mergePair(w.symbols, a, b);
  }
  return { vocab, merges };
}

/** `symbols` with every non-overlapping (a, b), left to right, replaced by a+b. */
function mergePair(symbols: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b);
      i++;
    } else out.push(symbols[i]!);
  }
  return out;
}

/**
 * The reference encoder for one piece: apply the lowest-ranked mergeable pair (leftmost among equals)
 * until none is left, as BPE does at encode time. Tests hold @huggingface/tokenizers to it.
 */
export function bpePiece(piece: string, ranks: ReadonlyMap<string, number>): string[] {
  let symbols = Array.from(piece);
  for (;;) {
    let bestRank = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && r < bestRank) [bestRank, at] = [r, i];
    }
    if (at < 0) return symbols;
    const [a, b] = [symbols[at]!, symbols[at + 1]!];
    symbols = mergePair(symbols, a, b);
  }
}

/** Merge ranks keyed "a b", for bpePiece. */
export function mergeRanks(model: BpeModel): Map<string, number> {
  return new Map(model.merges.map(([a, b], i) => [`${a} ${b}`, i]));
}

/** Token ids of `text` (no added tokens inside) by the reference encoder. */
export function bpeEncode(text: string, model: BpeModel, ranks = mergeRanks(model)): number[] {
  return preTokenize(text).flatMap((piece) => bpePiece(piece, ranks).map((t) => model.vocab.get(t)!));
}
