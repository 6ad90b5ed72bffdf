// The byte-level BPE trainer: merges learned from a word-problem corpus, written as tokenizer.json, must be
// applied by @huggingface/tokenizers exactly as our reference encoder applies them, round-trip any text, and
// load through loadHfTokenizer with the ChatML template and the STILL-2 tags as added tokens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHATML_TEMPLATE, tokenizerFiles, writeTokenizerFiles, type AddedToken } from '../src/io/bpe_tokenizer_json.ts';
import { BYTE_LEVEL_ALPHABET, bpeEncode, preTokenize, splitOnAddedTokens, trainBpe } from '../src/io/bpe_train.ts';
import { ChatTemplate } from '../src/io/chat_template.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { Rng } from '../src/tasks/rng.ts';
import { wordProblems } from '../src/tasks/word_problems.ts';

const ADDED: AddedToken[] = [
  { content: '<|endoftext|>', special: true }, { content: '<|im_start|>', special: true }, { content: '<|im_end|>', special: true },
  { content: '<|begin_of_thought|>', special: false }, { content: '<|end_of_thought|>', special: false },
  { content: '<|begin_of_solution|>', special: false }, { content: '<|end_of_solution|>', special: false },
];

const chat = new ChatTemplate(CHATML_TEMPLATE);
function corpus(seed: string, n: number): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const p = wordProblems.generate(rng.int(1, 5), rng);
    return chat.render([{ role: 'user', content: p.question }, { role: 'assistant', content: wordProblems.teacher(p, rng) }]);
  });
}

const dir = mkdtempSync(join(tmpdir(), 'still-bpe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = trainBpe(corpus('train', 400), { merges: 150, addedTokens: ADDED.map((t) => t.content) });
writeTokenizerFiles(dir, tokenizerFiles(model, { added: ADDED, chatTemplate: CHATML_TEMPLATE, eosToken: '<|im_end|>', padToken: '<|endoftext|>', modelMaxLength: 256 }));
const tok = loadHfTokenizer(dir);

describe('byte-level BPE trainer', () => {
  it('splits like Qwen: digits one by one, words with their leading space, newline runs together', () => {
    expect(preTokenize("Mia has 4821 stickers.\n\nIt's")).toEqual(['Mia', 'Ġhas', 'Ġ', '4', '8', '2', '1', 'Ġstickers', '.ĊĊ', 'It', "'s"]);
    expect(splitOnAddedTokens('<|im_start|>user\nHi<|im_end|>\n', ['<|im_start|>', '<|im_end|>'])).toEqual(['user\nHi', '\n']);
    expect(BYTE_LEVEL_ALPHABET).toHaveLength(256);
    expect(new Set(BYTE_LEVEL_ALPHABET.map((b) => b.char)).size).toBe(256);
    expect(BYTE_LEVEL_ALPHABET[0]).toEqual({ byte: 0x21, char: '!' }); // GPT-2 / Qwen id order
  });

  it('learns the frequent pairs first, deterministically, and stops at the merge budget', () => {
    expect(model.merges).toHaveLength(150);
    expect(model.vocab.size).toBe(256 + 150);
    expect(model.merges.slice(0, 3)).toEqual(trainBpe(corpus('train', 400), { merges: 3, addedTokens: ADDED.map((t) => t.content) }).merges);
    model.merges.forEach(([a, b], i) => expect(model.vocab.get(a + b)).toBe(256 + i));
    // Added tokens never reach BPE, so no merge spells part of one.
    expect(model.merges.some(([a, b]) => (a + b).includes('|'))).toBe(false);
    expect(trainBpe(['ab ab ab'], { merges: 50 }).merges).toEqual([['a', 'b'], ['Ġ', 'ab']]); // then no pair is seen twice
  });

  it('is applied by @huggingface/tokenizers exactly as our reference encoder applies it, on held-out text', () => {
    let tokens = 0;
    let bytes = 0;
    for (const text of corpus('held-out', 150)) {
      const ids = tok.encode(text);
      // Compare stretch by stretch: the library matches added tokens first, our reference sees the text between them.
      const ref: number[] = [];
      for (const piece of text.split(/(<\|[a-z_]+\|>)/).filter((s) => s !== '')) {
        const added = tok.tokenToId(piece);
        if (piece.startsWith('<|') && added !== undefined) ref.push(added);
        else ref.push(...bpeEncode(piece, model));
      }
      expect(ids).toEqual(ref);
      expect(tok.decode(ids)).toBe(text);
      tokens += ids.length;
      bytes += Buffer.byteLength(text);
    }
    expect(tokens).toBeLessThan(0.6 * bytes);
    for (const text of ['Ünïcødé 你好 🙂', "  tabs\t\tand\r\nlines\n\n\nWe'LL see", '\\frac{1}{2} = 0.5, x^2']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
      expect(tok.encode(text)).toEqual(bpeEncode(text, model));
    }
  });

  it('loads through loadHfTokenizer with ChatML, <|im_end|> as eos and the STILL-2 tags kept in decoded text', () => {
    expect(tok.vocabSize).toBe(256 + 150 + ADDED.length);
    expect(tok.eosId).toBe(tok.tokenToId('<|im_end|>'));
    expect(tok.padId).toBe(tok.tokenToId('<|endoftext|>'));
    expect(tok.bosId).toBeNull();
    expect([...tok.specialIds].map((id) => tok.tokenToString(id)).sort()).toEqual(['<|endoftext|>', '<|im_end|>', '<|im_start|>']);
    expect(tok.renderChat([{ role: 'user', content: 'Q?' }], { addGenerationPrompt: true })).toBe('<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n');
    const ids = tok.encode('<|begin_of_thought|>1+2<|end_of_thought|><|begin_of_solution|>\\boxed{3}<|end_of_solution|><|im_end|>');
    expect(ids[0]).toBe(tok.tokenToId('<|begin_of_thought|>'));
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('<|begin_of_thought|>1+2<|end_of_thought|><|begin_of_solution|>\\boxed{3}<|end_of_solution|>');
  });
});
