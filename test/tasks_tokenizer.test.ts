// Char tokenizer: specials are single ids, round trips, clear errors, vocab within 128.
import { describe, expect, it } from 'vitest';
import { CHAR_ALPHABET, CharTokenizer, SPECIAL_TOKENS } from '../src/tasks/char_tokenizer.ts';

describe('CharTokenizer', () => {
  const tok = new CharTokenizer();

  it('has every special, "\\n" and printable ASCII, in at most 128 ids', () => {
    expect(tok.vocabSize).toBe(SPECIAL_TOKENS.length + 96);
    expect(tok.vocabSize).toBeLessThanOrEqual(128);
    expect(CHAR_ALPHABET).toContain('\n');
    expect(CHAR_ALPHABET).toContain(' ');
    expect(CHAR_ALPHABET).toContain('~');
    expect(new Set(CHAR_ALPHABET).size).toBe(CHAR_ALPHABET.length);
  });

  it('maps each special token to one id and back', () => {
    for (const [id, s] of SPECIAL_TOKENS.entries()) {
      expect(tok.encode(s)).toEqual([id]);
      expect(tok.tokenToString(id)).toBe(s);
    }
    expect(tok.padId).toBe(tok.specialId('<|pad|>'));
    expect(tok.eosId).toBe(tok.specialId('<|eos|>'));
    expect(new Set([tok.padId, tok.eosId, tok.bosId]).size).toBe(3);
  });

  it('encodes text around specials character by character', () => {
    const text = '12+3<|begin_of_thought|>2+3=5\n\nok<|end_of_thought|>';
    const ids = tok.encode(text);
    expect(ids.length).toBe(4 + 1 + 5 + 2 + 2 + 1);
    expect(ids[4]).toBe(tok.specialId('<|begin_of_thought|>'));
    expect(tok.decode(ids)).toBe(text);
  });

  it('treats a "<|" that starts no special as plain characters', () => {
    const text = 'a<|b|>c<d';
    expect(tok.encode(text).length).toBe(text.length);
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('round-trips every character of the alphabet', () => {
    const all = CHAR_ALPHABET.join('');
    expect(tok.decode(tok.encode(all))).toBe(all);
    expect(Math.max(...tok.encode(all))).toBe(tok.vocabSize - 1);
  });

  it('names the unknown character and its position', () => {
    expect(() => tok.encode('3×4')).toThrow(/"×" \(U\+00D7\) at offset 1/);
    expect(() => tok.encode('a\tb')).toThrow(/U\+0009/);
  });

  it('rejects ids outside the vocabulary when decoding', () => {
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
  });
});
