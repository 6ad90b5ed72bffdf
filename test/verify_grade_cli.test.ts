// `still grade FILE.jsonl`: verdicts in input order, malformed lines reported by number, the rest still graded.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSummary, gradeJsonl } from '../src/cli/grade.ts';

const INPUT = [
  JSON.stringify({ pred: 'so the answer is \\boxed{25}.', gold: '025', dataset: 'aime24' }),
  'this is not json',
  JSON.stringify({ pred: '<|begin_of_solution|>\\boxed{\\dfrac{14}{3}}<|end_of_solution|>', gold: '\\frac{14}{3}', dataset: 'math500' }),
  '',
  JSON.stringify({ pred: 'the answer is 7', gold: 3 }),
  JSON.stringify({ pred: 'x', gold: '1', dataset: 'gpqa' }),
  JSON.stringify({ gold: '1' }),
  JSON.stringify({ pred: '\\boxed{(3,4]}', gold: '(3,4]', dataset: 'minerva_math' }),
];

describe('gradeJsonl', () => {
  it('writes one verdict per non-blank line, in order, and names each malformed line', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const summary = await gradeJsonl(INPUT, 'in.jsonl', (l) => out.push(l), (l) => err.push(l));
    const rows = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.correct)).toEqual([true, false, true, false, false, false, true]);
    expect(rows[0]).toEqual({ correct: true, pred_answer: '25', gold_answer: '025' });
    expect(rows[3]).toEqual({ correct: false, pred_answer: '7', gold_answer: '3' });
    expect(rows[1]!.error).toMatch(/^in\.jsonl:2: not valid JSON/);
    expect(rows[4]!.error).toMatch(/^in\.jsonl:6: field 'dataset' must be one of math500, .* got "gpqa"/);
    expect(rows[5]!.error).toMatch(/^in\.jsonl:7: field 'pred' must be a string/);
    expect(err).toHaveLength(3);
    expect(summary).toEqual({ graded: 4, correct: 3, malformed: 3 });
    expect(formatSummary(summary)).toBe('graded 4, correct 3, accuracy 0.7500, malformed 3');
  });
});

describe('still grade (command line)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'still-grade-'));
  const run = (file: string) => spawnSync(process.execPath, ['bin/still.js', 'grade', file], { encoding: 'utf8', timeout: 60_000 });

  it('prints ordered verdicts, reports the malformed line numbers on stderr and exits 1', () => {
    const file = join(dir, 'mixed.jsonl');
    writeFileSync(file, `${INPUT.join('\n')}\n`);
    const r = run(file);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { correct: boolean });
    expect(rows.map((x) => x.correct)).toEqual([true, false, true, false, false, false, true]);
    expect(r.stderr).toContain(`${file}:2: not valid JSON`);
    expect(r.stderr).toContain(`${file}:6: field 'dataset'`);
    expect(r.stderr).toContain(`${file}:7: field 'pred'`);
    expect(r.stderr).toContain('graded 4, correct 3, accuracy 0.7500, malformed 3');
    expect(r.status).toBe(1);
  });

  it('names a missing file and exits 1', () => {
    // Each run starts a process that loads every command (~3 s), so the suite keeps to two runs; the
    // exit status of a clean file follows from summary.malformed, checked in gradeJsonl above.
    const missing = run(join(dir, 'nope.jsonl'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('nope.jsonl (ENOENT)');
  });
});
