// The SFT trainer end to end: PEFT's 5 AdamW steps through `still sft`, bit-exact resume (library and
// CLI), Ctrl-C, packing equivalence, NaN detection, flat memory, full fine-tuning from scratch.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Example } from '../src/data/example.ts';
import { loadPeftAdapter } from '../src/io/peft.ts';
import { initModel, loadModel } from '../src/nn/load.ts';
import { createLora } from '../src/nn/lora.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import { getBackend, setBackend } from '../src/tensor/context.ts';
import { tensor } from '../src/tensor/ops.ts';
import { tidy } from '../src/tensor/scope.ts';
import { packExamples } from '../src/train/pack.ts';
import { clearGrads, trainableParams } from '../src/train/params.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { lossAndBackward } from '../src/train/step.ts';
import { evalLoss, train, type TrainOptions } from '../src/train/trainer.ts';
import { countingBackend, randomExamples, runStill, toyConfig } from './train_helpers.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'still-sft-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const refRows = join(tmp, 'ref_rows.jsonl');
writeFileSync(refRows, (ref.input_ids as number[][]).map((ids, i) => JSON.stringify({ input_ids: ids, labels: ref.lora.labels[i] })).join('\n') + '\n');

function still(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/still.js', '--backend', 'cpu', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function readLog(file: string): { step: number; loss: number; lr: number; grad_norm: number; tokens: number; tokens_per_s: number }[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function normal(rng: TrainRng): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function snapshot(tensors: { toArray(): ArrayLike<number> }[]): Float32Array[] {
  return tensors.map((t) => Float32Array.from(t.toArray()));
}

describe('still sft reproduces PEFT + torch AdamW on the fixture', () => {
  it('5 steps at lr 1e-2 match adamw_losses within 2e-4, and the adapter is written in PEFT format', () => {
    const out = join(tmp, 'acceptance');
    const log = join(tmp, 'acceptance.jsonl');
    const r = still(['sft', '--model', DIR, '--data', refRows, '--init-adapter', `${DIR}/lora`, '--steps', '5', '--lr', '1e-2',
      '--batch-size', '2', '--weight-decay', '0', '--schedule', 'constant', '--no-shuffle', '--out', out, '--log', log]);
    expect(r.stderr.includes('still: ') ? r.stderr : '').toBe('');
    expect(r.code).toBe(0);
    const lines = readLog(log);
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    const worst = Math.max(...lines.map((l, i) => Math.abs(l.loss - ref.lora.adamw_losses[i])));
    expect(worst).toBeLessThan(2e-4);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(['step', 'loss', 'lr', 'grad_norm', 'tokens', 'tokens_per_s']);
      expect(l).toMatchObject({ lr: 0.01, tokens: 32 });
      expect(l.grad_norm).toBeGreaterThan(0);
    }
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'done', step: 5, adapter: out });
    const model = loadModel(DIR, { quiet: true });
    model.adapter = loadPeftAdapter(out, model.config);
    expect(model.adapter.pairs.size).toBe(14);
  }, 60_000);
});

describe('packing', () => {
  it('packed rows give the same loss and gradients as one example per padded row', () => {
    const model = loadModel(DIR, { quiet: true });
    model.adapter = loadPeftAdapter(`${DIR}/lora`, model.config);
    const examples = randomExamples(5, 512, 4, 14);
    const params = trainableParams(model);
    const run = (rowTokens: number) => {
      const batch = packExamples(examples, rowTokens);
      const normalizer = batch.targetCount;
      const loss = lossAndBackward(model, batch, normalizer, () => 'test');
      const grads = snapshot(params.map((p) => p.value.grad!));
      clearGrads(params);
      return { loss, grads, rows: batch.rows, packed: batch.segments !== null };
    };
    const alone = run(1);
    const packed = run(30);
    expect(alone).toMatchObject({ rows: 5, packed: false });
    expect(packed.rows).toBeLessThan(5);
    expect(packed.packed).toBe(true);
    expect(Math.abs(packed.loss - alone.loss)).toBeLessThan(1e-5);
    for (let i = 0; i < params.length; i++) {
      let num = 0;
      let den = 0;
      alone.grads[i].forEach((g, j) => {
        num += (packed.grads[i][j] - g) ** 2;
        den += g * g;
      });
      expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
    }
  });

  it('restarts positions per example and shifts labels inside each example only', () => {
    const a: Example = { inputIds: [1, 2, 3], labels: [-100, 2, 3], source: 'a' };
    const b: Example = { inputIds: [4, 5], labels: [4, 5], source: 'b' };
    const p = packExamples([a, b], 8, 0);
    expect([p.rows, p.cols, p.tokens, p.targetCount]).toEqual([1, 5, 5, 3]);
    expect(Array.from(p.ids)).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(p.targets)).toEqual([2, 3, -100, 5, -100]);
    expect(Array.from(p.positions)).toEqual([0, 1, 2, 0, 1]);
    expect(Array.from(p.segments!)).toEqual([0, 0, 0, 1, 1]);
  });
});

describe('resume is bit-exact', () => {
  const examples = randomExamples(10, 512, 9, 14);
  const opts: TrainOptions = {
    steps: 6, lr: 5e-3, batchSize: 2, gradAccum: 2, schedule: 'cosine', warmup: 2, weightDecay: 0.01,
    maxGradNorm: 1, seed: 5, shuffle: true,
  };
  const lora = (seed: number) => {
    const m = loadModel(DIR, { quiet: true });
    const rng = new TrainRng(seed);
    m.adapter = createLora(m.config, { r: 4, alpha: 8, dropout: 0.1, targets: ['q_proj', 'v_proj', 'down_proj'] }, () => rng.next());
    return m;
  };

  it('LoRA with dropout, shuffling, accumulation, warmup + cosine and clipping: 6 steps = 3 + resume + 3', async () => {
    const straight = lora(1);
    const a = await train(straight, { train: examples }, opts);
    const dir = join(tmp, 'resume-lora');
    const first = await train(lora(1), { train: examples }, { ...opts, checkpointDir: dir, stopAfter: 3 });
    expect(first).toMatchObject({ status: 'stopped', step: 3 });
    expect(existsSync(join(dir, 'step-000003', 'adapter_model.safetensors'))).toBe(true);
    // Start from a different random adapter: everything must come from the checkpoint.
    const resumed = lora(99);
    const b = await train(resumed, { train: examples }, { ...opts, checkpointDir: dir, resume: true });
    expect(b.stats.map((s) => s.step)).toEqual([4, 5, 6]);
    const losses = [...first.stats, ...b.stats].map((s) => [s.loss, s.lr, s.grad_norm]);
    expect(losses).toEqual(a.stats.map((s) => [s.loss, s.lr, s.grad_norm]));
    expect(snapshot(resumed.adapter!.parameters())).toEqual(snapshot(straight.adapter!.parameters()));
  });

  it('full fine-tuning of an initModel model: 6 steps = 3 + resume + 3, and a changed setting is refused', async () => {
    const cfg = toyConfig();
    const toy = randomExamples(8, cfg.vocabSize, 3);
    const fresh = () => initModel(cfg, normal(new TrainRng(42)));
    const full: TrainOptions = { ...opts, lr: 1e-2 };
    const straight = fresh();
    const a = await train(straight, { train: toy }, full);
    const dir = join(tmp, 'resume-full');
    const first = await train(fresh(), { train: toy }, { ...full, checkpointDir: dir, stopAfter: 3 });
    const resumed = initModel(cfg, normal(new TrainRng(7)));
    const b = await train(resumed, { train: toy }, { ...full, checkpointDir: dir, resume: true });
    expect([...first.stats, ...b.stats].map((s) => s.loss)).toEqual(a.stats.map((s) => s.loss));
    expect(snapshot(resumed.parameters())).toEqual(snapshot(straight.parameters()));
    await expect(train(fresh(), { train: toy }, { ...full, lr: 2e-2, checkpointDir: dir, resume: true }))
      .rejects.toThrow('cannot resume: lr is 0.02 but was 0.01 in the checkpoint');
    await expect(train(fresh(), { train: toy.slice(1) }, { ...full, checkpointDir: dir, resume: true }))
      .rejects.toThrow('cannot resume: the training data differs from the checkpoint');
  });

  it('the CLI: --stop-after then --resume logs exactly what a straight run logs', async () => {
    const data = join(tmp, 'cli_rows.jsonl');
    writeFileSync(data, examples.map((e) => JSON.stringify({ input_ids: e.inputIds, labels: e.labels })).join('\n') + '\n');
    const common = ['sft', '--model', DIR, '--data', data, '--lora-r', '4', '--lora-dropout', '0.1', '--steps', '4', '--lr', '1e-3',
      '--batch-size', '2', '--grad-accum', '2', '--schedule', 'cosine', '--warmup', '1', '--seed', '3', '--quiet'];
    const straightLog = join(tmp, 'straight.jsonl');
    await runStill([...common, '--out', join(tmp, 'cli-straight'), '--log', straightLog]);
    const splitLog = join(tmp, 'split.jsonl');
    const out = join(tmp, 'cli-split');
    const stop = await runStill([...common, '--out', out, '--log', splitLog, '--stop-after', '2']);
    expect(JSON.parse(stop.stdout)).toMatchObject({ status: 'stopped', step: 2 });
    await expect(runStill([...common, '--out', out, '--log', splitLog])).rejects.toThrow(`--out ${out} holds an unfinished training run (checkpoints/latest.json); add --resume`);
    await expect(runStill([...common, '--lr', '2e-3', '--out', out, '--resume'])).rejects.toThrow('cannot resume: lr is 0.002 but was 0.001');
    const resumed = await runStill([...common, '--out', out, '--log', splitLog, '--resume']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'done', step: 4 });
    const strip = (l: ReturnType<typeof readLog>) => l.map(({ step, loss, lr, grad_norm }) => ({ step, loss, lr, grad_norm }));
    expect(strip(readLog(splitLog))).toEqual(strip(readLog(straightLog)));
    expect(readFileSync(join(out, 'adapter_model.safetensors'))).toEqual(readFileSync(join(tmp, 'cli-straight', 'adapter_model.safetensors')));
    expect(existsSync(join(out, 'checkpoints'))).toBe(false); // a completed run leaves no resume state behind
  });

  it('Ctrl-C finishes the step, saves a checkpoint and exits with 130; --resume completes the run', async () => {
    const out = join(tmp, 'sigint');
    const log = join(tmp, 'sigint.jsonl');
    const args = ['bin/still.js', '--backend', 'cpu', 'sft', '--model', DIR, '--data', refRows, '--steps', '400', '--lr', '1e-3',
      '--batch-size', '2', '--out', out, '--log', log];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 3) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 20);
      child.on('exit', (c) => {
        clearInterval(poll);
        resolve(c);
      });
    });
    expect(code).toBe(130);
    expect(stderr).toContain(`Resume with:\n  still ${args.slice(1).join(' ')} --resume\n`);
    const saved = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8')).step;
    expect(saved).toBeGreaterThan(2);
    expect(saved).toBeLessThan(400);
    expect(readLog(log).at(-1)!.step).toBe(saved);
    const r = spawnSync(process.execPath, [...args, '--resume', '--quiet'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(readLog(log).map((l) => l.step)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  }, 60_000);
});

describe('guards', () => {
  it('a NaN loss stops training with an error naming the step and the examples', async () => {
    const model = initModel(toyConfig(), normal(new TrainRng(1)));
    tidy(() => getBackend().copyInto(model.weight('model.norm.weight'), tensor(new Float32Array(16).fill(NaN))));
    const data = randomExamples(4, 24, 2);
    await expect(train(model, { train: data }, { steps: 2, lr: 1e-3, batchSize: 2, shuffle: false }))
      .rejects.toThrow(/loss is NaN on step 1 \(examples synthetic:1, synthetic:2\)/);
  });

  it('bf16 weights (as on a GPU) train through f32 masters that keep small updates', async () => {
    const model = loadModel(DIR, { quiet: true, dtype: 'bf16' });
    const w = model.weight('model.layers.0.mlp.up_proj.weight');
    const before = Float32Array.from(w.toArray());
    const masters: Float32Array[] = [];
    const r = await train(model, { train: randomExamples(4, 512, 5) }, { steps: 3, lr: 1e-4, batchSize: 2, shuffle: false }, {
      onStep: () => {
        // The value the model computes with is the bf16 rounding of the master AdamW updates.
        masters.push(Float32Array.from(w.toArray()));
      },
    });
    expect(w.dtype).toBe('bf16');
    expect(r.stats.every((s) => Number.isFinite(s.loss))).toBe(true);
    // lr 1e-4 moves each weight by ~1e-4 per step, below bf16's resolution for most of them: without f32
    // masters the weights would never change; with them, roundings accumulate into visible changes.
    const changed = (a: Float32Array) => a.filter((v, i) => v !== before[i]).length / a.length;
    expect(changed(masters[2])).toBeGreaterThan(changed(masters[0]));
    expect(changed(masters[2])).toBeGreaterThan(0.05);
  });

  it('device memory is flat from step to step', async () => {
    const prev = getBackend();
    const { backend, live } = countingBackend();
    setBackend(backend);
    try {
      const model = loadModel(DIR, { quiet: true });
      const rng = new TrainRng(1);
      model.adapter = createLora(model.config, { r: 4, alpha: 8, dropout: 0.1, targets: ['q_proj', 'up_proj'] }, () => rng.next());
      const counts: number[] = [];
      await train(model, { train: randomExamples(12, 512, 1) }, { steps: 6, lr: 1e-3, batchSize: 2, gradAccum: 2, maxGradNorm: 1 }, {
        onStep: () => counts.push(live()),
      });
      // Step 1 creates the AdamW moments; after that nothing may accumulate.
      expect(new Set(counts.slice(1)).size).toBe(1);
      expect(counts[1] - counts[0]).toBe(0);
    } finally {
      setBackend(prev);
    }
  });

  it('full fine-tuning from scratch learns a toy pattern, with eval loss on held-out data', async () => {
    const cfg = toyConfig(12);
    // Sequences that count up mod 12 from a random start: the next token is always predictable.
    const rng = new TrainRng(8);
    const make = (k: number): Example => {
      const s = Math.floor(rng.next() * 12);
      const ids = Array.from({ length: 10 }, (_, i) => (s + i) % 12);
      return { inputIds: ids, labels: ids, source: `count:${k}` };
    };
    const data = Array.from({ length: 24 }, (_, k) => make(k));
    const held = Array.from({ length: 6 }, (_, k) => make(100 + k));
    const model: DecoderModel = initModel(cfg, normal(new TrainRng(2)));
    const before = evalLoss(model, held, 4, 64);
    const evals: number[] = [];
    const r = await train(model, { train: data, eval: held }, { steps: 60, lr: 1e-2, batchSize: 8, evalEvery: 20, seed: 1 }, {
      onEval: (e) => evals.push(e.evalLoss),
    });
    expect(before).toBeGreaterThan(2);
    expect(evals).toHaveLength(3); // steps 20, 40 and the end
    expect(r.evalLoss).toBeLessThan(0.5);
    expect(r.stats.at(-1)!.loss).toBeLessThan(0.5);
  });
});
