// `still dpo` end to end on tiny models: the first step's loss is ln 2 (the policy starts as the reference,
// with a new adapter or continuing the SFT adapter), TRL metric names in the log, the cached reference,
// held-out metrics, bit-exact resume, pairs built from a rollouts file, full fine-tuning of a toy model
// from token pairs, and the refusals (an adapter from another base, a finished run).
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerDpo } from '../src/cli/dpo.ts';
import { initModel } from '../src/nn/load.ts';
import { saveHfModel } from '../src/nn/save.ts';
import { signedStream } from '../src/tensor/rng.ts';
import { runDpo } from '../src/train/dpo_run.ts';
import { runCli } from './cli_helpers.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';
import { toyConfig } from './train_helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-dpo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const model = tinyEvalModelDir(256);
const still = (args: string[]) => runCli([registerDpo], ['--backend', 'cpu', 'dpo', '--quiet', ...args]);

// Eight problems, one pair each: the chosen answers share a pattern the rejected ones lack.
const pairsFile = join(tmp, 'pairs.jsonl');
writeFileSync(pairsFile, Array.from({ length: 8 }, (_, i) => JSON.stringify({
  prompt: `Add ${i} and ${i + 1}.`, chosen: `<|begin_of_thought|>${i}+${i + 1}<|end_of_thought|> ${2 * i + 1}`, rejected: `no idea ${i}`,
})).join('\n') + '\n');

const logLines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

describe('still dpo on an HF checkpoint (LoRA)', () => {
  it('starts at ln 2, logs TRL metrics, caches the reference, learns the preference', async () => {
    const out = join(tmp, 'lora');
    const log = join(out, 'log.jsonl');
    const { stdout } = await still(['--model', model, '--data', pairsFile, '--out', out, '--lora-r', '4', '--steps', '8', '--lr', '0.02',
      '--batch-size', '2', '--eval-split', '0.25', '--log', log, '--seed', '1']);
    const lines = logLines(log);
    expect(lines).toHaveLength(8);
    expect(Math.abs(lines[0].loss - Math.LN2)).toBeLessThan(1e-6); // a new adapter (B = 0) is the reference
    expect(lines[0]['rewards/margins']).toBeCloseTo(0, 6);
    for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies', 'logps/chosen', 'logps/rejected', 'grad_norm', 'lr']) {
      expect(lines[7][k], k).toBeTypeOf('number');
    }
    expect(lines[7].loss).toBeLessThan(lines[0].loss);
    expect(lines[7]['rewards/margins']).toBeGreaterThan(0);
    expect(lines[7]['eval_rewards/accuracies']).toBeTypeOf('number');
    const summary = JSON.parse(readFileSync(join(out, 'training_summary.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'done', step: 8, pairs: 6, evalPairs: 2, adapter: out });
    expect(summary.evalStart['eval_loss']).toBeCloseTo(Math.LN2, 6);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
    // Like an SFT adapter, it records its base's fingerprint (io/adapter_base.ts), checked when it is loaded.
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).still_base_fingerprint).toMatch(/^[0-9a-f]{24}$/);
    expect(JSON.parse(readFileSync(join(out, 'reference_logps.json'), 'utf8')).train).toHaveLength(6);
    expect(JSON.parse(stdout.trim())['rewards/accuracies']).toBeTypeOf('number');
    await expect(still(['--model', model, '--data', pairsFile, '--out', out, '--steps', '1'])).rejects.toThrow(/already holds a finished training run/);
    await still(['--model', model, '--data', pairsFile, '--out', out, '--steps', '1', '--overwrite']);
    expect(JSON.parse(readFileSync(join(out, 'training_summary.json'), 'utf8')).step).toBe(1);
  });

  it('a run stopped and resumed ends with the adapter an uninterrupted run ends with', async () => {
    const args = (out: string) => ['--model', model, '--data', pairsFile, '--out', out, '--lora-r', '2', '--steps', '4', '--lr', '0.01', '--nll-weight', '0.5', '--thought-only'];
    await still(args(join(tmp, 'whole')));
    await still([...args(join(tmp, 'split')), '--stop-after', '2']);
    expect(existsSync(join(tmp, 'split', 'training_summary.json'))).toBe(false);
    await still([...args(join(tmp, 'split')), '--resume']);
    const a = readFileSync(join(tmp, 'whole', 'adapter_model.safetensors'));
    const b = readFileSync(join(tmp, 'split', 'adapter_model.safetensors'));
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('continuing the SFT adapter: the base with that adapter is the reference; an adapter of another base is refused', async () => {
    const sft = join(tmp, 'sft-adapter');
    cpSync('fixtures/tiny-qwen2/lora', sft, { recursive: true });
    const log = join(tmp, 'adapter.log');
    await still(['--model', model, '--init-adapter', sft, '--data', pairsFile, '--out', join(tmp, 'adapter'), '--steps', '2', '--lr', '0.01', '--log', log]);
    expect(Math.abs(logLines(log)[0].loss - Math.LN2)).toBeLessThan(1e-6);

    const other = join(tmp, 'other-base');
    cpSync(model, other, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(other, 'config.json'), 'utf8'));
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...cfg, rope_theta: 1234 }));
    const conf = JSON.parse(readFileSync(join(sft, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(sft, 'adapter_config.json'), JSON.stringify({ ...conf, base_model_name_or_path: other }));
    await expect(still(['--model', model, '--init-adapter', sft, '--data', pairsFile, '--out', join(tmp, 'refused'), '--steps', '1']))
      .rejects.toThrow(/adapter_config\.json: field 'base_model_name_or_path' is '.*other-base', a different model/);
  });

  it('--rollouts builds perplexity pairs into --out/pairs.jsonl and trains on them', async () => {
    const rollouts = join(tmp, 'pool.rollouts.jsonl');
    const row = (id: string, sample: number, correct: boolean, logprob: number, text: string) => JSON.stringify({
      id, question: `What is ${id}?`, gold: '1', sample, text, tokens: 5, thought_tokens: 2, finish_reason: 'stop', correct,
      answer: correct ? '1' : '2', format_problem: null, logprob,
    });
    writeFileSync(rollouts, [row('a', 0, true, -0.2, 'yes a'), row('a', 1, false, -0.3, 'no a'), row('a', 2, true, -0.9, 'yes A'),
      row('b', 0, false, -0.5, 'no b'), row('b', 1, false, -0.4, 'no B')].join('\n') + '\n');
    const out = join(tmp, 'from-rollouts');
    await still(['--model', model, '--rollouts', rollouts, '--prompt', 'plain', '--out', out, '--steps', '1']);
    const pairs = readFileSync(join(out, 'pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(pairs.map((p) => [p.id, p.chosen, p.rejected])).toEqual([['a', 'yes A', 'no a']]);
  });
});

describe('still dpo on a toy model (full fine-tuning, token pairs)', () => {
  it('raises the training pairs\' reward accuracy to 1', async () => {
    const dir = join(tmp, 'toy-model');
    const normal = signedStream(3);
    saveHfModel(initModel(toyConfig(24), () => normal() * 0.1), dir);
    const file = join(tmp, 'toy-pairs.jsonl');
    writeFileSync(file, Array.from({ length: 6 }, (_, i) => JSON.stringify({
      prompt_input_ids: [1, 2 + i], chosen_input_ids: [10, 11, 12 + (i % 3), 2], rejected_input_ids: [20, 21, 2], chosen_thought_tokens: 2, rejected_thought_tokens: 2,
    })).join('\n') + '\n');
    const r = await runDpo({ model: dir, data: file, out: join(tmp, 'toy-dpo'), mode: { kind: 'full' }, steps: 12, lr: 0.01, batchSize: 3, thoughtOnly: true, beta: 0.5 });
    expect(r.status).toBe('done');
    expect(r.train!['rewards/accuracies']).toBe(1);
    expect(r.train!['rewards/margins']).toBeGreaterThan(0.5);
    expect(existsSync(join(tmp, 'toy-dpo', 'model.safetensors'))).toBe(true);
  });
});
