// The HF experiment config: defaults (the STILL-2 recipe, retrain from the base, greedy eval, a 16k budget),
// paths relative to the config file, and errors that name the file and the field — unknown fields included.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperimentConfig } from '../src/loop/experiment_config.ts';
import { parseHfExperimentConfig } from '../src/loop/hf/config.ts';
import { exploreOrder, selectRoundProblems } from '../src/loop/hf/problems.ts';
import { IMITATE_RECIPE } from '../src/train/sft_recipe.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-hf-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FILE = join(tmp, 'exp.json');
const minimal = { model: 'base', imitate: { data: 'distilled.jsonl' }, explore: { data: 'problems.jsonl' } };
const parse = (json: object) => parseHfExperimentConfig(json, FILE);

describe('the HF experiment config', () => {
  it('fills in the STILL-2 defaults and resolves paths against the config file', () => {
    const c = parse(minimal);
    expect(c).toMatchObject({ kind: 'hf', name: 'exp', seed: 1, model: join(tmp, 'base'), prompt: 'still2' });
    expect(c.imitate).toMatchObject({ data: [join(tmp, 'distilled.jsonl')], mode: 'lora', lr: IMITATE_RECIPE.lrLora, epochs: 3, gradAccum: 16, warmup: 0.03, maxLength: 16384 });
    expect(c.explore).toMatchObject({ data: join(tmp, 'problems.jsonl'), format: null, levels: null, repeat: false, k: 8, maxNewTokens: 16384 });
    expect(c.refine).toEqual({ capPerProblem: 1, keep: 'shortest', minTokens: 0, maxTokens: null, skipSolved: true });
    // Improve retrains the base (the paper's recipe) with imitate's settings unless told otherwise.
    expect(c.improve).toMatchObject({ init: 'base', rounds: 2, mode: 'lora', lr: IMITATE_RECIPE.lrLora, epochs: 3 });
    expect(c.eval).toMatchObject({ benches: [{ name: 'math500', source: 'math500' }], n: 1, temperature: 0, maxNewTokens: 16384, hard: { bench: 'math500', level: null } });
    const full = parse({ ...minimal, imitate: { data: ['a.jsonl', '/abs/b.jsonl'], mode: 'full' }, eval: { benches: ['sets/test.jsonl', 'aime24'], hard: { bench: 'test', level: 4 } } });
    expect(full.imitate).toMatchObject({ data: [join(tmp, 'a.jsonl'), '/abs/b.jsonl'], lr: IMITATE_RECIPE.lrFull });
    expect(full.improve.mode).toBe('full');
    expect(full.eval.benches).toEqual([{ name: 'test', source: join(tmp, 'sets/test.jsonl') }, { name: 'aime24', source: 'aime24' }]);
    expect(full.eval.hard).toEqual({ bench: 'test', level: '4' });
  });

  it('names the file and the field of a bad value, and refuses unknown fields', () => {
    const bad = (json: object, message: string) => expect(() => parse(json)).toThrow(`${FILE}: ${message}`);
    bad({ imitate: minimal.imitate, explore: minimal.explore }, "field 'model' must be a non-empty string (missing)");
    bad({ ...minimal, explore: { ...minimal.explore, topP: 5 } }, "field 'explore.topP' must be a number > 0 and ≤ 1, got 5");
    bad({ ...minimal, explore: { ...minimal.explore, k: 0 } }, "field 'explore.k' must be an integer ≥ 1, got 0");
    bad({ ...minimal, imitate: { ...minimal.imitate, epochs: 0 } }, "field 'imitate.epochs' must be a number > 0, got 0");
    bad({ ...minimal, imitate: { ...minimal.imitate, warmup: 2.5 } }, "field 'imitate.warmup' must be whole steps (≥ 1) or a fraction of the run (< 1), got 2.5");
    bad({ ...minimal, refine: { keep: 'best' } }, 'field \'refine.keep\' must be one of "shortest", "longest", "lowest-perplexity", "highest-perplexity", got "best"');
    bad({ ...minimal, improve: { round: 3 } }, "unknown field 'improve.round'");
    bad({ ...minimal, problemsPerRond: 3 }, "unknown field 'problemsPerRond'");
    bad({ ...minimal, improve: { init: 'continue', mode: 'full' } }, "field 'improve.mode' must be 'lora' like imitate.mode when improve.init is 'continue'");
    bad({ ...minimal, eval: { hard: { bench: 'aime24' } } }, "field 'eval.hard.bench' must be one of the eval benches (math500), got \"aime24\"");
    bad({ ...minimal, eval: { n: 4 } }, "field 'eval.n' must be 1 when eval.temperature is 0");
    bad({ ...minimal, explore: { ...minimal.explore, format: 'mmlu' } }, "field 'explore.format' must be null or one of");
  });

  it('tells toy configs from HF ones, and the shipped HF examples parse', () => {
    expect(loadExperimentConfig('examples/demo.json').kind).toBe('toy');
    const qwen = loadExperimentConfig('examples/still2-qwen.json');
    expect(qwen.kind).toBe('hf');
    if (qwen.kind === 'hf') {
      expect(qwen.config.model).toBe(resolve('checkpoints/Qwen2.5-7B-Instruct'));
      expect(qwen.config.explore.data).toBe(resolve('data/train/math_train.jsonl'));
    }
    writeFileSync(FILE, '{"model": "x", ');
    expect(() => loadExperimentConfig(FILE)).toThrow(`${FILE}: cannot read the experiment config`);
  });
});

describe('explore problem selection', () => {
  const problems = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, problem: `q${i}`, gold: '1', domain: 'math', level: String(1 + (i % 2)) }));

  it('one seeded order over the level filter; each round the next problems, never twice unless repeat', () => {
    const ordered = exploreOrder(problems, ['2'], 7);
    expect(ordered.map((p) => p.level)).toEqual(['2', '2', '2', '2', '2']);
    expect(new Set(ordered.map((p) => p.id)).size).toBe(5);
    expect(exploreOrder(problems, ['2'], 7)).toEqual(ordered);
    const rules = { levels: ['2'], problemsPerRound: 2, repeat: false, skipSolved: true };
    const first = selectRoundProblems(ordered, rules, { explored: new Set(), solvedAll: new Set() });
    expect(first).toEqual(ordered.slice(0, 2));
    const second = selectRoundProblems(ordered, rules, { explored: new Set(first.map((p) => p.id)), solvedAll: new Set() });
    expect(second).toEqual(ordered.slice(2, 4));
    // With repeat the same problems come back, except those every rollout solved (the difficulty filter).
    const again = selectRoundProblems(ordered, { ...rules, repeat: true }, { explored: new Set(first.map((p) => p.id)), solvedAll: new Set([first[0]!.id]) });
    expect(again).toEqual([ordered[1], ordered[2]]);
  });
});
