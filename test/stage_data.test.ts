// The stages on real-model data: the pool gate for text rollouts (stubbed rollouts, the real math grader),
// `still explore --data` on the tiny HF model (a random model solves nothing, so its pool is what came in),
// `still improve` SFT on distilled + pool rows, and the errors that name a row's line.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRow } from '../src/data/formats.ts';
import { still2FormatProblem } from '../src/data/still2.ts';
import { readJournal } from '../src/io/journal.ts';
import { exploreText, loadExploreData, type DataProblem } from '../src/loop/explore_text.ts';
import { admitToPool } from '../src/loop/pool_gate.ts';
import { readRolloutsFile } from '../src/loop/rollouts_file.ts';
import { readStill2Rows, writeStill2Rows } from '../src/loop/stage_pool_rows.ts';
import { TextPool, verifyText, type AnswerJudge } from '../src/loop/text_pool.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';
import { readRows, runStage } from './stage_helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-stage-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const at = (name: string) => join(tmp, name);
const jsonl = (name: string, rows: object[]) => {
  writeFileSync(at(name), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return at(name);
};
const longThought = (thought: string, answer: string) =>
  `<|begin_of_thought|>\n\n${thought}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\nSo the answer is \\boxed{${answer}}.\n<|end_of_solution|>`;

let gradeAnswer: AnswerJudge;
beforeAll(async () => {
  ({ gradeAnswer } = await import('../src/verify/grade.ts'));
}, 30_000);

describe('the pool gate for text rollouts', () => {
  const problems: DataProblem[] = [
    { id: '1', problem: 'What is half of one?', gold: '\\frac{1}{2}', domain: 'math', level: '2' },
    { id: '2', problem: 'What is 6*7?', gold: '42', domain: 'arith', level: '1' },
    { id: '3', problem: 'What is 2+2?', gold: '4', domain: 'math', level: '1' },
  ];
  const roll = (problem: number, sample: number, text: string) => ({ problem, sample, text });
  // The text side of the pool gate: each rollout graded against its problem's gold answer.
  const admitVerified = (rollouts: ReturnType<typeof roll>[], pool: TextPool) => admitToPool(pool.pool, problems, rollouts.map((r) => {
    const p = problems[r.problem]!;
    const v = verifyText(r.text, p.gold, gradeAnswer);
    return { problem: r.problem, correct: v.correct, formatProblem: v.formatProblem, trajectory: pool.trajectory({ question: p.problem, combined_text: r.text, domain: p.domain }, 1) };
  }));

  it('reads an answer boxed in several parts as one answer (a solution set boxed one by one)', () => {
    const judge: AnswerJudge = gradeAnswer;
    const text = `<|begin_of_thought|>\nTry p = 2 and p = 6.\n<|end_of_thought|>\n\n<|begin_of_solution|>\n$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$\n<|end_of_solution|>`;
    expect(verifyText(text, '(2, 2), (6, 2)', judge)).toMatchObject({ correct: true, answer: '(2, 2), (6, 2)' });
    expect(verifyText(text, '(2, 2)', judge).correct).toBe(false);
  });

  it('admits only verified rollouts in the long-thought format, deduplicated, capped, shortest first', () => {
    const rollouts = [
      roll(0, 0, longThought('Half of one is one over two, which I can also write as a decimal to be sure.', '0.5')), // equivalent form
      roll(0, 1, longThought('One half.', '\\frac{1}{2}')), // shorter: displaces sample 0 under cap 1
      roll(0, 2, longThought('One half.', '\\frac{1}{2}')), // a duplicate
      roll(1, 0, 'The answer is \\boxed{42}.'), // right answer, no thought: not in the format
      roll(1, 1, `${longThought('6*7 = 42', '41')}`), // wrong answer
      roll(1, 2, `<|begin_of_thought|>\n\n\\boxed{42}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\nforty-two<|end_of_solution|>`), // box outside the solution
      roll(2, 0, longThought('2+2 = 4', '4')),
    ];
    const pool = new TextPool(1);
    const counts = admitVerified(rollouts, pool);
    expect(counts).toMatchObject({ problems: 3, rollouts: 7, correct: 4, unformatted: 1, added: 2 });
    expect(counts.solved).toBeCloseTo(200 / 3, 10);
    expect(counts.solvedByLevel).toEqual({ 1: 50, 2: 100 });
    const rows = pool.rows();
    expect(rows).toEqual([
      { question: 'What is half of one?', combined_text: longThought('One half.', '\\frac{1}{2}'), domain: 'math' },
      { question: 'What is 2+2?', combined_text: longThought('2+2 = 4', '4'), domain: 'math' },
    ]);
    // What the pool holds is what `still imitate --data` reads: STILL-2 rows in the long-thought format.
    writeStill2Rows(at('gate.jsonl'), rows);
    readRows(at('gate.jsonl')).forEach((value, i) => {
      expect(Object.keys(value).sort()).toEqual(['combined_text', 'domain', 'question']);
      const row = parseRow(value, `gate.jsonl:${i + 1}`);
      expect(row.kind).toBe('still2');
      expect(still2FormatProblem(value.combined_text)).toBeNull();
    });

    // Merging: an existing pool keeps its rows unless a shorter correct one replaces them (cap 2 keeps both).
    const merged = TextPool.load(at('gate.jsonl'), 2);
    admitVerified([roll(2, 0, longThought('two and two make four, counting on my fingers', '4'))], merged);
    expect(merged.rows().map((r) => r.combined_text.length)).toEqual([rows[0]!.combined_text.length, rows[1]!.combined_text.length, expect.any(Number)]);
    expect(merged.size).toBe(3);
  });

  it('reads --data rows with a clear error for a row without an answer', () => {
    const file = jsonl('rows.jsonl', [{ question: 'a?', answer: '1' }, { problem: 'b?', answer: 7, domain: 'physics' }]);
    expect(loadExploreData(file, null)).toMatchObject([{ problem: 'a?', gold: '1', domain: 'math' }, { problem: 'b?', gold: '7', domain: 'physics' }]);
    const bad = jsonl('bad.jsonl', [{ question: 'a?', answer: '1' }, { question: 'b?' }]);
    expect(() => loadExploreData(bad, null)).toThrow(`${bad}:2: no gold answer`);
    const gsm = jsonl('gsm.jsonl', [{ question: 'c?', answer: 'work\n#### 12' }]);
    expect(loadExploreData(gsm, 'gsm8k')).toMatchObject([{ problem: 'c?', gold: '12' }]);
  });
});

describe('still explore --data and still improve on an HF model', () => {
  const model = tinyEvalModelDir();

  it('samples k per problem, grades them, and writes only verified STILL-2 rows (merged into --pool)', async () => {
    const data = jsonl('hard.jsonl', [{ question: 'What is 1+1?', answer: '2' }, { problem: 'Half of one?', answer: '\\frac{1}{2}', level: '3' }]);
    const before = [{ question: 'What is 3+3?', combined_text: longThought('3+3', '6'), domain: 'math' }];
    writeStill2Rows(at('before.jsonl'), before);
    const r = await runStage(['explore', '--model', model, '--data', data, '--k', '3', '--max-new-tokens', '6', '--seed', '2', '--pool', at('before.jsonl'), '--quiet', '--out', at('after.jsonl')]);
    expect(r.summary).toMatchObject({ problems: 2, rollouts: 6, correct: 0, unformatted: 6, added: 0, pool_size: 1, solved: 0, solved_by_level: { 3: 0 } });
    expect(r.summary.tokens).toBeGreaterThan(0);
    expect(r.summary.tokens).toBeLessThanOrEqual(6 * 6);
    expect(readStill2Rows(at('after.jsonl'))).toEqual(before);
    // Every rollout is kept beside the pool, verdict and all, though none made it in.
    expect(r.summary.rollouts_file).toBe(at('after.rollouts.jsonl'));
    const kept = readRolloutsFile(at('after.rollouts.jsonl'));
    expect(kept.map((x) => [x.id, x.sample, x.question, x.gold, x.correct])).toEqual([
      ['1', 0, 'What is 1+1?', '2', false], ['1', 1, 'What is 1+1?', '2', false], ['1', 2, 'What is 1+1?', '2', false],
      ['2', 0, 'Half of one?', '\\frac{1}{2}', false], ['2', 1, 'Half of one?', '\\frac{1}{2}', false], ['2', 2, 'Half of one?', '\\frac{1}{2}', false],
    ]);
    expect(kept.reduce((a, x) => a + x.tokens, 0)).toBe(r.summary.tokens);
    expect(kept.every((x) => typeof x.logprob === 'number' && x.logprob < 0 && x.text.length > 0)).toBe(true);

    await expect(runStage(['explore', '--model', model, '--data', jsonl('bad2.jsonl', [{ question: 'x' }]), '--quiet', '--out', at('never.jsonl')]))
      .rejects.toThrow(`${at('bad2.jsonl')}:1: no gold answer`);
    await expect(runStage(['explore', '--model', model, '--task', 'addition', '--levels', '2', '--quiet', '--out', at('never.jsonl')]))
      .rejects.toThrow('has a tokenizer.json, so it is a text model');
    await expect(runStage(['explore', '--model', model, '--data', data, '--levels', '2', '--quiet', '--out', at('never.jsonl')]))
      .rejects.toThrow('--levels does not apply to --data');
  }, 60_000);

  it('journals finished problems, and --resume samples only the rest, as an uninterrupted run would', async () => {
    const data = jsonl('resume.jsonl', ['1+1', '2+2', '3+3', '4+4'].map((q, i) => ({ id: `q${i}`, question: `What is ${q}?`, answer: String(2 * (i + 1)) })));
    const flags = ['--model', model, '--data', data, '--k', '3', '--max-new-tokens', '6', '--seed', '2', '--quiet'];
    const whole = await runStage(['explore', ...flags, '--out', at('whole.jsonl')]);
    expect(existsSync(at('whole.jsonl.partial.jsonl'))).toBe(false); // gone once the pool is written

    // A run that dies once 3 rollouts are done (its progress bar throws) leaves the problems it finished;
    // 3 slots, so a problem at a time (the batch size is no setting: it moves samples only by rounding).
    const out = at('cut.jsonl');
    const journal = `${out}.partial.jsonl`;
    const dying = { quiet: true, line: () => {}, bar: () => ({ update: (n: number) => { if (n >= 3) throw new Error('killed'); }, stop: () => {} }) };
    await expect(exploreText({
      model, problems: loadExploreData(data, null), pool: new TextPool(1), round: 1,
      sampling: { k: 3, temperature: 0.7, topP: 1, maxNewTokens: 6, seed: 2, maxBatch: 3 },
      journal, settings: { data: resolve(data) }, log: dying,
    })).rejects.toThrow('killed');
    const done = readJournal(journal, 3).done;
    expect(done.size).toBeGreaterThanOrEqual(1);
    expect(done.size).toBeLessThan(4);

    await expect(runStage(['explore', ...flags, '--out', out])).rejects.toThrow(`${journal}: an unfinished run's journal is there; add --resume`);
    await expect(runStage(['explore', ...flags, '--temperature', '0.9', '--resume', '--out', out])).rejects.toThrow('other settings (temperature was 0.7, now 0.9)');
    const resumed = await runStage(['explore', ...flags, '--resume', '--out', out]);
    expect(resumed.summary).toEqual({ ...whole.summary, pool: out, rollouts_file: at('cut.rollouts.jsonl'), seconds: resumed.summary.seconds });
    // The same rollouts; log-probs only to rounding, as the interrupted run decoded in batches of 3, not 16.
    const [cut, uncut] = [readRolloutsFile(at('cut.rollouts.jsonl')), readRolloutsFile(at('whole.rollouts.jsonl'))];
    expect(cut.map(({ logprob: _, ...r }) => r)).toEqual(uncut.map(({ logprob: _, ...r }) => r));
    cut.forEach((r, i) => expect(r.logprob).toBeCloseTo(uncut[i]!.logprob!, 5));
    expect(existsSync(journal)).toBe(false);
    await expect(runStage(['explore', ...flags, '--resume', '--out', out])).rejects.toThrow(`nothing to resume: ${journal} does not exist`);
    await expect(runStage(['explore', '--model', model, '--task', 'addition', '--levels', '2', '--resume', '--quiet', '--out', out]))
      .rejects.toThrow('--resume does not apply to a toy student (--task); it is for --data');
  }, 60_000);

  it('improve trains a LoRA adapter on distilled + pool rows through the SFT trainer', async () => {
    const pool = jsonl('pool.jsonl', [{ question: 'What is 1+1?', combined_text: longThought('1+1', '2'), domain: 'math' }]);
    const distilled = jsonl('distilled.jsonl', [{ question: 'What is 2+2?', combined_text: longThought('2+2', '4'), domain: 'math' }]);
    const out = at('lora');
    const r = await runStage(['improve', '--model', model, '--pool', pool, '--distilled', distilled, '--lora-r', '4', '--steps', '2', '--grad-accum', '1', '--quiet', '--out', out]);
    expect(r.summary).toMatchObject({ status: 'done', step: 2, adapter: out });
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'training_summary.json']);

    const fail = (args: string[]) => runStage(['improve', '--model', model, '--pool', pool, ...args, '--quiet', '--out', at('never')]);
    await expect(fail(['--init', 'base', '--init-adapter', out])).rejects.toThrow('--init base starts a new adapter on --model');
    await expect(fail(['--task', 'addition'])).rejects.toThrow('--task is for a toy student');
    await expect(fail(['--data', pool])).rejects.toThrow('trains on --pool FILE (and --distilled FILE), not --data');
    const unformatted = jsonl('unformatted.jsonl', [{ question: 'q', combined_text: 'just \\boxed{1}', domain: 'math' }]);
    await expect(fail(['--pool', unformatted, '--steps', '1'])).rejects.toThrow(`${unformatted}:1: combined_text has no <|begin_of_thought|>`);
    expect(existsSync(at('never'))).toBe(false); // a refused or failed improve leaves nothing behind
  }, 60_000);
});
