// Text for the sampler: incremental detokenization equals a full decode (multi-byte characters split over
// tokens included) on the real byte-level BPE fixture, and stop strings are found across chunk boundaries.
import { describe, expect, it } from 'vitest';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { IncrementalDetokenizer } from '../src/sample/detokenizer.ts';
import { StopMatcher } from '../src/sample/stop_strings.ts';

const tok = loadHfTokenizer('fixtures/tiny-tokenizer');

function incremental(ids: number[]): { chunks: string[]; text: string } {
  const d = new IncrementalDetokenizer(tok);
  const chunks: string[] = [];
  for (let i = 1; i <= ids.length; i++) chunks.push(d.next(ids.slice(0, i)));
  chunks.push(d.flush(ids));
  return { chunks, text: chunks.join('') };
}

describe('IncrementalDetokenizer', () => {
  it('adds up to the full decode of real text, never emitting half a character', () => {
    const ids = tok.encode('Größe: 你好, wörld — ∑x² ✓ <|im_end|> done');
    const { chunks, text } = incremental(ids);
    expect(text).toBe(tok.decode(ids));
    for (const c of chunks) expect(c.includes('\uFFFD')).toBe(false);
  });

  it('adds up to the full decode of random ids', () => {
    let state = 7;
    const rnd = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 100; trial++) {
      const ids = Array.from({ length: 5 + Math.floor(rnd() * 30) }, () => Math.floor(rnd() * tok.vocabSize));
      expect(incremental(ids).text).toBe(tok.decode(ids));
    }
  });
});

describe('StopMatcher', () => {
  const m = new StopMatcher(['</s>', 'END', 'x']);

  it('finds a stop string completed by new text, starting in old text', () => {
    expect(m.find('abc</', 0)).toBeNull();
    expect(m.find('abc</s>tail', 5)).toEqual({ at: 3, stop: '</s>' });
    expect(m.find('aEN', 2)).toBeNull();
    expect(m.find('aENDx', 3)).toEqual({ at: 1, stop: 'END' });
  });

  it('does not report matches that ended in text already checked', () => {
    expect(m.find('x then more', 5)).toBeNull();
  });

  it('holds back one character less than the longest stop string', () => {
    expect(m.holdBack).toBe(3);
    expect(() => new StopMatcher([''])).toThrow(/stop string 0/);
  });
});
