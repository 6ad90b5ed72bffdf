// `still generate` and `still sample` end to end, with text: tiny-qwen2's weights plus the tiny byte-level
// BPE tokenizer fixture (prompts whose ids fall inside the model's 512-id vocabulary).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerGenerate } from '../src/cli/generate.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';

const dir = mkdtempSync(join(tmpdir(), 'still-sample-'));
for (const f of ['config.json', 'model.safetensors']) copyFileSync(join('fixtures/tiny-qwen2', f), join(dir, f));
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join('fixtures/tiny-tokenizer', f), join(dir, f));
const tok = loadHfTokenizer(dir);

/** The real binary, in a child process (slow: used once per command). */
function still(...args: string[]): { out: string; err: string; status: number | null } {
  const r = spawnSync(process.execPath, ['bin/still.js', '--backend', 'cpu', ...args], { encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

/** `still generate ARGS` in this process (the command as registered, output through --out). */
let runs = 0;
async function generate(...args: string[]): Promise<any> {
  const program = new Command('still').option('--backend <name>', '', 'cpu').exitOverride();
  registerGenerate(program);
  const out = join(dir, `out${runs++}.json`);
  await program.parseAsync(['generate', ...args, '--out', out], { from: 'user' });
  return JSON.parse(readFileSync(out, 'utf8'));
}

const prompts = join(dir, 'prompts.jsonl');
writeFileSync(prompts, '{"prompt": "1 + 2 ="}\n\n{"prompt": "a b c"}\n');

describe('still generate', () => {
  it('samples text prompts: prompt-major rows, texts decoded, log-probs per token, reproducible', async () => {
    const args = ['--model', dir, '--prompts', prompts, '--n', '2', '--max-new-tokens', '6', '--seed', '5', '--top-k', '50', '--logprobs'];
    const r = still('generate', ...args);
    expect(r.status, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.sequences.length).toBe(4);
    const encoded = [tok.encode('1 + 2 ='), tok.encode('a b c')];
    j.sequences.forEach((seq: number[], i: number) => {
      const p = encoded[Math.floor(i / 2)];
      expect(seq.slice(0, p.length)).toEqual(p);
      expect(seq.length).toBe(p.length + 6);
      expect(j.texts[i]).toBe(tok.decode(seq.slice(p.length), { skipSpecialTokens: true }));
      expect(j.logprobs[i].length).toBe(6);
    });
    expect(j.finish_reasons).toEqual(['length', 'length', 'length', 'length']);
    expect(j.sequences[0]).not.toEqual(j.sequences[1]);
    expect(await generate(...args)).toEqual(j);
  });

  it('stops on a stop string taken from the unstopped greedy text, and strips it', async () => {
    const base = ['--model', dir, '--prompts', prompts, '--max-new-tokens', '16'];
    const free = await generate(...base);
    const text: string = free.texts[1];
    const stop = text.slice(5, 8);
    const stopped = await generate(...base, '--stop', 'never', '--stop', stop);
    expect(stopped.finish_reasons[1]).toBe('stop');
    expect(stopped.texts[1]).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('explains what is wrong with bad input', async () => {
    const chat = join(dir, 'chat.jsonl');
    writeFileSync(chat, '{"messages": [{"role": "user", "content": "hi"}]}\n');
    // The chat template's <|im_start|> (id 2257) is outside this 512-id model: the engine names it.
    await expect(generate('--model', dir, '--prompts', chat)).rejects.toThrow(/request 0: prompt\[0\] = 2257 is not a token id in \[0, 512\)/);
    writeFileSync(chat, '{"text": "hi"}\n');
    await expect(generate('--model', dir, '--prompts', chat)).rejects.toThrow(/chat.jsonl:1: expected \{"prompt"/);
    await expect(generate('--model', 'fixtures/tiny-qwen2', '--prompts', prompts)).rejects.toThrow(/no tokenizer.json/);
    await expect(generate('--model', dir, '--prompts', prompts, '--top-p', '1.5')).rejects.toThrow(/topP must be in \(0, 1\]/);
    await expect(generate('--model', dir)).rejects.toThrow(/exactly one of --tokens/);
  });
});

describe('still sample', () => {
  it('streams the same text that generate returns', async () => {
    const gen = await generate('--model', dir, '--prompts', prompts, '--max-new-tokens', '10');
    const r = still('sample', '--model', dir, '--no-chat', 'a b c', '--max-new-tokens', '10');
    expect(r.status, r.err).toBe(0);
    expect(r.out).toBe(gen.texts[1]);
    expect(r.err).toMatch(/10 tokens, finished by length/);
  });
});
