// Gold readers for the seven shipped eval sets, their error messages, and grader self-consistency on every row.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastBoxed } from '../src/verify/extract.ts';
import { EVAL_SETS, evalDataDir, evalSetName, loadEvalSet, readGenericGold, readGold } from '../src/verify/gold.ts';
import { grade, gradeAnswerWithoutShortcut } from '../src/verify/grade.ts';
import { normalizeAnswer } from '../src/verify/normalize.ts';
import { outputWithAnswer, rewriteAsModel } from './verify_rewrite.ts';

const EXPECTED_ROWS = { math500: 500, aime24: 30, aime25: 30, amc23: 40, minerva: 272, olympiadbench: 675, gsm8k: 1319 };

describe('gold readers', () => {
  it('load every row of every set with a non-empty problem and gold', () => {
    for (const name of EVAL_SETS) {
      const { items } = loadEvalSet(name);
      expect(items.length, name).toBe(EXPECTED_ROWS[name]);
      for (const item of items) {
        expect(item.problem.length, `${name} ${item.id}`).toBeGreaterThan(0);
        expect(item.gold.length, `${name} ${item.id}`).toBeGreaterThan(0);
      }
    }
  });

  it('MATH-500: `answer` equals the last box of `solution` on every row', () => {
    const lines = readFileSync(join(evalDataDir(), 'math500.jsonl'), 'utf8').trim().split('\n');
    for (const line of lines) {
      const row = JSON.parse(line) as { answer: string; solution: string };
      expect(lastBoxed(row.solution)).toBe(row.answer);
    }
    const first = loadEvalSet('math500').items[0]!;
    expect(first).toMatchObject({ id: 'test/precalculus/807.json', gold: '\\left( 3, \\frac{\\pi}{2} \\right)', subject: 'Precalculus', level: '2' });
  });

  it('reads AIME padded strings, AMC floats, AIME25 boxes, OlympiadBench `$`, GSM8K `####`', () => {
    expect(loadEvalSet('aime24').items.map((i) => i.gold)).toContain('025');
    expect(loadEvalSet('amc23').items[0]!.gold).toBe('27');
    expect(loadEvalSet('aime25').items[0]!.gold).toBe('70');
    const olympiad = loadEvalSet('olympiadbench').items;
    expect(olympiad.every((i) => !i.gold.includes('$'))).toBe(true);
    expect(olympiad.map((i) => i.gold)).toContain('2^{1009}');
    expect(loadEvalSet('gsm8k').items[0]!.gold).toBe('18');
    expect(loadEvalSet('minerva').items[0]!.subject).toBe('Introduction to Astronomy (8.282J Spring 2006)');
  });

  it('honours --limit and aliases', () => {
    expect(loadEvalSet('math500', { limit: 5 }).items).toHaveLength(5);
    expect(evalSetName('minerva_math')).toBe('minerva');
    expect(evalSetName('MATH500')).toBe('math500');
    expect(evalSetName('gpqa')).toBeNull();
  });

  it('names the file, line and field when a row is malformed', () => {
    const src = { file: 'math500.jsonl', line: 17 };
    expect(() => readGold('minerva', { problem: 'p', solution: 'no box' }, { file: 'minerva_math.jsonl', line: 3 }))
      .toThrow("minerva_math.jsonl:3: field 'solution' has no \\boxed{...} answer");
    expect(() => readGold('math500', { solution: '\\boxed{1}' }, src)).toThrow("math500.jsonl:17: field 'problem' must be a non-empty string");
    expect(() => readGold('olympiadbench', { question: 'q', final_answer: '$1$' }, src))
      .toThrow("math500.jsonl:17: field 'final_answer' must be a non-empty list of strings");
    expect(() => readGold('gsm8k', { question: 'q', answer: 'no marker' }, src)).toThrow("field 'answer' has no final answer after '####'");
    expect(() => readGold('aime24', { problem: 'q', answer: null }, src)).toThrow("field 'answer' must be a number or a non-empty string, got null");
    expect(() => readGenericGold({ problem: 'q' }, { file: 'mine.jsonl', line: 2 })).toThrow("mine.jsonl:2: no gold answer");
    expect(() => loadEvalSet('/no/such/file.jsonl')).toThrow(/cannot read \/no\/such\/file\.jsonl \(ENOENT\); expected one of math500/);
  });

  it('reads a user file generically: answer, gold or the box of solution', () => {
    const src = { file: 'x.jsonl', line: 1 };
    expect(readGenericGold({ question: 'q', answer: 3.5 }, src).gold).toBe('3.5');
    expect(readGenericGold({ problem: 'q', solution: 'so \\boxed{7}' }, src).gold).toBe('7');
  });
});

describe('self-consistency on all seven eval sets', () => {
  it('every gold, rewritten as a model writes it and boxed in an output, grades correct (100%)', () => {
    // Not the gold itself: that stops at gradeAnswer's identical-strings shortcut and cannot fail.
    const failures: string[] = [];
    let graded = 0;
    for (const name of EVAL_SETS) {
      for (const item of loadEvalSet(name).items) {
        const answer = rewriteAsModel(item.gold);
        expect(answer.trim()).not.toBe(item.gold.trim());
        const r = grade(outputWithAnswer(answer), item.gold, name);
        graded++;
        if (!r.correct) failures.push(`${name} ${item.id}: ${item.gold} → ${r.pred_answer}`);
      }
    }
    expect(graded).toBe(Object.values(EXPECTED_ROWS).reduce((a, b) => a + b, 0));
    expect(failures).toEqual([]);
  });

  it('every gold also equals its own normal form and a re-spaced copy of itself', () => {
    const failures: string[] = [];
    for (const name of EVAL_SETS) {
      const skipUnits = name === 'minerva';
      for (const item of loadEvalSet(name).items) {
        const normal = normalizeAnswer(item.gold, { skipUnits });
        // Normalisation is idempotent: graders compare normal forms, so a second pass must not move them.
        if (normalizeAnswer(normal, { skipUnits }) !== normal) failures.push(`${name} ${item.id}: not idempotent: ${normal}`);
        const spaced = item.gold.replace(/,/g, ', ').replace(/=/g, ' = ');
        // Through the whole comparison path: a variant equal to the gold would stop at the shortcut.
        for (const variant of [normal, spaced]) {
          if (!gradeAnswerWithoutShortcut(variant, item.gold, name)) failures.push(`${name} ${item.id}: ${variant} vs ${item.gold}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
