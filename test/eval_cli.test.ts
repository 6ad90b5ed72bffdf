// `still eval` end to end on the tiny model (tiny-qwen2 + a 512-id cut of the tiny Qwen tokenizer): the
// files, their rows and fields, the summary's numbers and their consistency, and the errors. Scores of a
// random model are ~0; the plumbing is the point. Runs in-process (the command as registered).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerEval } from '../src/cli/eval.ts';
import { readJournal } from '../src/io/journal.ts';
import { runEval } from '../src/eval/run.ts';
import { still2PromptTemplate } from '../src/data/still2.ts';
import { loadEvalSet } from '../src/verify/gold.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';

const model = tinyEvalModelDir();
const work = mkdtempSync(join(tmpdir(), 'still-eval-out-'));
let runs = 0;

/** `still --backend cpu eval ARGS --out DIR` into a new DIR; returns the output dir, the files and what went to stdout. */
function evaluate(...args: string[]) {
  return evaluateIn(join(work, `run${runs++}`), ...args);
}

async function evaluateIn(out: string, ...args: string[]) {
  const program = new Command('still').option('--backend <name>', '', 'cpu').exitOverride();
  registerEval(program);
  const printed: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync(['eval', '--model', model, ...args, '--out', out], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  const rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  return { out, rows, summary, stdout: printed.join('') };
}

afterEach(() => vi.restoreAllMocks());

const SAMPLED = ['--bench', 'math500', '--limit', '5', '--prompt', 'plain', '--n', '4', '--temperature', '1', '--seed', '3', '--max-new-tokens', '8'];

describe('still eval', () => {
  it('samples n per problem, grades every rollout, and writes results.jsonl + summary.json that agree', async () => {
    const { out, rows, summary, stdout } = await evaluate(...SAMPLED);
    expect(readdirSync(out).sort()).toEqual(['results.jsonl', 'summary.json']); // no temp files left behind
    const items = loadEvalSet('math500', { limit: 5 }).items;

    expect(rows).toHaveLength(20);
    rows.forEach((r, i) => {
      const item = items[Math.floor(i / 4)]!;
      expect(r).toMatchObject({ id: item.id, sample: i % 4, problem: item.problem, gold: item.gold, subject: item.subject, level: item.level });
      expect(typeof r.text).toBe('string');
      expect(typeof r.correct).toBe('boolean');
      expect(r.pred_answer === null || typeof r.pred_answer === 'string').toBe(true);
      expect(r.tokens).toBeGreaterThan(0);
      expect(r.tokens).toBeLessThanOrEqual(8);
      expect(r.thought_tokens).toBe(r.tokens); // a random model writes no thought tags
      expect(['stop', 'length']).toContain(r.finish_reason);
    });
    expect(new Set(rows.slice(0, 4).map((r) => r.text)).size).toBeGreaterThan(1); // sampled, not greedy

    expect(summary.bench).toBe('math500');
    expect(summary.n).toBe(4);
    const o = summary.overall;
    expect(o.problems).toBe(5);
    expect(o.rollouts).toBe(20);
    expect(Object.keys(o.pass_at_k)).toEqual(['1', '2', '4']);
    expect(o.pass_at_k['1']).toBeCloseTo(o.pass1, 12);
    expect(o.pass1).toBeCloseTo(rows.filter((r) => r.correct).length / 20, 12);
    expect(o.pass_at_k['2']).toBeGreaterThanOrEqual(o.pass_at_k['1']);
    expect(o.pass_at_k['4']).toBeGreaterThanOrEqual(o.pass_at_k['2']);
    expect(o.maj_at_n).toBeLessThanOrEqual(o.pass_at_k['4']);
    expect(o.mean_tokens).toBeCloseTo(rows.reduce((s, r) => s + r.tokens, 0) / 20, 12);
    expect(o.truncated).toBeCloseTo(rows.filter((r) => r.finish_reason === 'length').length / 20, 12);
    // MATH-500 labels subject and level: the breakdowns cover every problem once.
    const count = (parts: Record<string, { problems: number }>) => Object.values(parts).reduce((s, p) => s + p.problems, 0);
    expect(Object.keys(summary.by_subject).sort()).toEqual([...new Set(items.map((i) => i.subject!))].sort());
    expect(count(summary.by_subject)).toBe(5);
    expect(count(summary.by_level)).toBe(5);
    expect(summary.config).toMatchObject({
      bench: 'math500', limit: 5, prompt: 'plain', chat_template: true, backend: 'cpu', n: 4, temperature: 1,
      max_new_tokens: 8, seed: 3, stop: [], adapter: null,
    });
    expect(summary.generated_tokens).toBe(rows.reduce((s, r) => s + r.tokens, 0));
    expect(summary.prompt_tokens).toBeGreaterThan(5 * 50);
    for (const key of ['wall_s', 'load_s', 'sample_s', 'grade_s', 'tokens_per_s']) expect(summary[key]).toBeGreaterThan(0);
    expect(summary.wall_s).toBeGreaterThanOrEqual(summary.sample_s + summary.grade_s);

    expect(stdout).toMatch(/^math500: 5 problems × n=4, plain prompt, temperature 1\n/);
    expect(stdout).toMatch(/\nall +5 /);
    expect(stdout).toMatch(/\nlevel \d/);
    expect(stdout).toMatch(/tok\/s\), wall [\d.]+ s/);

    // Samples are seeded by the problem's position, so a shorter run draws the same samples for its problems.
    const short = await evaluate(...SAMPLED.map((a) => (a === '5' ? '2' : a)));
    expect(short.rows.map((r) => r.text)).toEqual(rows.slice(0, 8).map((r) => r.text));
  });

  it('runs greedy with the STILL-2 prompt on a JSONL file, and applies an adapter', async () => {
    const file = join(work, 'mine.jsonl');
    writeFileSync(file, `${JSON.stringify({ problem: 'What is 2+3?', answer: 5 })}\n${JSON.stringify({ id: 'b', question: 'And 1+1?', solution: 'so \\boxed{2}' })}\n`);
    const { rows, summary } = await evaluate('--bench', file, '--max-new-tokens', '4');
    expect(rows.map((r) => [r.id, r.sample, r.gold])).toEqual([['1', 0, '5'], ['b', 0, '2']]);
    expect(summary.bench).toBe('mine');
    expect(summary.config).toMatchObject({ prompt: 'still2', temperature: 0, n: 1, stop: ['<|end_of_solution|>'] });
    expect(Object.keys(summary.overall.pass_at_k)).toEqual(['1']);
    expect(summary.by_subject).toBeUndefined();
    expect(summary.by_level).toBeUndefined();
    // The instruction prompt is in every prompt: together they are longer than two templates.
    expect(summary.prompt_tokens).toBeGreaterThan(2 * 400);
    expect(still2PromptTemplate().length).toBeGreaterThan(1000);

    const plain = ['--bench', 'math500', '--limit', '1', '--prompt', 'plain', '--max-new-tokens', '6'];
    const base = await evaluate(...plain);
    const tuned = await evaluate(...plain, '--adapter', 'fixtures/tiny-qwen2/lora');
    expect(tuned.summary.config.adapter).toMatch(/fixtures\/tiny-qwen2\/lora$/);
    expect(tuned.rows[0].text).not.toBe(base.rows[0].text);
    expect((await evaluate(...plain)).rows[0].text).toBe(base.rows[0].text); // greedy is deterministic
  });

  it('journals finished problems, and --resume samples only the rest, drawing what an uninterrupted run draws', async () => {
    const full = await evaluate(...SAMPLED);
    // An interrupted run: its journal holds problems 1 and 2, and half a line of problem 3 (the crash).
    const out = join(work, 'interrupted');
    mkdirSync(out);
    const { limit: _limit, backend: _backend, max_batch: _maxBatch, ...settings } = full.summary.config;
    const whole = [{ settings }, ...full.rows.slice(0, 8)].map((r) => `${JSON.stringify(r)}\n`).join('');
    writeFileSync(join(out, 'results.partial.jsonl'), whole + JSON.stringify(full.rows[8]).slice(0, 40));

    await expect(evaluateIn(out, ...SAMPLED)).rejects.toThrow(/--out .*interrupted holds an unfinished eval \(results.partial.jsonl\); add --resume/);
    const hotter = SAMPLED.map((a, i) => (SAMPLED[i - 1] === '--temperature' ? '0.5' : a));
    await expect(evaluateIn(out, ...hotter, '--resume')).rejects.toThrow(/the run there used other settings \(temperature was 1, now 0.5\); resume with the same flags/);

    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    const resumed = await evaluateIn(out, ...SAMPLED, '--resume');
    expect(stderr.join('')).toMatch(/last line was cut short[^\n]*\n.*resuming .*: 2 of 5 problems done, 3 to sample/s);
    expect(resumed.rows).toEqual(full.rows);
    expect(resumed.summary.overall).toEqual(full.summary.overall);
    expect(resumed.summary.resumed_problems).toBe(2);
    expect(full.summary.resumed_problems).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['results.jsonl', 'summary.json']); // the journal is gone once finished
    await expect(evaluateIn(out, ...SAMPLED, '--resume')).rejects.toThrow(/--out .*interrupted already holds a finished eval \(summary.json\)/);

    const damaged = join(work, 'damaged');
    mkdirSync(damaged);
    writeFileSync(join(damaged, 'results.partial.jsonl'), `${JSON.stringify({ settings })}\n{oops\n${JSON.stringify(full.rows[0])}\n`);
    await expect(evaluateIn(damaged, ...SAMPLED, '--resume')).rejects.toThrow(/results.partial.jsonl:2: not a JSON line \(the journal is damaged/);

    // A run that dies mid-way (here: its progress hook throws once 8 samples are done) leaves a journal of
    // the problems it finished, graded; resuming it gives the uninterrupted run's rows.
    const died = join(work, 'died');
    const sampling = { maxNewTokens: 8, n: 4, temperature: 1, seed: 3, stop: [], maxBatch: 16 };
    await expect(runEval({
      model, bench: 'math500', limit: 5, prompt: 'plain', sampling, out: died,
      onStep: (e) => { if (e.finished >= 8) throw new Error('killed'); },
    })).rejects.toThrow('killed');
    const journal = readJournal(join(died, 'results.partial.jsonl'), 4);
    expect(journal.done.size).toBeGreaterThanOrEqual(1);
    for (const [id, rows] of journal.done) expect(rows).toEqual(full.rows.filter((r) => r.id === id));
    expect((await evaluateIn(died, ...SAMPLED, '--resume')).rows).toEqual(full.rows);
  });

  it('explains what is wrong with bad input', async () => {
    await expect(evaluate('--bench', 'math500', '--model', 'fixtures/tiny-qwen2')).rejects.toThrow(
      /fixtures\/tiny-qwen2\/tokenizer.json does not exist: still eval .* needs the model's tokenizer/,
    );
    await expect(evaluate('--bench', 'math5000')).rejects.toThrow(
      /--bench 'math5000' is not a known eval set \(math500, aime24, aime25, amc23, minerva, olympiadbench, gsm8k\)/,
    );
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify({ problem: 'ok', answer: '1' })}\n${JSON.stringify({ prompt: 'no problem field', answer: '1' })}\n`);
    await expect(evaluate('--bench', bad)).rejects.toThrow(/bad.jsonl:2: field 'question' must be a non-empty string, got nothing/);
    writeFileSync(bad, `\n${JSON.stringify({ problem: 'no gold' })}\n`);
    await expect(evaluate('--bench', bad)).rejects.toThrow(/bad.jsonl:2: no gold answer: expected a field 'answer', 'gold' or 'solution'/);
    writeFileSync(bad, `${JSON.stringify({ id: 7, problem: 'a', answer: 1 })}\n${JSON.stringify({ id: 7, problem: 'b', answer: 2 })}\n`);
    await expect(evaluate('--bench', bad)).rejects.toThrow(/problems 1 and 2 share the id '7'/);
    await expect(evaluate('--bench', 'aime24', '--prompt', 'chatml')).rejects.toThrow(/--prompt must be one of still2, plain/);
    await expect(evaluate('--bench', 'aime24', '--limit', '0')).rejects.toThrow(/--limit expects a positive integer, got '0'/);
    await expect(evaluate('--bench', 'aime24', '--max-len', '100')).rejects.toThrow(/problem '.*': the prompt has \d+ tokens, and the context is 100 \(--max-len\)/);
    expect(existsSync(join(work, `run${runs - 1}`))).toBe(false); // nothing written on an error
  });
});
