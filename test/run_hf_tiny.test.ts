// One round of examples/still2-tiny.json, shortened to fit the suite: the project's tiny math model imitates
// the distilled traces, explores hard problems, keeps only verified long-thought rollouts, retrains from
// the base on distilled + pool and is evaluated after each round, through `still run`'s library function.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import { loadExploreData } from '../src/loop/explore_text.ts';
import { parseHfExperimentConfig } from '../src/loop/hf/config.ts';
import { runHfExperiment } from '../src/loop/hf/experiment.ts';
import type { StageLog } from '../src/loop/progress.ts';
import { TextPool, verifyText, type AnswerJudge } from '../src/loop/text_pool.ts';
import { setBackend } from '../src/tensor/context.ts';
import { readRows } from './stage_helpers.ts';
import { writeJsonl } from './hf_helpers.ts';

const CONFIG = 'examples/still2-tiny.json';
const tmp = mkdtempSync(join(tmpdir(), 'still-hf-tiny-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let gradeAnswer: AnswerJudge;
beforeAll(async () => {
  setBackend(new CpuBackend());
  ({ gradeAnswer } = await import('../src/verify/grade.ts'));
}, 30_000);

describe('examples/still2-tiny.json, one short round', () => {
  it('imitates, explores, keeps only verified rollouts, improves and reports both rounds', async () => {
    // A smaller held-out set: 8 problems at each easy level, 30 at the hard one.
    const test = readRows('examples/tiny-math/test.jsonl');
    const bench = writeJsonl(join(tmp, 'short.jsonl'), [1, 2, 3, 4].flatMap((level) => test.filter((r) => r.level === level).slice(0, level === 4 ? 30 : 8)));
    const json = JSON.parse(readFileSync(CONFIG, 'utf8'));
    const cfg = parseHfExperimentConfig({
      ...json,
      imitate: { ...json.imitate, epochs: 2 },
      explore: { ...json.explore, problemsPerRound: 16 },
      improve: { ...json.improve, rounds: 1, epochs: 1 },
      eval: { ...json.eval, benches: [bench], hard: { bench: 'short', level: 4 } },
    }, CONFIG);
    const out = join(tmp, 'run');
    const lines: string[] = [];
    const log: StageLog = { quiet: false, line: (t) => lines.push(t), bar: () => ({ update: () => {}, stop: () => {} }) };
    const report = await runHfExperiment(cfg, { outDir: out, log, provenance: { commit: null, version: 'test', backend: 'cpu', device: 'cpu', node: process.versions.node } });

    expect(report.rounds.map((r) => r.round)).toEqual([0, 1]);
    expect(report.hard).toEqual({ bench: 'short', level: '4', problems: 30 });
    expect(report.hard_gain_points).toBeCloseTo(report.hardAccuracy[1]! - report.hardAccuracy[0]!, 10);
    // The base was pre-trained on the easy levels, and imitation keeps them.
    expect(report.rounds[0]!.eval.short!.byLevel['1']!.accuracy).toBeGreaterThanOrEqual(80);

    // Exploration finds correct rollouts, and only verified long-thought rows reach the pool.
    const explore = report.rounds[1]!.explore!;
    expect(explore).toMatchObject({ problems: 16, rollouts: 16 * cfg.explore.k });
    expect(explore.correct).toBeGreaterThan(0);
    const pool = TextPool.load(join(out, 'round-1', 'pool.jsonl'), cfg.refine.capPerProblem);
    expect(pool.size).toBe(report.rounds[1]!.pool.size);
    expect(pool.size).toBeGreaterThan(0);
    const gold = new Map(loadExploreData(cfg.explore.data, null).map((p) => [p.problem, p.gold]));
    for (const row of pool.rows()) expect(verifyText(row.combined_text, gold.get(row.question)!, gradeAnswer).correct).toBe(true);

    // Each stage starts with one plain sentence; once training and sampling are timed, the time left is complete.
    const sentences = lines.filter((l) => /^Round \d/.test(l));
    expect(sentences.map((l) => l.replace(/ · (about|at least|a few).*$/, ''))).toEqual([
      'Round 0 · imitating: fine-tuning all weights of tiny-math/model on 600 distilled long-thought examples, 2 passes',
      'Round 0 · evaluating: answering short (54 problems), greedy',
      'Round 1 of 1 · exploring: sampling 8 answers to each of 16 problems from explore.jsonl and keeping the correct ones',
      `Round 1 of 1 · improving: retraining all weights of the base on the distilled data and the pool's ${pool.size} correct answers, 1 pass`,
      'Round 1 of 1 · evaluating: answering short (54 problems), greedy',
    ]);
    expect(sentences[1]).toMatch(/ · at least .* left for the whole run \(sampling speed not measured yet\)$/);
    expect(sentences[2]).toMatch(/ · (about .*|a few seconds) left for the whole run$/);
    // report.json: n (problems) beside each accuracy, per level and per bench.
    const written = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    for (const m of written.rounds) {
      expect(Object.fromEntries(Object.entries(m.eval.short.byLevel).map(([l, x]) => [l, (x as { n: number }).n]))).toEqual({ 1: 8, 2: 8, 3: 8, 4: 30 });
      expect(m.eval.short.n).toBe(54);
    }

    for (const file of ['report.json', 'report.md', 'report.html', 'round-1/improve/model.safetensors', 'round-1/eval/short/summary.json']) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
  }, 240_000);
});
