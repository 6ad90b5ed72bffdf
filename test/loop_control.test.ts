// Table 2's equal-compute control: distill-only on the small set, trained on for as many steps as the
// improve rounds took, without the pool, so "exploration" and "more training" can be told apart.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loop/config.ts';
import { runExperiment } from '../src/loop/experiment.ts';
import { imitate } from '../src/loop/stages.ts';
import { newStudent, traceExample } from '../src/loop/toy.ts';
import { getTask } from '../src/tasks/index.ts';
import { Rng } from '../src/tasks/rng.ts';

const work = mkdtempSync(join(tmpdir(), 'still-control-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MICRO = {
  name: 'micro', seed: 3, task: 'addition',
  model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
  levels: { distill: [1, 2], scarce: [3], explore: [3], eval: [2, 3] },
  imitate: { examples: 40, scarceExamples: 4, epochs: 1, lr: 0.003, batchSize: 8 },
  explore: { problemsPerLevel: 3, k: 2, temperature: 1, maxNewTokens: 128 },
  improve: { rounds: 2, epochs: 1, lr: 0.002, batchSize: 8, replay: 16 },
  eval: { problemsPerLevel: 3, k: 1, temperature: 1, maxNewTokens: 128 },
  ablation: { equalCompute: true },
  maxBatch: 8,
};

describe('the equal-compute control', () => {
  it('trains distill-only for exactly the improve rounds\' steps and reports it beside the other arms', async () => {
    const out = join(work, 'run');
    const report = await runExperiment(parseConfig(MICRO, 'micro.json'), { outDir: out, quiet: true });
    const improveSteps = report.rounds.slice(1).map((m) => m.train.steps);
    expect(improveSteps.every((s) => s > 0)).toBe(true);
    const control = JSON.parse(readFileSync(join(out, 'ablation-equal-compute', 'metrics.json'), 'utf8'));
    expect(control.train.steps).toBe(improveSteps[0]! + improveSteps[1]!);
    expect(control.poolSize).toBe(0);
    const rows = Object.fromEntries(report.ablation.map((r) => [r.setting, r]));
    const small = rows['distill only (small)']!;
    const equal = rows['distill only (small), equal compute']!;
    const explored = rows['small + explore (2 rounds)']!;
    expect(equal.steps).toBe(small.steps + control.train.steps);
    expect(equal.steps).toBe(explored.steps); // the same training compute as the explore arm
    expect(equal.explored).toBe(0);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('| distill only (small), equal compute |');
    // A rerun of the finished run reuses the control instead of training it again.
    const again = await runExperiment(parseConfig(MICRO, 'micro.json'), { outDir: out, quiet: true });
    expect(again.ablation).toEqual(report.ablation);
    // This micro student finds nothing to pool, so its explore arm trained on exactly the control's data for the
    // same steps with the same seeds: the two models must be the same, byte for byte.
    expect(report.rounds.at(-1)!.poolSize).toBe(0);
    expect(readFileSync(join(out, 'ablation-equal-compute', 'model.safetensors'))).toEqual(readFileSync(join(out, 'round-2', 'model.safetensors')));
  }, 60_000);

  it('trains for a given number of steps, whatever one epoch of the data is', async () => {
    const cfg = parseConfig(MICRO, 'micro.json');
    const task = getTask('addition');
    const examples = [1, 2].flatMap((level) => Array.from({ length: 8 }, (_, i) => {
      const p = task.generate(level, new Rng(`steps/${level}/${i}`));
      return traceExample(p, task.teacher(p, new Rng(`t/${i}`), { reflectionRate: 0 }), `s:${level}:${i}`);
    }));
    const model = newStudent(cfg.model, 160, 1);
    const log = { quiet: true, line: () => {}, bar: () => ({ update: () => {}, stop: () => {} }) };
    expect((await imitate(model, examples, cfg.improve, 1, 'epochs', log)).steps).toBe(2); // 16 examples, batch 8, 1 epoch
    expect((await imitate(model, examples, cfg.improve, 1, 'steps', log, 7)).steps).toBe(7);
  });

  it('is off by default, and its config field is checked', () => {
    expect(parseConfig({ ...MICRO, ablation: {} }, 'm.json').ablation.equalCompute).toBe(false);
    expect(() => parseConfig({ ...MICRO, ablation: { equalCompute: 'yes' } }, 'm.json')).toThrow("field 'ablation.equalCompute' must be true or false");
  });
});
