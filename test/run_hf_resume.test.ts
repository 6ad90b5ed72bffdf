// `still run` on an HF checkpoint survives SIGKILL at any moment: killed at several random moments (mid-SFT,
// mid-explore, mid-eval, mid-write) and run again until it finishes, it reports the numbers an uninterrupted
// run reports and writes the same rollouts, pools and results, byte for byte. The model is the random
// tiny-qwen2 fixture: it solves nothing, but every sampled text, every SFT loss and every count must match.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrainRng } from '../src/tensor/rng.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';
import { longThought, reportNumbers, runFiles, runStill, writeJsonl } from './hf_helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-hf-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function microConfig(): string {
  writeJsonl(join(tmp, 'distilled.jsonl'), Array.from({ length: 6 }, (_, i) => ({ question: `What is ${i}+${i}?`, combined_text: longThought(`${i}+${i}`, String(2 * i)), domain: 'math' })));
  writeJsonl(join(tmp, 'explore.jsonl'), Array.from({ length: 12 }, (_, i) => ({ id: `e${i}`, problem: `What is ${i}+1?`, answer: String(i + 1), level: 1 + (i % 2) })));
  writeJsonl(join(tmp, 'test.jsonl'), Array.from({ length: 8 }, (_, i) => ({ id: `t${i}`, problem: `What is ${i}*2?`, answer: String(i * 2), level: 1 + (i % 2) })));
  const file = join(tmp, 'micro.json');
  writeFileSync(file, JSON.stringify({
    name: 'micro', seed: 3, model: tinyEvalModelDir(256), prompt: 'plain', maxBatch: 4, checkpointEvery: 2,
    imitate: { data: 'distilled.jsonl', mode: 'lora', lora: { r: 4 }, epochs: 3, lr: 0.001, batchSize: 2, gradAccum: 1 },
    explore: { data: 'explore.jsonl', problemsPerRound: 5, k: 3, temperature: 1, maxNewTokens: 10 },
    improve: { rounds: 2 },
    eval: { benches: ['test.jsonl'], maxNewTokens: 10, hard: { bench: 'test', level: 2 } },
  }));
  return file;
}

describe('still run on an HF checkpoint, killed and rerun', () => {
  it('reports the numbers and writes the samples of an uninterrupted run', async () => {
    const config = microConfig();
    const whole = join(tmp, 'whole');
    const straight = await runStill(['run', '--config', config, '--out', whole, '--quiet']);
    expect(straight.stderr).toBe('');
    expect(straight.code).toBe(0);

    const cut = join(tmp, 'cut');
    const rng = new TrainRng(2024);
    // A random moment inside each kind of stage: once the stage has started writing, within 0.2 s.
    const moments = ['round-0/imitate/checkpoints', 'round-0/eval/test/results.partial.jsonl', 'round-1/explore/journal.jsonl',
      'round-1/pool.jsonl', 'round-1/improve/checkpoints', 'round-2/explore/journal.jsonl', 'round-2/eval/test/results.partial.jsonl'];
    let kills = 0;
    for (const moment of moments) {
      const r = await runStill(['run', '--config', config, '--out', cut, '--quiet'], { kill: { path: join(cut, moment), delayMs: Math.floor(200 * rng.next()) } });
      if (r.code === 0) continue; // the stage was over before the kill: the run finished
      expect(r.stderr).toBe('');
      expect(r.code).toBeNull(); // killed, not failed
      kills++;
    }
    const last = await runStill(['run', '--config', config, '--out', cut, '--quiet']);
    expect(last.code).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(4);
    expect(existsSync(join(cut, 'report.json'))).toBe(true);
    expect(reportNumbers(cut)).toEqual(reportNumbers(whole));
    const files = runFiles(cut);
    expect(Object.keys(files).length).toBeGreaterThanOrEqual(5); // rollouts of 2 rounds, 2 pools, 3 evals
    expect(files).toEqual(runFiles(whole));
  }, 120_000);
});
