// The time left for a whole run (run_clock.ts), the toy run's plan in work units (run_plan.ts), and the
// stage sentences with the estimate (progress.ts RunProgress), on made-up clocks; and a micro `still run`
// that prints a sentence for every stage.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerRun } from '../src/cli/run.ts';
import { parseConfig } from '../src/loop/config.ts';
import { RunProgress, type StageLog } from '../src/loop/progress.ts';
import { RunClock, roughDuration, timeLeftText } from '../src/loop/run_clock.ts';
import { dpoUnits, evalUnits, toyPlan, trainUnits, type ToyPlanState } from '../src/loop/run_plan.ts';
import { runCli } from './cli_helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'still-clock-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the run clock', () => {
  const plan = [
    { id: 'imitate', kind: 'train' as const, units: 1000 },
    { id: 'eval-0', kind: 'sample' as const, units: 300 },
    { id: 'explore-1', kind: 'sample' as const, units: 640 },
    { id: 'improve-1', kind: 'train' as const, units: 800 },
    { id: 'eval-1', kind: 'sample' as const, units: 300 },
  ];

  it('estimates each kind of work at its own measured speed', () => {
    const c = new RunClock(plan);
    expect(c.timeLeft(0)).toEqual({ seconds: 0, complete: false, unmeasured: ['train', 'sample'] });
    c.begin('imitate', 100);
    expect(c.timeLeft(105).unmeasured).toEqual(['train', 'sample']); // started, nothing finished: no speed yet
    c.progress('imitate', 250);
    // 10 s for 250 sequences: 0.04 s each; 750 + 800 left → 62 s; sampling not measured yet.
    expect(c.timeLeft(110)).toEqual({ seconds: expect.closeTo(62, 9), complete: false, unmeasured: ['sample'] });
    // The time since the last progress counts too: at 120 s, 20 s for 250 → 0.08 s each.
    expect(c.timeLeft(120).seconds).toBeCloseTo(1550 * 0.08, 9);
    c.progress('imitate', 1000);
    c.begin('eval-0', 140); // imitate ends: 40 s for 1000 → 0.04 s
    c.progress('eval-0', 120);
    // Sampling: 6 s for 120 → 0.05 s; left: 180 + 640 + 300 = 1120 → 56 s; training: 800 × 0.04 = 32 s.
    expect(c.timeLeft(146)).toEqual({ seconds: expect.closeTo(88, 9), complete: true, unmeasured: [] });
    c.progress('eval-0', 300);
    c.begin('explore-1', 152); // eval-0: 12 s for 300 → 0.04 s
    // A stage begun with nothing finished adds no speed but still counts its units: 940 × 0.04 + 32.
    expect(c.timeLeft(152).seconds).toBeCloseTo(37.6 + 32, 9);
    // The pool grew: the improve round is re-planned bigger; started stages keep their record.
    c.plan([...plan.slice(0, 3), { id: 'improve-1', kind: 'train', units: 1100 }, plan[4]!]);
    // Explore has run 10 s with nothing finished: no speed from it yet; 940 × 0.04 + 1100 × 0.04.
    expect(c.timeLeft(162).seconds).toBeCloseTo(37.6 + 44, 9);
    c.progress('explore-1', 640);
    c.begin('improve-1', 172); // explore: 20 s for 640; sampling now 32 s / 940
    c.resize('improve-1', 1040); // the trainer's real step count
    c.progress('improve-1', 520);
    // Training: (40 + 13) s for 1520 → 520 left; sampling: 300 left at 32/940.
    expect(c.timeLeft(185).seconds).toBeCloseTo((520 * 53) / 1520 + (300 * 32) / 940, 9);
    c.end('improve-1', 198);
    expect(c.remaining()).toEqual({ sample: 300 }); // a stage that ended leaves nothing, even short of its plan
  });

  it('drops unstarted stages a new plan leaves out, and refuses stages it never heard of', () => {
    const c = new RunClock(plan);
    c.begin('imitate', 0);
    c.plan([plan[0]!, plan[1]!]);
    expect(c.remaining()).toEqual({ train: 1000, sample: 300 });
    expect(() => c.progress('explore-1', 1)).toThrow(/not in the plan/);
    c.begin('extra', 5, { kind: 'sample', units: 7 });
    expect(c.remaining()).toEqual({ sample: 307 });
  });

  it('says the time as a person would, and a partial estimate as a lower bound', () => {
    expect([4, 44, 85, 100, 390, 3599, 4800, 7200].map(roughDuration)).toEqual(
      ['a few seconds', 'about 40 s', 'about 90 s', 'about 2 min', 'about 7 min', 'about 1 h', 'about 1 h 20 min', 'about 2 h']);
    expect(timeLeftText({ seconds: 390, complete: true, unmeasured: [] })).toBe('about 7 min left for the whole run');
    expect(timeLeftText({ seconds: 390, complete: false, unmeasured: ['sample'] })).toBe('at least 7 min left for the whole run (sampling speed not measured yet)');
    expect(timeLeftText({ seconds: 0, complete: false, unmeasured: ['train', 'sample'] })).toBeNull();
  });
});

describe('stage sentences with the time left', () => {
  function fakeLog() {
    const lines: string[] = [];
    const updates: string[] = [];
    const log: StageLog = {
      quiet: false,
      line: (t) => lines.push(t),
      bar: (label) => ({ update: (done, status) => updates.push(`${label} ${done} ${status ?? ''}`), stop: () => {} }),
    };
    return { log, lines, updates };
  }

  it('prints each stage sentence with the estimate, sizes a train stage from its bar, and does not time resumed work', () => {
    let now = 0;
    const { log, lines, updates } = fakeLog();
    const p = new RunProgress(log, new RunClock(), () => now);
    p.plan([{ id: 'train', kind: 'train', units: 999 }, { id: 'eval', kind: 'sample', units: 200 }, { id: 'train-2', kind: 'train', units: 4000 }]);
    p.stage('train', 'Round 0 · imitating', { kind: 'train', perTick: 8, sizedByBar: true });
    expect(lines).toEqual(['Round 0 · imitating']); // nothing measured yet: no estimate
    // A resumed trainer: 100 steps of batch 8 done before, 150 to go (1200 sequences, not 999).
    const bar = p.log.bar('imitate', 250, 'steps', 100);
    now = 30;
    bar.update(130, 'loss 1.0');
    // 30 steps × 8 = 240 sequences in 30 s: 0.125 s each; left 960 + 4000 → 620 s; sampling unknown.
    expect(updates.at(-1)).toBe('imitate 130 loss 1.0 | at least 10 min left for the whole run (sampling speed not measured yet)');
    now = 150;
    bar.update(250);
    bar.stop();
    p.stage('eval', 'Round 0 · evaluating', { kind: 'sample' });
    // Training: 150 s for 1200 sequences; 4000 left → 500 s; sampling still unmeasured.
    expect(lines.at(-1)).toBe('Round 0 · evaluating · at least 8 min left for the whole run (sampling speed not measured yet)');
    // Two bars in one stage add up: 50 greedy, then 150 sampled.
    const greedy = p.log.bar('greedy', 50, 'problems');
    now = 160;
    greedy.update(50);
    greedy.stop();
    const sampled = p.log.bar('pass@k', 150, 'rollouts');
    now = 170;
    sampled.update(75);
    // Sampling: 20 s for 125 → 75 left = 12 s; training 500 s.
    expect(updates.at(-1)).toBe('pass@k 75 about 9 min left for the whole run');
    now = 190;
    sampled.update(150);
    sampled.stop();
    p.stage('train-2', 'Round 1 · improving', { kind: 'train', perTick: 8, sizedByBar: true });
    expect(lines.at(-1)).toBe('Round 1 · improving · about 8 min left for the whole run');
    // A stage the plan left out runs all the same (a progress line must never stop a run).
    expect(() => p.stage('unplanned', 'Something else', { kind: 'sample' })).not.toThrow();
  });
});

describe('the toy run plan', () => {
  const cfg = parseConfig({
    name: 'p', seed: 1, task: 'addition',
    model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
    levels: { distill: [1, 2, 3], scarce: [4], explore: [4], eval: [2, 3, 4] },
    imitate: { examples: 2100, scarceExamples: 150, epochs: 7, lr: 0.003, batchSize: 16 },
    explore: { problemsPerLevel: 80, k: 8, temperature: 0.7, maxNewTokens: 160 },
    improve: { rounds: 2, epochs: 2, lr: 0.002, batchSize: 8, replay: 450 },
    eval: { problemsPerLevel: 40, k: 4, temperature: 0.7, maxNewTokens: 160 },
    ablation: { scarceScale: 3, equalCompute: true },
  }, 'p.json');
  const state: ToyPlanState = {
    from: 1, evalProblems: 120, exploreProblems: [80, 80], bulk: 2100, scarce: 150, large: 2550, pool: 25, exploredThrough: 1,
    addedPerProblem: 0.3125, pairsPerProblem: null, improveSteps: [], largeDone: false, controlDone: false,
  };

  it('sizes every stage left in work units, growing the pool by what earlier rounds added', () => {
    expect(trainUnits(7, 2250, 16)).toBe(985 * 16);
    expect(evalUnits(cfg.eval, 120)).toBe(600);
    expect(dpoUnits(3, 37, 8, 1)).toBe(14 * 8 * 2);
    const plan = Object.fromEntries(toyPlan(cfg, state).map((s) => [s.id, s.units]));
    expect(plan).toEqual({
      'round-1/explore': 640,
      'round-1/improve': Math.ceil((2 * (450 + 150 + 25)) / 8) * 8, // pool 25 after round 1's explore: 157 steps × 8
      'round-1/eval': 600,
      'round-2/explore': 640,
      'round-2/improve': Math.ceil((2 * (450 + 150 + 50)) / 8) * 8, // + 80 × 0.3125 = 25 expected
      'round-2/eval': 600,
      'ablation-large/imitate': Math.ceil((7 * 2550) / 16) * 16,
      'ablation-large/eval': 600,
      'control/round-1': Math.ceil((2 * (450 + 150 + 25)) / 8) * 8,
      'control/round-2': Math.ceil((2 * (450 + 150 + 50)) / 8) * 8,
      'control/eval': 600,
    });
    // Finished improve rounds give the control its exact steps; a finished ablation arm is not planned.
    const later = Object.fromEntries(toyPlan(cfg, { ...state, from: 3, improveSteps: [undefined, 157, 163], largeDone: true }).map((s) => [s.id, s.units]));
    expect(later).toEqual({ 'control/round-1': 157 * 8, 'control/round-2': 163 * 8, 'control/eval': 600 });
  });

  it('plans SFT+DPO rounds: a check of the SFT model, then pairs (two sequences each) from the explored problems', () => {
    const dpoCfg = parseConfig({ ...JSON.parse(JSON.stringify(cfg)), improve: { rounds: 2, epochs: 2, lr: 0.002, batchSize: 8, replay: 450, method: 'dpo', dpo: { heldOut: 0.25 } }, ablation: { scarceScale: 0 } }, 'p.json');
    const plan = toyPlan(dpoCfg, { ...state, large: 0 });
    expect(plan.map((s) => s.id)).toEqual(['round-1/explore', 'round-1/improve', 'round-1/sft-eval', 'round-1/dpo', 'round-1/eval',
      'round-2/explore', 'round-2/improve', 'round-2/sft-eval', 'round-2/dpo', 'round-2/eval']);
    // Before any DPO round: at most one pair per problem, 75% of them trained on: 60 pairs × 3 epochs / 8 → 23 steps.
    expect(plan.find((s) => s.id === 'round-1/dpo')!.units).toBe(23 * 8 * 2);
    expect(plan.find((s) => s.id === 'round-1/sft-eval')!.units).toBe(120);
    // Measured: 0.4 training pairs per problem → 32 pairs → 12 steps.
    expect(toyPlan(dpoCfg, { ...state, large: 0, pairsPerProblem: 0.4 }).find((s) => s.id === 'round-2/dpo')!.units).toBe(12 * 8 * 2);
  });
});

describe('still run prints what each stage does', () => {
  const MICRO = {
    name: 'micro', seed: 3, task: 'addition',
    model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
    levels: { distill: [1, 2], scarce: [3], explore: [3], eval: [2, 3] },
    imitate: { examples: 40, scarceExamples: 4, epochs: 1, lr: 0.003, batchSize: 8 },
    explore: { problemsPerLevel: 4, k: 2, temperature: 1, maxNewTokens: 48 },
    improve: { rounds: 1, epochs: 1, lr: 0.002, batchSize: 8 },
    eval: { problemsPerLevel: 3, k: 2, temperature: 1, maxNewTokens: 48 },
    ablation: { scarceScale: 2, equalCompute: true },
    maxBatch: 8,
  };

  it('one sentence per stage, in order, with the time left once speeds are measured; nothing with --quiet', async () => {
    const config = join(work, 'micro.json');
    writeFileSync(config, JSON.stringify(MICRO));
    const { stderr } = await runCli([registerRun], ['run', '--config', config, '--out', join(work, 'run')]);
    const sentences = stderr.split('\n').filter((l) => / · /.test(l) && !/^still:/.test(l)).map((l) => l.replace(/ · (about|at least|a few).*$/, ''));
    expect(sentences).toEqual([
      'Round 0 · imitating: training a new student from scratch on 44 teacher traces with worked thoughts (levels 1, 2, and only 4 at the hard level 3), 1 pass over them',
      'Round 0 · evaluating: answering 6 held-out problems (levels 2, 3) with its best guess, then 2 sampled answers each for pass@2',
      'Round 1 of 1 · exploring: sampling 2 answers to each of 4 hard problems (level 3) and keeping the correct ones',
      expect.stringMatching(/^Round 1 of 1 · improving: training on the pool's \d+ correct answers?, 4 scarce teacher traces and 40 replayed easy ones, 1 pass over them$/),
      'Round 1 of 1 · evaluating: answering 6 held-out problems (levels 2, 3) with its best guess, then 2 sampled answers each for pass@2',
      'Ablation · distill only, large: training a second student from scratch on 48 teacher traces (2× as many at the hard level 3), no exploring',
      'Ablation · distill only, large · evaluating: answering 6 held-out problems (levels 2, 3) with its best guess, then 2 sampled answers each for pass@2',
      'Ablation · equal compute: training round 0\'s model on for the 6 steps round 1 trained, on the same teacher traces but without the pool',
      'Ablation · equal compute · evaluating: answering 6 held-out problems (levels 2, 3) with its best guess, then 2 sampled answers each for pass@2',
    ]);
    const lines = stderr.split('\n');
    // After the first train stage, the estimate is a lower bound (sampling not measured); after the first eval, complete.
    expect(lines.find((l) => l.startsWith('Round 0 · evaluating'))).toMatch(/ · at least .* left for the whole run \(sampling speed not measured yet\)$/);
    expect(lines.find((l) => l.startsWith('Round 1 of 1 · exploring'))).toMatch(/ · (about .*|a few seconds) left for the whole run$/);

    const quiet = await runCli([registerRun], ['run', '--config', config, '--out', join(work, 'quiet'), '--quiet']);
    expect(quiet.stderr).toBe('');
  });
});
