// improve.method "dpo" in the toy loop: each improve round runs DPO after its SFT on pairs from its own
// rollouts, the round's metrics keep the SFT model's accuracy and the DPO record, and Table 2 shows the
// SFT and SFT+DPO rows. A micro config (seconds); the measured run is in bench/NOTES.md.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loop/config.ts';
import { toyDpoStep } from '../src/loop/dpo_stage.ts';
import { parseHfExperimentConfig } from '../src/loop/hf/config.ts';
import { hfDpoStage } from '../src/loop/hf/dpo_stage.ts';
import { runExperiment } from '../src/loop/experiment.ts';
import { stageLog } from '../src/loop/progress.ts';
import type { Rollout } from '../src/loop/rollouts.ts';
import { newStudent, promptIds } from '../src/loop/toy.ts';
import { verifyRollout } from '../src/loop/verify.ts';
import { getTask } from '../src/tasks/index.ts';
import { Rng } from '../src/tasks/rng.ts';

const MICRO = {
  name: 'micro-dpo', seed: 3, task: 'addition',
  model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
  levels: { distill: [1, 2], explore: [2], eval: [1, 2] },
  imitate: { examples: 60, epochs: 1, lr: 0.003, batchSize: 8 },
  explore: { problemsPerLevel: 8, k: 4, temperature: 1, maxNewTokens: 40 },
  improve: { rounds: 1, epochs: 1, lr: 0.002, batchSize: 8, method: 'dpo', dpo: { epochs: 1, batchSize: 2, lr: 1e-3, heldOut: 0.25 } },
  eval: { problemsPerLevel: 3, k: 1, temperature: 0, maxNewTokens: 40 },
  maxBatch: 8,
};

const tmp = mkdtempSync(join(tmpdir(), 'still-dpo-loop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the toy loop with improve.method "dpo"', () => {
  it('runs DPO after the SFT of each improve round and reports the SFT and SFT+DPO rows', async () => {
    const cfg = parseConfig(MICRO, 'micro.json');
    const report = await runExperiment(cfg, { outDir: join(tmp, 'run'), quiet: true });
    const round = report.rounds[1];
    // A micro student solves too few problems to pair; the step then keeps the SFT model and says so.
    expect(round.dpo === null || round.dpo!.pairs >= 2).toBe(true);
    expect(round.sftAccuracy!.map((a) => a.level)).toEqual([1, 2]);
    const pairs = round.dpo?.pairs ?? 0;
    expect(report.ablation.map((a) => a.setting)).toEqual(['distill only (small)', 'small + explore, SFT (1 rounds)', `small + explore, SFT+DPO (1 rounds, ${pairs} pairs last)`]);
    expect(readFileSync(join(tmp, 'run', 'report.md'), 'utf8')).toContain('| small + explore, SFT+DPO');
  });

  it('the toy DPO step pairs a round\'s rollouts, holds out problems, trains from the SFT model and records it', async () => {
    const task = getTask('addition');
    const rng = new Rng(4);
    const problems = Array.from({ length: 12 }, () => task.generate(2, rng));
    // Each problem: the teacher's trace (correct) and the same trace with a wrong boxed answer (incorrect).
    const rollouts: Rollout[] = problems.flatMap((problem) => [0, 1].map((sample) => {
      let completion = task.teacher(problem, rng.fork(problem.id));
      if (sample === 1) completion = completion.replace(/\\boxed\{(\d+)\}/, (_, a) => `\\boxed{${BigInt(a) + 1n}}`);
      const v = verifyRollout(task, problem, completion);
      return { id: problem.id, problem, sample, completion, correct: v.correct, answer: v.answer, finished: true, tokens: completion.length, thoughtChars: 0, logprob: -sample };
    }));
    expect(rollouts.filter((r) => r.correct)).toHaveLength(12);
    const sft = newStudent({ hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64, ropeTheta: 10000 }, 160, 1);
    const c = parseConfig(MICRO, 'micro.json').improve.dpo!;
    // The boxed answer sits in the solution block: score whole completions, or the pairs would not differ.
    const step = await toyDpoStep(sft, rollouts, { ...c, thoughtOnly: false, nllWeight: 0, beta: 0.5, epochs: 15, batchSize: 9, lr: 1e-2 }, join(tmp, 'step'), 1, stageLog(true));
    expect(step.record).toMatchObject({ problems: 12, mixed: 12, pairs: 9, evalPairs: 3 });
    expect(step.record!.evalStart!['eval_rewards/margins']).toBe(0);
    expect(step.record!.train!['rewards/accuracies']).toBe(1); // the training pairs, all in each step
    expect(step.model).not.toBe(sft);
    const rows = readFileSync(join(tmp, 'step', 'pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows[0].prompt_input_ids).toEqual(promptIds(problems[0]));
  });

  it('a dpo block without method "dpo" is refused, naming the field', () => {
    expect(() => parseConfig({ ...MICRO, improve: { ...MICRO.improve, method: 'sft' } }, 'micro.json')).toThrow(/micro\.json: field 'improve\.dpo' must be absent unless improve\.method is 'dpo'/);
  });

  it('improve.dpo.pairs takes every pair rule, perplexity by default, and names them when wrong', () => {
    expect(parseConfig(MICRO, 'micro.json').improve.dpo!.pairs).toBe('perplexity');
    const withPairs = (pairs: string) => ({ ...MICRO, improve: { ...MICRO.improve, dpo: { ...MICRO.improve.dpo, pairs } } });
    expect(parseConfig(withPairs('confident'), 'micro.json').improve.dpo!.pairs).toBe('confident');
    expect(() => parseConfig(withPairs('likeliest'), 'micro.json')).toThrow(/improve\.dpo\.pairs.*"perplexity", "confident", "random", "shortest"/);
  });

  it('HF: improve.method "dpo" trains the SFT policy on pairs of the round\'s rollouts file', async () => {
    const json = JSON.parse(readFileSync('examples/still2-tiny.json', 'utf8'));
    const cfg = parseHfExperimentConfig({ ...json, improve: { ...json.improve, method: 'dpo', dpo: { heldOut: 0, batchSize: 2, gradAccum: 1, lr: 1e-4 } } }, 'examples/still2-tiny.json');
    expect(cfg.improve.dpo).toMatchObject({ pairs: 'perplexity', thoughtOnly: true, nllWeight: 1, beta: 0.1, gradAccum: 1 });
    const text = (answer: number) => `<|begin_of_thought|>2 + 3 = ${answer}<|end_of_thought|><|begin_of_solution|>\\boxed{${answer}}<|end_of_solution|>`;
    const row = (id: string, sample: number, answer: number, logprob: number) => JSON.stringify({
      id, question: `What is 2 + 3? (${id})`, gold: '5', sample, text: text(answer), tokens: 20, thought_tokens: 8, finish_reason: 'stop',
      correct: answer === 5, answer: String(answer), format_problem: null, logprob,
    });
    const rollouts = join(tmp, 'rollouts.jsonl');
    writeFileSync(rollouts, ['a', 'b', 'c'].flatMap((id) => [row(id, 0, 5, -0.4), row(id, 1, 6, -0.2), row(id, 2, 5, -0.9)]).join('\n') + '\n');
    const dir = join(tmp, 'hf-round');
    const step = await hfDpoStage({ round: 1, policy: { model: 'examples/tiny-math/model', adapter: null }, rollouts, dir, seed: 1 }, cfg, stageLog(true));
    expect(step.policy).toEqual({ model: join(dir, 'dpo'), adapter: null });
    expect(step.record).toMatchObject({ problems: 3, mixed: 3, pairs: 3, evalPairs: 0, steps: 2 });
    const pairs = readFileSync(join(dir, 'pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(pairs.map((p) => [p.chosen_sample, p.rejected_sample])).toEqual([[2, 1], [2, 1], [2, 1]]);
    expect(existsSync(join(dir, 'dpo', 'model.safetensors'))).toBe(true);
  });
});
