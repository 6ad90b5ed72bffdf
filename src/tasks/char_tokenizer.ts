// Character-level tokenizer for the toy tasks: STILL-2 tags as single ids, then "\n" and printable ASCII.
import type { TextTokenizer } from '../io/text_tokenizer.ts';

/**
 * Special tokens, in id order. The ids are part of the checkpoint format of toy models, so new
 * specials go at the end of this list (and shift the character ids), never in the middle.
 */
export const SPECIAL_TOKENS = [
  '<|pad|>',
  '<|bos|>',
  '<|eos|>',
  '<|begin_of_thought|>',
  '<|end_of_thought|>',
  '<|begin_of_solution|>',
  '<|end_of_solution|>',
] as const;

export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

/** "\n" then every printable ASCII character (space .. "~"): the whole alphabet the toy tasks use. */
export const CHAR_ALPHABET: readonly string[] = [
  '\n',
  ...Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i)),
];

export class CharTokenizer implements TextTokenizer {
  readonly vocabSize = SPECIAL_TOKENS.length + CHAR_ALPHABET.length;
  readonly padId = this.specialId('<|pad|>');
  readonly bosId = this.specialId('<|bos|>');
  readonly eosId = this.specialId('<|eos|>');
  private readonly charIds = new Map<string, number>(
    CHAR_ALPHABET.map((c, i) => [c, SPECIAL_TOKENS.length + i]),
  );

  /** Id of a special token, e.g. `specialId('<|end_of_solution|>')`. */
  specialId(token: SpecialToken): number {
    const id = SPECIAL_TOKENS.indexOf(token);
    if (id < 0) throw new Error(`char_tokenizer: '${token}' is not a special token (known: ${SPECIAL_TOKENS.join(' ')})`);
    return id;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    let i = 0;
    while (i < text.length) {
      // Specials all start with "<|"; a "<" that starts no special is an ordinary character.
      if (text.startsWith('<|', i)) {
        const special = SPECIAL_TOKENS.findIndex((s) => text.startsWith(s, i));
        if (special >= 0) {
          ids.push(special);
          i += SPECIAL_TOKENS[special]!.length;
          continue;
        }
      }
      const ch = text[i]!;
      const id = this.charIds.get(ch);
      if (id === undefined) {
        const code = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        const context = JSON.stringify(text.slice(Math.max(0, i - 10), i + 10));
        throw new Error(
          `char_tokenizer: character ${JSON.stringify(ch)} (U+${code}) at offset ${i} is not in the vocabulary ` +
            `(expected "\\n" or printable ASCII); near ${context}`,
        );
      }
      ids.push(id);
      i += 1;
    }
    return ids;
  }

  decode(ids: number[]): string {
    return ids.map((id) => this.tokenToString(id)).join('');
  }

  tokenToString(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new Error(`char_tokenizer: id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    return id < SPECIAL_TOKENS.length ? SPECIAL_TOKENS[id]! : CHAR_ALPHABET[id - SPECIAL_TOKENS.length]!;
  }
}
