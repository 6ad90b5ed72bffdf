// SFT data: the four JSONL row formats, completion-only labels, chat-template rendering, STILL-2 rows,
// malformed rows reported by line, truncation, and the seeded eval split.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { examplesFromRows, loadSftDataset, splitHeldOut } from '../src/data/dataset.ts';
import { IGNORE, targetCount, type Example } from '../src/data/example.ts';
import { parseRow } from '../src/data/formats.ts';
import { renderRow, type RenderContext } from '../src/data/render.ts';
import { still2FormatProblem, still2PromptTemplate } from '../src/data/still2.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { CharTokenizer } from '../src/tasks/char_tokenizer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function jsonl(name: string, rows: unknown[] | string): string {
  const path = join(tmp, name);
  writeFileSync(path, typeof rows === 'string' ? rows : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
}

const char = new CharTokenizer();
const charCtx: RenderContext = { tokenizer: char, chat: null, tokenizerLabel: 'char' };
const hf = loadHfTokenizer('fixtures/tiny-tokenizer');
const chatCtx: RenderContext = { tokenizer: hf, chat: (m, o) => hf.renderChat(m, o), tokenizerLabel: 'fixtures/tiny-tokenizer' };

/** The text of the trained tokens (labels ≠ -100). */
function trainedText(e: Example, decode: (ids: number[]) => string): string {
  return decode(e.inputIds.filter((_, i) => e.labels[i] !== IGNORE));
}

describe('row formats', () => {
  it('pre-tokenized rows pass through; missing labels mean train on everything', () => {
    const file = jsonl('tok.jsonl', [{ input_ids: [1, 2, 3], labels: [-100, 2, 3] }, { input_ids: [4, 5], id: 'x' }]);
    const { examples, stats } = loadSftDataset(file, { tokenizer: null, chat: null }, { vocabSize: 10 });
    expect(examples[0]).toEqual({ inputIds: [1, 2, 3], labels: [-100, 2, 3], source: `${file}:1` });
    expect(examples[1].labels).toEqual([4, 5]);
    expect(stats).toMatchObject({ rows: 2, tokens: 5, targets: 3, formats: { tokens: 2 } });
  });

  it('prompt/completion: loss on the completion and an appended EOS only', () => {
    const ex = renderRow(parseRow({ prompt: '1+2=', completion: '3' }, 'f:1'), charCtx, 'f:1');
    expect(char.decode(ex.inputIds)).toBe('1+2=3<|eos|>');
    expect(trainedText(ex, (i) => char.decode(i))).toBe('3<|eos|>');
    expect(targetCount(ex)).toBe(2);
  });

  it('messages: rendered with the chat template, loss on assistant turns (with their end marker) only', () => {
    const row = parseRow({
      messages: [
        { role: 'user', content: 'What is 2+2?' }, { role: 'assistant', content: 'It is 4.' },
        { role: 'user', content: 'And 3+3?' }, { role: 'assistant', content: 'Six.' },
      ],
    }, 'f:1');
    const ex = renderRow(row, chatCtx, 'f:1');
    const full = hf.renderChat((row as { messages: { role: string; content: string }[] }).messages, { addGenerationPrompt: false });
    expect(hf.decode(ex.inputIds)).toBe(full);
    expect(trainedText(ex, (i) => hf.decode(i))).toBe('It is 4.<|im_end|>\nSix.<|im_end|>\n');
  });

  it('STILL-2 rows: template + question as the user turn, combined_text as the assistant turn', () => {
    const combined = '<|begin_of_thought|>\n\nthink\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\\boxed{4}<|end_of_solution|>';
    const row = parseRow({ question: 'What is 2+2?', combined_text: combined, domain: 'math' }, 'f:1');
    const ex = renderRow(row, chatCtx, 'f:1');
    const text = hf.decode(ex.inputIds);
    expect(text).toContain(`<|im_start|>user\n${still2PromptTemplate()}What is 2+2?<|im_end|>`);
    expect(trainedText(ex, (i) => hf.decode(i))).toBe(`${combined}<|im_end|>\n`);
    // Without a chat template (toy char models): plain prompt + completion + EOS.
    const plain = renderRow(row, { ...charCtx, still2Template: 'Q: ' }, 'f:1');
    expect(char.decode(plain.inputIds)).toBe(`Q: What is 2+2?${combined}<|eos|>`);
    expect(trainedText(plain, (i) => char.decode(i))).toBe(`${combined}<|eos|>`);
  });

  it('the STILL-2 template is the paper prompt, byte for byte', () => {
    const t = still2PromptTemplate();
    expect(t.length).toBe(1814);
    expect(t.startsWith('Your role as an assistant involves thoroughly exploring questions')).toBe(true);
    expect(t.endsWith('through the above guidlines:\n')).toBe(true);
  });

  it('imitate mode refuses long-thought rows without the tags, naming the line', () => {
    expect(still2FormatProblem('<|begin_of_thought|>x<|end_of_thought|><|begin_of_solution|>y<|end_of_solution|>')).toBeNull();
    const file = jsonl('still2.jsonl', [
      { question: 'q', combined_text: '<|begin_of_thought|>x<|end_of_thought|><|begin_of_solution|>4<|end_of_solution|>', domain: 'math' },
      { question: 'q', combined_text: 'just an answer', domain: 'math' },
    ]);
    expect(() => loadSftDataset(file, { ...charCtx, requireStill2Format: true })).toThrow(`${file}:2: combined_text has no <|begin_of_thought|>`);
    expect(loadSftDataset(file, charCtx).examples).toHaveLength(2);
  });
});

describe('malformed rows name the file and line', () => {
  const cases: [string, string, string][] = [
    ['not json', '{"prompt": "a", "completion": "b"}\n{oops}\n', ':2: not valid JSON'],
    ['unknown keys', '{"prompt": "a", "completion": "b"}\n\n{"text": "hi"}\n', ':3: cannot tell the row format from its keys [text]'],
    ['array row', '[1, 2]\n', ':1: expected a JSON object per line, got an array'],
    ['two formats', '{"prompt": "a", "completion": "b", "messages": []}\n', ':1: the row has the keys of two formats (prompt_completion and messages)'],
    ['bad id', '{"input_ids": [1, 2.5]}\n', ":1: input_ids[1] must be an integer, got 2.5"],
    ['label length', '{"input_ids": [1, 2], "labels": [1]}\n', ":1: 'labels' has 1 entries but 'input_ids' has 2"],
    ['completion type', '{"prompt": "a", "completion": 3}\n', ":1: field 'completion' must be a string, got 3"],
    ['message role', '{"messages": [{"content": "hi"}]}\n', ':1: messages[0].role must be a string, got nothing (missing)'],
    ['no assistant', '{"messages": [{"role": "user", "content": "hi"}]}\n', ":1: 'messages' has no assistant turn"],
    ['still2 domain', '{"question": "q", "combined_text": "t", "domain": 7}\n', ":1: field 'domain' must be a string, got 7"],
  ];
  for (const [name, text, message] of cases) {
    it(name, () => {
      const file = jsonl(`${name.replace(/ /g, '_')}.jsonl`, text);
      expect(() => loadSftDataset(file, chatCtx)).toThrow(`${file}${message}`);
    });
  }

  it('ids outside the vocabulary, text rows without a tokenizer, messages without a template', () => {
    const ids = jsonl('vocab.jsonl', [{ input_ids: [1, 2] }, { input_ids: [3, 99] }]);
    expect(() => loadSftDataset(ids, charCtx, { vocabSize: 50 })).toThrow(`${ids}:2: input_ids[1] = 99 is outside the model's vocabulary [0, 50)`);
    const text = jsonl('text.jsonl', [{ prompt: 'a', completion: 'b' }]);
    expect(() => loadSftDataset(text, { tokenizer: null, chat: null, tokenizerLabel: 'models/x' })).toThrow(`${text}:1: a text row needs a tokenizer, and models/x has no tokenizer.json`);
    const chat = jsonl('chat.jsonl', [{ messages: [{ role: 'assistant', content: 'hi' }] }]);
    expect(() => loadSftDataset(chat, charCtx)).toThrow(`${chat}:1: a {"messages"} row needs a chat template, and char has none`);
  });
});

describe('lengths and splits', () => {
  it('truncates long examples and drops ones left with nothing to train on', () => {
    const file = jsonl('long.jsonl', [
      { input_ids: [1, 2, 3, 4, 5, 6], labels: [-100, -100, 3, 4, 5, 6] },
      { input_ids: [1, 2, 3, 4, 5, 6], labels: [-100, -100, -100, -100, 5, 6] },
    ]);
    const { examples, stats } = loadSftDataset(file, charCtx, { maxLength: 4 });
    expect(examples).toHaveLength(1);
    expect(examples[0].inputIds).toEqual([1, 2, 3, 4]);
    expect(stats).toMatchObject({ truncated: 2, dropped: 1 });
    expect(() => loadSftDataset(jsonl('none.jsonl', [{ input_ids: [1, 2], labels: [1, -100] }]), charCtx)).toThrow('none of its 1 rows has a token to train on');
  });

  it('rows in memory (the STILL loop) go through the same formats, errors naming row numbers', () => {
    const { examples, stats } = examplesFromRows([{ prompt: '1+1=', completion: '2' }, { input_ids: [3, 4] }], charCtx, {}, 'round 1');
    expect(examples.map((e) => e.source)).toEqual(['round 1:1', 'round 1:2']);
    expect(stats.formats).toEqual({ prompt_completion: 1, tokens: 1 });
    expect(() => examplesFromRows([{ prompt: 'a', completion: 'b' }, { prompt: 1, completion: 'b' }], charCtx, {}, 'round 2'))
      .toThrow("round 2:2: field 'prompt' must be a string, got 1");
  });

  it('the held-out split is seeded, disjoint and covers everything', () => {
    const all = Array.from({ length: 20 }, (_, i): Example => ({ inputIds: [i, i], labels: [i, i], source: `f:${i + 1}` }));
    const a = splitHeldOut(all, 0.2, 7);
    const b = splitHeldOut(all, 0.2, 7);
    expect(a.held.map((e) => e.source)).toEqual(b.held.map((e) => e.source));
    expect(a.held).toHaveLength(4);
    expect(new Set([...a.train, ...a.held].map((e) => e.source)).size).toBe(20);
    expect(splitHeldOut(all, 0.2, 8).held.map((e) => e.source)).not.toEqual(a.held.map((e) => e.source));
  });
});
