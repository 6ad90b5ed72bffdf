// HF tokenizer + chat template on fixtures/tiny-tokenizer (a 2000-merge prefix of Qwen's real BPE with ChatML specials).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { ChatTemplate, selectChatTemplate } from '../src/io/chat_template.ts';
import type { TextTokenizer } from '../src/io/text_tokenizer.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'tiny-tokenizer');
const CONFIG = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer_config.json'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'still-io-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IM_START = 2257;
const IM_END = 2258;
const ENDOFTEXT = 2256;

/** A model dir with the fixture's tokenizer.json and the given tokenizer_config.json (or none). */
function modelDir(config: Record<string, unknown> | null, extra: Record<string, string> = {}): string {
  const d = mkdtempSync(join(dir, 'model-'));
  copyFileSync(join(FIXTURE, 'tokenizer.json'), join(d, 'tokenizer.json'));
  if (config !== null) writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(config));
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(d, name), text);
  return d;
}

describe('HfTokenizer', () => {
  const tok = loadHfTokenizer(FIXTURE);

  it('implements TextTokenizer with the config specials', () => {
    const t: TextTokenizer = tok;
    expect(t.vocabSize).toBe(2259);
    expect(t.eosId).toBe(IM_END); // Qwen2.5-Instruct: eos_token <|im_end|>
    expect(t.padId).toBe(ENDOFTEXT);
    expect(tok.bosId).toBeNull();
    expect([...tok.specialIds].sort()).toEqual([ENDOFTEXT, IM_START, IM_END]);
    expect(t.tokenToString!(IM_START)).toBe('<|im_start|>');
    expect(tok.tokenToId('<|im_end|>')).toBe(IM_END);
  });

  it('encodes with Qwen byte-level BPE and round-trips arbitrary text', () => {
    expect(tok.encode('Hello world').map((id) => tok.tokenToString(id))).toEqual(['H', 'el', 'lo', 'Ġworld']);
    expect(tok.encode(' 123').map((id) => tok.tokenToString(id))).toEqual(['Ġ', '1', '2', '3']); // Qwen splits digits
    const texts = [
      'The answer is \\boxed{42}.',
      'café naïve 你好 🙂 — “quotes”',
      '  multiple   spaces\n\n\ttabs\r\n',
      "It's we'll THEY'RE",
      '<|begin_of_thought|>Let me think.<|end_of_thought|>',
      '',
    ];
    for (const text of texts) {
      const ids = tok.encode(text);
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize)).toBe(true);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('encodes special tokens as single ids and can skip them when decoding', () => {
    const text = '<|im_start|>user\nHi<|im_end|>\n<|endoftext|>';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(IM_START);
    expect(ids.filter((id) => id === IM_END)).toHaveLength(1);
    expect(ids.at(-1)).toBe(ENDOFTEXT);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nHi\n');
  });

  it('renders the Qwen2.5 chat template exactly as transformers does', () => {
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2+3?' },
      { role: 'assistant', content: '2+3 = 5.' },
      { role: 'user', content: 'And 2*3?' },
    ];
    expect(tok.renderChat(messages, { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+3?<|im_end|>\n' +
        '<|im_start|>assistant\n2+3 = 5.<|im_end|>\n' +
        '<|im_start|>user\nAnd 2*3?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
    // Without a system message the template inserts Qwen's default one; without the prompt it stops after the last turn.
    expect(tok.renderChat([{ role: 'user', content: 'Hi' }])).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n',
    );
  });

  it('passes tools through (JSON as Python json.dumps writes it)', () => {
    const out = tok.renderChat([{ role: 'user', content: 'Hi' }], { tools: [{ name: 'add', parameters: { a: 1 } }] });
    expect(out).toContain('<tools>\n{"name": "add", "parameters": {"a": 1}}\n</tools>');
  });

  it('encodeChat tokenizes the rendered chat with specials as single ids', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
    expect(ids.filter((id) => id === IM_START)).toHaveLength(3);
    expect(ids.filter((id) => id === IM_END)).toHaveLength(2);
    expect(tok.decode(ids)).toBe(tok.renderChat(messages, { addGenerationPrompt: true }));
  });

  it('rejects malformed messages with their index', () => {
    expect(() => tok.renderChat([{ role: 'user', content: 'a' }, { role: 'assistant' } as never])).toThrow(
      "renderChat: message 1 (assistant) has no string 'content'",
    );
  });
});

describe('loading tokenizers from model directories', () => {
  it('says clearly when tokenizer.json is missing', () => {
    const d = mkdtempSync(join(dir, 'empty-'));
    expect(() => loadHfTokenizer(d)).toThrow(`${d}: no tokenizer.json`);
    writeFileSync(join(d, 'tokenizer.model'), 'sentencepiece');
    expect(() => loadHfTokenizer(d)).toThrow('only tokenizer.model was found: sentencepiece-only tokenizers are not supported');
  });

  it('names a tokenizer_config.json that is not JSON', () => {
    const d = modelDir(null, { 'tokenizer_config.json': '{"eos_token": ' });
    expect(() => loadHfTokenizer(d)).toThrow(`${join(d, 'tokenizer_config.json')}: not valid JSON`);
  });

  it('falls back to generation_config.json for eos, to eos for pad, and collects stop ids', () => {
    const { eos_token, pad_token, ...rest } = CONFIG;
    const d = modelDir(rest, { 'generation_config.json': JSON.stringify({ eos_token_id: [IM_END, ENDOFTEXT] }) });
    const tok = loadHfTokenizer(d);
    expect(tok.eosId).toBe(IM_END);
    expect(tok.padId).toBe(IM_END);
    expect(tok.stopIds).toEqual([IM_END, ENDOFTEXT]);
  });

  it('errors when no eos can be found, or eos_token is not in the vocabulary', () => {
    const { eos_token, ...rest } = CONFIG;
    expect(() => loadHfTokenizer(modelDir(rest))).toThrow('no end-of-sequence token (expected eos_token in tokenizer_config.json');
    expect(() => loadHfTokenizer(modelDir({ ...CONFIG, eos_token: '</s>' }))).toThrow(`tokenizer_config.json: eos_token "</s>" is not in the vocabulary`);
  });

  it('accepts AddedToken objects for special-token fields', () => {
    const tok = loadHfTokenizer(modelDir({ ...CONFIG, eos_token: { content: '<|endoftext|>', special: true } }));
    expect(tok.eosId).toBe(ENDOFTEXT);
  });

  it('picks the default entry of a list-form chat_template, or a named one', () => {
    const list = [
      { name: 'default', template: '{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}' },
      { name: 'tool_use', template: 'tools!' },
    ];
    const d = modelDir({ ...CONFIG, chat_template: list });
    expect(loadHfTokenizer(d).renderChat([{ role: 'user', content: 'x' }])).toBe('[user]x<|im_end|>');
    expect(loadHfTokenizer(d, { chatTemplateName: 'tool_use' }).renderChat([])).toBe('tools!');
    expect(() => loadHfTokenizer(d, { chatTemplateName: 'rag' })).toThrow("chat_template has no template named 'rag' (it has: default, tool_use)");
  });

  it('prefers chat_template.jinja over tokenizer_config.json', () => {
    const d = modelDir(CONFIG, { 'chat_template.jinja': '{{ bos_token }}{{ messages[0].content }}{{ eos_token }}' });
    expect(loadHfTokenizer(d).renderChat([{ role: 'user', content: 'hey' }])).toBe('hey<|im_end|>');
  });

  it('errors when there is no chat template at all', () => {
    const { chat_template, ...rest } = CONFIG;
    const d = modelDir(rest);
    expect(() => loadHfTokenizer(d).renderChat([{ role: 'user', content: 'x' }])).toThrow(`${d}: no chat template`);
  });
});

describe('ChatTemplate', () => {
  it('passes bos/eos strings and surfaces raise_exception messages', () => {
    const t = new ChatTemplate(
      "{% if messages[0].role != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}{{ bos_token }}{{ messages[0].content }}{{ eos_token }}",
      { bosToken: '<s>', eosToken: '</s>' },
      'tokenizer_config.json: chat_template',
    );
    expect(t.render([{ role: 'user', content: 'hi' }])).toBe('<s>hi</s>');
    expect(() => t.render([{ role: 'system', content: 'x' }])).toThrow(
      'tokenizer_config.json: chat_template failed to render (first message must be from the user)',
    );
  });

  it('reports templates that do not parse, and bad chat_template values', () => {
    expect(() => new ChatTemplate('{% if %}', {}, 'x.json: chat_template')).toThrow('x.json: chat_template does not parse as Jinja');
    expect(() => selectChatTemplate(42, 'x.json')).toThrow('x.json: chat_template must be a string or a list of {name, template}, got 42');
    expect(() => selectChatTemplate([{ name: 'default' }], 'x.json')).toThrow('x.json: chat_template[0] must be {"name": string, "template": string}');
  });
});
