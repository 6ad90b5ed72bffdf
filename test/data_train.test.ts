// The shipped training-split problem sets load as explore data, with unique ids, gold answers, MATH levels,
// and no problem from the shipped eval sets.
import { describe, expect, it } from 'vitest';
import { loadExploreData } from '../src/loop/explore_text.ts';
import { loadEvalSet } from '../src/verify/gold.ts';

const FILES = { 'data/train/math_train.jsonl': 7470, 'data/train/aime_1983_2023.jsonl': 975, 'data/train/gsm8k_train.jsonl': 7473 };

describe('data/train', () => {
  const sets = Object.entries(FILES).map(([file, rows]) => ({ file, rows, problems: loadExploreData(file, null) }));

  it('every file loads as explore data: the row counts of PROVENANCE.md, a gold answer per row, ids unique across files', () => {
    for (const s of sets) {
      expect(s.problems.length, s.file).toBe(s.rows);
      expect(s.problems.every((p) => p.gold.trim() !== '' && p.problem.trim() !== ''), s.file).toBe(true);
    }
    const ids = sets.flatMap((s) => s.problems.map((p) => p.id));
    expect(new Set(ids).size).toBe(ids.length);
    const math = sets[0]!.problems;
    expect(Object.fromEntries(['1', '2', '3', '4', '5'].map((l) => [l, math.filter((p) => p.level === l).length])))
      .toEqual({ 1: 564, 2: 1345, 3: 1582, 4: 1681, 5: 2296 });
    // GSM8K's gold is the number after "####", not the worked solution.
    expect(sets[2]!.problems[0]).toMatchObject({ id: 'gsm8k-train-1', gold: '72' });
    expect(sets[1]!.problems[0]).toMatchObject({ id: 'aime-1983-I-1', gold: '60' });
  });

  it('shares with the eval sets only the one problem PROVENANCE.md names (exact text)', () => {
    const train = new Map(sets.flatMap((s) => s.problems.map((p) => [p.problem.trim(), p.id] as const)));
    const overlap = ['math500', 'aime24', 'aime25', 'amc23', 'gsm8k'].flatMap((bench) =>
      loadEvalSet(bench).items.filter((item) => train.has(item.problem.trim())).map((item) => `${bench} ${item.id} = ${train.get(item.problem.trim())}`));
    // MATH-500 took one AIME problem into its test split; `still run` leaves such problems out of exploration.
    expect(overlap).toEqual(['math500 test/intermediate_algebra/1849.json = aime-2017-II-7']);
  });
});
