// Activation checkpointing (tensor/checkpoint.ts, DecoderModel.gradientCheckpointing): the gradients of a
// step equal the plain tape's (f64 tightly, f32 within rounding) for full fine-tuning and LoRA, with LoRA
// dropout replayed on recompute; and on the CPU backend's live-byte counter, a step keeps one layer's
// activations plus every layer's input instead of every layer's activations.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { initModel } from '../src/nn/load.ts';
import { LoraAdapter, LORA_TARGETS, adaptedModules, createLora } from '../src/nn/lora.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import type { DType } from '../src/tensor/dtype.ts';
import { getBackend, setBackend } from '../src/tensor/context.ts';
import { checkpoint } from '../src/tensor/checkpoint.ts';
import { linearCrossEntropy } from '../src/tensor/linear_cross_entropy.ts';
import { crossEntropy } from '../src/tensor/nn_ops.ts';
import { backward } from '../src/tensor/autograd.ts';
import { ids, linear, mul, sum, tensor } from '../src/tensor/ops.ts';
import { keep, tidy } from '../src/tensor/scope.ts';
import { TrainRng, signedStream } from '../src/tensor/rng.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { packExamples } from '../src/train/pack.ts';
import { clearGrads, trainableParams } from '../src/train/params.ts';
import { lossAndBackward, lossSum } from '../src/train/step.ts';
import { HEADROOM, MemoryPlanError, estimateTrainMemory } from '../src/train/memory_plan.ts';
import { runSft, type SftOptions } from '../src/train/sft_run.ts';
import { train } from '../src/train/trainer.ts';
import { CudaBackend } from '../src/backends/cuda/index.ts';
import { registerDpo } from '../src/cli/dpo.ts';
import { loadPeftAdapter } from '../src/io/peft.ts';
import { loadModel } from '../src/nn/load.ts';
import { memoryBudget } from '../src/train/memory_budget.ts';
import { emulatorAvailable, emulatorEnv } from './emu_helpers.ts';
import { parseHfExperimentConfig } from '../src/loop/hf/config.ts';
import { runCli } from './cli_helpers.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';
import { randomExamples, runStill, toyConfig } from './train_helpers.ts';

const normal = (rng: TrainRng) => () => {
  const u = Math.max(rng.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
};

/** A model in `dtype` whose weights are random (norms too, so their gradients are not trivial). */
function model(cfg: ModelConfig, dtype: DType, seed = 1): DecoderModel {
  const m = initModel(cfg, normal(new TrainRng(seed)), dtype);
  const r = signedStream(seed + 100);
  for (const [name, w] of m.weights) {
    if (!name.endsWith('norm.weight')) continue;
    const v = Float64Array.from({ length: w.size }, () => 1 + 0.3 * r());
    tidy(() => w.backend.copyInto(w, tensor(v, w.shape, dtype)));
  }
  return m;
}

/** A LoRA adapter with random A and B (PEFT starts B at 0, which would make A's gradient 0) in `dtype`. */
function lora(m: DecoderModel, dtype: DType, dropout: number): LoraAdapter {
  const a = new LoraAdapter({ r: 3, alpha: 6, dropout, targets: [...LORA_TARGETS] });
  const r = signedStream(7);
  const rand = (shape: number[]) => keep(tensor(Float64Array.from({ length: shape[0] * shape[1] }, () => 0.3 * r()), shape, dtype));
  for (const { module, inF, outF } of adaptedModules(m.config, LORA_TARGETS)) a.pairs.set(module, { a: rand([3, inF]), b: rand([outF, 3]) });
  return a;
}

/** Every trainable tensor's gradient after one micro-batch (packed, so segments are exercised). */
function stepGrads(m: DecoderModel, checkpointed: boolean, streamSeed = 5): Float64Array[] {
  const trainable = m.adapter ? m.adapter.parameters() : m.parameters();
  for (const w of m.weights.values()) w.requiresGrad = !m.adapter;
  for (const t of trainable) t.requireGrad();
  if (m.adapter) m.adapter.useStream(new TrainRng(streamSeed));
  m.gradientCheckpointing = checkpointed;
  const batch = packExamples(randomExamples(5, m.config.vocabSize, 3, 14), 24);
  lossAndBackward(m, batch, batch.targetCount, () => 'test');
  return trainable.map((t) => {
    const g = Float64Array.from(t.grad!.toArray());
    t.grad!.dispose();
    t.grad = null;
    return g;
  });
}

/** Largest |a - b| over all gradients, relative to the largest |a|. */
function relDiff(a: Float64Array[], b: Float64Array[]): number {
  let diff = 0;
  let scale = 0;
  a.forEach((ga, i) => ga.forEach((v, j) => {
    diff = Math.max(diff, Math.abs(v - b[i][j]));
    scale = Math.max(scale, Math.abs(v));
  }));
  return diff / scale;
}

const cfg3 = { ...toyConfig(), numLayers: 3 };

describe('checkpoint(): one tape node that recomputes its block', () => {
  it('gives the gradients of the recorded block, to inputs and to the params it names', () => {
    tidy(() => {
      const w = keep(tensor([0.5, -2, 3], [3], 'f64')).requireGrad();
      const x = tensor([1, 2, 3], [3], 'f64').requireGrad();
      const block = (h: Tensor) => mul(mul(h, w), h); // w·h², so dh = 2wh and dw = h²
      backward(sum(checkpoint(block, [x], { params: [w] })));
      expect(Array.from(x.grad!.toArray())).toEqual([1, -8, 18]);
      expect(Array.from(w.grad!.toArray())).toEqual([1, 4, 9]);
      w.grad!.dispose();
    });
  });

  it('still trains the params when no input needs a gradient (LoRA on layer 0)', () => {
    tidy(() => {
      const w = keep(tensor([2, 3], [2], 'f64')).requireGrad();
      const x = tensor([5, 7], [2], 'f64');
      backward(sum(checkpoint((h) => mul(h, w), [x], { params: [w] })));
      expect(Array.from(w.grad!.toArray())).toEqual([5, 7]);
      w.grad!.dispose();
    });
  });
});

describe('linearCrossEntropy: the LM head and the loss a chunk of rows at a time', () => {
  const [N, D, V] = [37, 8, 500];
  const make = (dtype: DType, trainHead = true) => {
    const r = signedStream(21);
    const h = tensor(Float64Array.from({ length: N * D }, () => r()), [N, D], dtype).requireGrad();
    const w = tensor(Float64Array.from({ length: V * D }, () => r()), [V, D], dtype).requireGrad(trainHead);
    const t = ids(Array.from({ length: N }, (_, i) => (i % 7 === 3 ? -100 : Math.floor(((r() + 1) / 2) * V))));
    return { h, w, t };
  };
  const run = (dtype: DType, chunkRows: number | null, trainHead = true) => tidy(() => {
    const { h, w, t } = make(dtype, trainHead);
    const loss = chunkRows === null ? crossEntropy(linear(h, w), t, { normalizer: 30 }) : linearCrossEntropy(h, w, t, { normalizer: 30, chunkRows });
    const value = loss.item();
    backward(loss);
    return { value, gh: Float64Array.from(h.grad!.toArray()), gw: Float64Array.from(w.grad?.toArray() ?? []) };
  });

  it('equals linear() then crossEntropy() for any chunking (f64 to 1e-13, f32 to 1e-6)', () => {
    for (const dtype of ['f64', 'f32'] as const) {
      const whole = run(dtype, null);
      for (const chunkRows of [1, 5, 16, 37, 1024]) {
        const c = run(dtype, chunkRows);
        const tol = dtype === 'f64' ? 1e-13 : 1e-6;
        expect(Math.abs(c.value - whole.value) / Math.abs(whole.value)).toBeLessThan(tol);
        expect(relDiff([c.gh, c.gw], [whole.gh, whole.gw])).toBeLessThan(tol);
      }
    }
  });

  it('holds one chunk of logits at a time (CPU live bytes; a frozen head, as under LoRA)', () => {
    const cpu = new CpuBackend();
    const previous = getBackend();
    setBackend(cpu);
    try {
      const peak = (chunkRows: number | null) => {
        const before = cpu.memoryStats().inUse;
        cpu.resetPeakMemoryStats();
        run('f32', chunkRows, false);
        return cpu.memoryStats().peakInUse - before;
      };
      const logitsBytes = N * V * 4;
      // Whole, the logits and their gradient are alive together; in chunks of 5 rows, 5 rows of each.
      expect(peak(null) - peak(5)).toBeGreaterThan(2 * logitsBytes - 2 * 5 * V * 4 - 1024);
    } finally {
      setBackend(previous);
    }
  });
});

describe('gradient checkpointing: the gradients of the plain tape', () => {
  it('full fine-tuning, f64: equal to 1e-12', () => {
    const m = model(cfg3, 'f64');
    const plain = stepGrads(m, false);
    expect(relDiff(plain, stepGrads(m, true))).toBeLessThan(1e-12);
    expect(plain.length).toBe(m.weights.size);
  });

  it('full fine-tuning, f32: equal within f32 rounding (1e-5)', () => {
    const m = model(cfg3, 'f32');
    expect(relDiff(stepGrads(m, false), stepGrads(m, true))).toBeLessThan(1e-5);
  });

  it('LoRA with dropout, f64: the recompute draws the same masks (equal to 1e-12)', () => {
    const m = model(cfg3, 'f64');
    m.adapter = lora(m, 'f64', 0.3);
    m.adapter.training = true;
    const plain = stepGrads(m, false);
    expect(relDiff(plain, stepGrads(m, true))).toBeLessThan(1e-12);
    // The masks matter: another stream gives other gradients, so equality above is not an accident.
    expect(relDiff(plain, stepGrads(m, false, 6))).toBeGreaterThan(1e-3);
  });

  it('LoRA with dropout, f32: equal within f32 rounding (1e-5)', () => {
    const m = model(cfg3, 'f32');
    m.adapter = lora(m, 'f32', 0.1);
    m.adapter.training = true;
    expect(relDiff(stepGrads(m, false), stepGrads(m, true))).toBeLessThan(1e-5);
  });

  it('refuses LoRA dropout from a stream it cannot rewind', () => {
    const m = model(cfg3, 'f32');
    m.adapter = lora(m, 'f32', 0.1);
    m.adapter.training = true;
    for (const t of m.adapter.parameters()) t.requireGrad();
    m.gradientCheckpointing = true;
    const batch = packExamples(randomExamples(2, 24, 3), 24);
    expect(() => lossAndBackward(m, batch, batch.targetCount, () => 'test')).toThrow(/rewindable dropout stream/);
  });

  it('the trainer with gradientCheckpointing: the same losses, step for step', async () => {
    const run = async (gradientCheckpointing: boolean) => {
      const m = model(cfg3, 'f32');
      const r = await train(m, { train: randomExamples(8, 24, 4) }, { steps: 4, lr: 1e-2, batchSize: 2, gradAccum: 2, shuffle: false, gradientCheckpointing });
      expect(m.gradientCheckpointing).toBe(false); // the option holds for the run only
      return r.stats.map((s) => s.loss);
    };
    const [plain, recomputed] = [await run(false), await run(true)];
    plain.forEach((l, i) => expect(Math.abs(l - recomputed[i])).toBeLessThan(1e-5 * Math.abs(l)));
  });
});

describe('gradient checkpointing: activation memory (live tensor bytes on the CPU backend)', () => {
  const cpu = new CpuBackend();
  let previous: ReturnType<typeof getBackend>;
  beforeAll(() => {
    previous = getBackend();
    setBackend(cpu);
  });
  afterAll(() => setBackend(previous));

  const [rows, T, D] = [2, 32, 32];
  const inputBytes = rows * T * D * 4; // one layer's input, [B·T, D] f32
  /** Peak bytes a step holds beyond the weights and the gradients it leaves behind. */
  const activationPeak = (layers: number, mode: 'lora' | 'full', checkpointed: boolean): number => {
    const cfg: ModelConfig = { ...toyConfig(32), hiddenSize: D, intermediateSize: 64, numHeads: 4, numKvHeads: 2, numLayers: layers };
    const m = model(cfg, 'f32');
    if (mode === 'lora') m.adapter = createLora(cfg, { r: 2, alpha: 4, dropout: 0, targets: [...LORA_TARGETS] }, signedStream(3));
    const params = trainableParams(m);
    m.gradientCheckpointing = checkpointed;
    const rng = new TrainRng(9);
    const rowsOf = Array.from({ length: rows }, (_, k) => {
      const ids = Array.from({ length: T }, () => Math.floor(rng.next() * 32));
      return { inputIds: ids, labels: ids, source: `row:${k}` };
    });
    const batch = packExamples(rowsOf, T);
    const before = cpu.memoryStats().inUse;
    cpu.resetPeakMemoryStats();
    lossAndBackward(m, batch, batch.targetCount, () => 'memory');
    const { inUse, peakInUse } = cpu.memoryStats();
    clearGrads(params);
    return peakInUse - before - (inUse - before);
  };

  it('a forward without gradients (eval, DPO reference log-probs) keeps one layer at a time', () => {
    const peak = (layers: number) => {
      const cfg: ModelConfig = { ...toyConfig(32), hiddenSize: D, intermediateSize: 64, numHeads: 4, numKvHeads: 2, numLayers: layers };
      const m = model(cfg, 'f32');
      const batch = packExamples(randomExamples(rows, 32, 9, T), T);
      const before = cpu.memoryStats().inUse;
      cpu.resetPeakMemoryStats();
      lossSum(m, batch);
      return cpu.memoryStats().peakInUse - before;
    };
    // Each more layer leaves its output behind (the next one's input), and nothing else.
    const perLayer = (peak(6) - peak(2)) / 4;
    const tokens = packExamples(randomExamples(rows, 32, 9, T), T);
    expect(perLayer).toBeLessThanOrEqual(tokens.rows * tokens.cols * D * 4);
  });

  for (const mode of ['lora', 'full'] as const) {
    it(`${mode}: each more layer costs its input (B·T·D floats), not its activations`, () => {
      const perLayer = (checkpointed: boolean) => (activationPeak(6, mode, checkpointed) - activationPeak(2, mode, checkpointed)) / 4;
      const plain = perLayer(false);
      const recomputed = perLayer(true);
      expect(Math.abs(recomputed - inputBytes)).toBeLessThan(0.05 * inputBytes);
      expect(plain).toBeGreaterThan(10 * inputBytes);
      // What is left is one layer's working set (its recomputed activations and their backward), the head
      // and the loss: about one plain layer's, not six.
      const fixed = activationPeak(6, mode, true) - 6 * inputBytes;
      expect(fixed).toBeLessThan(2 * plain);
      expect(activationPeak(6, mode, true)).toBeLessThan(activationPeak(6, mode, false) / 2.5);
    });
  }
});

describe('still sft: --gradient-checkpointing and --max-memory', () => {
  const DIR = 'fixtures/tiny-qwen2';
  const tmp = mkdtempSync(join(tmpdir(), 'still-ckpt-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const rows = randomExamples(8, 512, 11, 40);
  const data = join(tmp, 'rows.jsonl');
  writeFileSync(data, rows.map((e) => JSON.stringify({ input_ids: e.inputIds, labels: e.labels })).join('\n') + '\n');
  const cfg = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));
  const seqLen = Math.max(...rows.map((e) => e.inputIds.length));
  const job = {
    config: { ...toyConfig(cfg.vocab_size), hiddenSize: cfg.hidden_size, intermediateSize: cfg.intermediate_size, numLayers: cfg.num_hidden_layers,
      numHeads: cfg.num_attention_heads, numKvHeads: cfg.num_key_value_heads, headDim: cfg.hidden_size / cfg.num_attention_heads,
      tieWordEmbeddings: cfg.tie_word_embeddings, attentionBias: true },
    mode: { kind: 'lora' as const, r: 16 }, dtype: 'f32' as const, objective: 'sft' as const, seqLen, microBatch: 4, gradAccum: 1, budget: Infinity,
  };
  /** A budget (GiB) in which the plan's estimate at this micro-batch just fits. */
  const justFits = (microBatch: number, checkpointing: boolean) => (estimateTrainMemory(job, microBatch, checkpointing).total / (1 - HEADROOM)) * 1.001 / 2 ** 30;
  const sft = async (name: string, extra: Partial<SftOptions>) => {
    const notes: string[] = [];
    const losses: number[] = [];
    const r = await runSft({ model: DIR, data, out: join(tmp, name), steps: 2, batchSize: 4, lr: 1e-3, shuffle: false, ...extra }, undefined, {
      note: (l) => notes.push(l), onStep: (s) => losses.push(s.loss),
    });
    return { r, notes, losses };
  };

  it('a budget that only fits a smaller micro-batch: planned, the optimizer batch kept, the same losses', async () => {
    const plain = await sft('asked', {});
    const budget = justFits(1, false);
    expect(estimateTrainMemory(job, 2, true).total).toBeGreaterThan(budget * 2 ** 30 * (1 - HEADROOM)); // checkpointing cannot keep 2
    const planned = await sft('planned', { maxMemory: budget });
    expect(planned.notes.join('\n')).toMatch(/memory \(--max-memory, .*\), planned: micro-batch 1 × 4 accumulated: about/);
    planned.losses.forEach((l, i) => expect(Math.abs(l - plain.losses[i])).toBeLessThan(1e-5 * plain.losses[i]));
  });

  it('a resume keeps the micro-batch the plan gave the checkpoint, and ends where the whole run ends', async () => {
    const budget = justFits(1, false);
    const whole = await sft('whole', { maxMemory: budget, steps: 3 });
    const first = await sft('split', { maxMemory: budget, steps: 3, stopAfter: 1 });
    expect(first.r.status).toBe('stopped');
    // Resumed without --max-memory: the CPU's default is no limit, which alone would run 4 × 1.
    const rest = await sft('split', { steps: 3, resume: true });
    expect(rest.r.status).toBe('done');
    expect([...first.losses, ...rest.losses]).toEqual(whole.losses);
    const adapter = (name: string) => readFileSync(join(tmp, name, 'adapter_model.safetensors'));
    expect(adapter('split').equals(adapter('whole'))).toBe(true);
  });

  it('a budget that fails before the first step, saying what would fit', async () => {
    const tooSmall = justFits(1, true) * 0.9;
    await expect(sft('refused', { maxMemory: tooSmall })).rejects.toThrow(MemoryPlanError);
    await expect(sft('refused2', { maxMemory: tooSmall })).rejects.toThrow(/^sft: does not fit in .* Sequences of up to \d+ tokens would fit/);
    expect(existsSync(join(tmp, 'refused', 'checkpoints', 'latest.json'))).toBe(false);
  });

  it('the flags reach the run: --gradient-checkpointing --max-memory', async () => {
    const out = join(tmp, 'cli');
    const { stdout, stderr } = await runStill(['sft', '--model', DIR, '--data', data, '--out', out, '--steps', '2', '--batch-size', '4',
      '--gradient-checkpointing', '--max-memory', String(justFits(4, true) * 1.5)]);
    expect(stderr).toMatch(/memory \(--max-memory, .*\): micro-batch 4 × 1 accumulated, gradient checkpointing: about/);
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!).status).toBe('done');
  });
});

describe('still dpo: --gradient-checkpointing and --max-memory', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'still-ckpt-dpo-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const modelDir = tinyEvalModelDir(256);
  const pairs = join(tmp, 'pairs.jsonl');
  writeFileSync(pairs, Array.from({ length: 6 }, (_, i) => JSON.stringify({
    prompt: `Add ${i} and ${i + 1}.`, chosen: `<|begin_of_thought|>${i}+${i + 1}<|end_of_thought|> ${2 * i + 1}`, rejected: `no idea ${i}`,
  })).join('\n') + '\n');
  const dpo = (out: string, extra: string[]) => runCli([registerDpo], ['--backend', 'cpu', 'dpo', '--model', modelDir, '--data', pairs,
    '--out', join(tmp, out), '--lora-r', '4', '--lora-dropout', '0.2', '--steps', '3', '--lr', '0.02', '--batch-size', '2', '--log', join(tmp, `${out}.jsonl`), ...extra]);
  const log = (out: string) => readFileSync(join(tmp, `${out}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

  it('with LoRA dropout, checkpointing gives the plain run\'s losses and rewards', async () => {
    await dpo('plain', []);
    const { stderr } = await dpo('recomputed', ['--gradient-checkpointing', '--max-memory', '1']);
    expect(stderr).toMatch(/memory \(--max-memory, 1\.00 GiB\): micro-batch 2 × 1 accumulated, gradient checkpointing/);
    const [a, b] = [log('plain'), log('recomputed')];
    expect(b).toHaveLength(3);
    a.forEach((line, i) => {
      for (const k of ['loss', 'rewards/margins', 'grad_norm']) expect(Math.abs(line[k] - b[i][k]), `${k} at step ${i + 1}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(line[k])));
    });
    expect(a[2].loss).not.toBe(a[0].loss); // it trained: equal logs are not three copies of ln 2
  });

  it('a budget below the weights fails before the reference pass', async () => {
    await expect(dpo('refused', ['--max-memory', '0.0001'])).rejects.toThrow(/^dpo: does not fit in 104\.9 KiB .* The weights alone need/);
    expect(existsSync(join(tmp, 'refused', 'reference_logps.json'))).toBe(false);
  });
});

describe('HF run configs: train blocks take gradientCheckpointing and maxMemory', () => {
  const parse = (imitate: object, improve: object = {}) =>
    parseHfExperimentConfig({ model: 'base', imitate: { data: 'd.jsonl', ...imitate }, explore: { data: 'p.jsonl' }, improve }, '/runs/exp.json');

  it('reads them, improve inherits imitate\'s, and absent leaves the plan to decide', () => {
    const c = parse({ gradientCheckpointing: true, maxMemory: 22.5 });
    expect([c.imitate.gradientCheckpointing, c.imitate.maxMemory]).toEqual([true, 22.5]);
    expect([c.improve.gradientCheckpointing, c.improve.maxMemory]).toEqual([true, 22.5]);
    expect(parse({ gradientCheckpointing: true }, { gradientCheckpointing: false }).improve.gradientCheckpointing).toBe(false);
    const none = parse({});
    expect([none.imitate.gradientCheckpointing, none.imitate.maxMemory]).toEqual([undefined, undefined]);
  });

  it('names the field of a bad value', () => {
    expect(() => parse({ gradientCheckpointing: 'yes' })).toThrow("/runs/exp.json: field 'imitate.gradientCheckpointing' must be true or false, got \"yes\"");
    expect(() => parse({ maxMemory: 0 })).toThrow("/runs/exp.json: field 'imitate.maxMemory' must be a number > 0, got 0");
  });
});

describe.skipIf(!emulatorAvailable())('on the CUDA backend (emulated), bf16 weights', () => {
  let previous: ReturnType<typeof getBackend>;
  let cuda: CudaBackend;
  beforeAll(() => {
    previous = getBackend();
    cuda = new CudaBackend(emulatorEnv());
    setBackend(cuda);
  }, 300_000);
  afterAll(() => setBackend(previous));

  it('checkpointing: the same losses, a lower peak, and the plan\'s estimate within -5%..+15% of the allocator\'s', async () => {
    const rows = randomExamples(4, 512, 3, 64);
    const run = async (gradientCheckpointing: boolean) => {
      const m = loadModel('fixtures/tiny-qwen2', { quiet: true, dtype: 'bf16' });
      m.adapter = loadPeftAdapter('fixtures/tiny-qwen2/lora', m.config);
      const before = cuda.memoryStats().inUse;
      cuda.resetPeakMemoryStats();
      const r = await train(m, { train: rows }, { steps: 2, lr: 1e-3, batchSize: 2, shuffle: false, gradientCheckpointing });
      const est = estimateTrainMemory({
        config: m.config, mode: { kind: 'lora', r: m.adapter.config.r, targets: m.adapter.config.targets }, dtype: 'bf16', objective: 'sft',
        seqLen: Math.max(...rows.map((e) => e.inputIds.length)), microBatch: 2, gradAccum: 1, budget: Infinity,
      }, 2, gradientCheckpointing);
      m.adapter.dispose();
      for (const w of m.weights.values()) w.dispose();
      // The weights were loaded before `before`; what the step adds is the rest of the estimate.
      return { losses: r.stats.map((st) => st.loss), peak: cuda.memoryStats().peakInUse - before, estimate: est.total - est.weights };
    };
    const plain = await run(false);
    const recomputed = await run(true);
    expect(recomputed.losses).toEqual(plain.losses); // the same kernels on the same bf16 inputs: bit for bit
    expect(recomputed.peak).toBeLessThan(0.8 * plain.peak);
    for (const r of [plain, recomputed]) {
      expect(r.estimate / r.peak).toBeGreaterThan(0.95);
      expect(r.estimate / r.peak).toBeLessThan(1.15);
    }
  }, 120_000);

  it('the chunked head in bf16: a trained head\'s gradient summed over chunks in f32, near the f32 reference', () => {
    const [N, D, V] = [40, 16, 96];
    const r = signedStream(33);
    const hData = Float64Array.from({ length: N * D }, () => r());
    const wData = Float64Array.from({ length: V * D }, () => 0.5 * r());
    const tData = Array.from({ length: N }, (_, i) => (i * 7) % V);
    const grads = (dtype: DType, chunkRows: number) => tidy(() => {
      const h = tensor(hData, [N, D], dtype).requireGrad();
      const w = tensor(wData, [V, D], dtype).requireGrad();
      backward(linearCrossEntropy(h, w, ids(tData), { chunkRows }));
      expect(w.grad!.dtype).toBe(dtype);
      return [Float64Array.from(h.grad!.toArray()), Float64Array.from(w.grad!.toArray())];
    });
    const reference = (() => {
      setBackend(previous);
      try {
        return grads('f32', N);
      } finally {
        setBackend(cuda);
      }
    })();
    const chunked = grads('bf16', 7);
    const whole = grads('bf16', N);
    // bf16 inputs and outputs: ~3 significant digits either way. Summed in f32 the 6 chunks add little
    // error of their own (measured 1.3× the unchunked head's; summed in bf16, 1.7×).
    expect(relDiff(chunked, reference)).toBeLessThan(2e-2);
    expect(relDiff(chunked, reference)).toBeLessThan(1.5 * relDiff(whole, reference));
  });

  it('the default budget is the device\'s free memory (cuMemGetInfo) plus what the process holds, as a limit', () => {
    const stats = cuda.memoryStats();
    const budget = memoryBudget(cuda);
    expect(budget).toEqual({ bytes: stats.deviceFree + stats.reserved, limit: true, source: 'free on the device' });
    expect(budget.bytes).toBeLessThanOrEqual(stats.deviceTotal);
    expect(budget.bytes).toBeGreaterThan(0.5 * stats.deviceTotal);
  });
});
