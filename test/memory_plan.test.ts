// The memory plan (train/memory_plan.ts): its estimate against the CPU backend's measured peak of live
// tensor bytes, and its decisions — micro-batch, accumulation, checkpointing, KV-cache slots — and the
// message of a job that cannot fit, on real model shapes (Qwen2.5) and budgets (a 24 GiB card).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerGenerate } from '../src/cli/generate.ts';
import { loadHfConfig } from '../src/io/hf_config.ts';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { initModel } from '../src/nn/load.ts';
import { LORA_TARGETS, createLora } from '../src/nn/lora.ts';
import { getBackend, setBackend } from '../src/tensor/context.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import {
  HEADROOM, MemoryPlanError, estimateTrainMemory, parameterCount, planKvSlots, planTraining, type PlanMode, type TrainMemoryRequest,
} from '../src/train/memory_plan.ts';
import { train } from '../src/train/trainer.ts';
import { runCli } from './cli_helpers.ts';

const GiB = 2 ** 30;
const base = {
  modelType: 'qwen2' as const, ropeTheta: 1e6, rmsNormEps: 1e-6, attentionBias: true, mlpBias: false, maxPositionEmbeddings: 32768,
  bosTokenId: null, eosTokenIds: [] as number[], padTokenId: null,
};
const QWEN_1_5B: ModelConfig = { ...base, vocabSize: 151936, hiddenSize: 1536, intermediateSize: 8960, numLayers: 28, numHeads: 12, numKvHeads: 2, headDim: 128, tieWordEmbeddings: true };
const QWEN_7B: ModelConfig = { ...base, vocabSize: 152064, hiddenSize: 3584, intermediateSize: 18944, numLayers: 28, numHeads: 28, numKvHeads: 4, headDim: 128, tieWordEmbeddings: false };

const request = (over: Partial<TrainMemoryRequest>): TrainMemoryRequest => ({
  config: QWEN_1_5B, mode: { kind: 'lora', r: 16 }, dtype: 'bf16', objective: 'sft', seqLen: 4096, microBatch: 4, gradAccum: 4,
  budget: 80 * GiB, ...over,
});

describe('estimate against the CPU backend\'s measured peak', () => {
  let previous: ReturnType<typeof getBackend>;
  beforeAll(() => {
    previous = getBackend();
  });
  afterAll(() => setBackend(previous));

  const tiny: ModelConfig = { ...base, vocabSize: 300, hiddenSize: 48, intermediateSize: 128, numLayers: 4, numHeads: 6, numKvHeads: 2, headDim: 8, tieWordEmbeddings: false };
  const cases: [PlanMode, boolean][] = [
    [{ kind: 'lora', r: 4, dropout: 0.1 }, false], [{ kind: 'lora', r: 4, dropout: 0.1 }, true], [{ kind: 'full' }, false], [{ kind: 'full' }, true],
  ];
  for (const [mode, checkpointing] of cases) {
    it(`${mode.kind}, checkpointing ${checkpointing ? 'on' : 'off'}: within -5%..+15% of two real steps' peak`, async () => {
      const backend = new CpuBackend();
      setBackend(backend);
      const rng = new TrainRng(1);
      const model = initModel(tiny, () => rng.next() - 0.5);
      if (mode.kind === 'lora') model.adapter = createLora(tiny, { r: 4, alpha: 8, dropout: 0.1, targets: [...LORA_TARGETS] }, () => rng.next());
      const [seqLen, microBatch] = [64, 2];
      const rows = Array.from({ length: 2 * microBatch }, (_, k) => {
        const ids = Array.from({ length: seqLen }, () => Math.floor(rng.next() * tiny.vocabSize));
        return { inputIds: ids, labels: ids, source: `row:${k}` };
      });
      await train(model, { train: rows }, { steps: 2, lr: 1e-3, batchSize: microBatch, shuffle: false, gradientCheckpointing: checkpointing });
      const measured = backend.memoryStats().peakInUse;
      const est = estimateTrainMemory(request({ config: tiny, mode, dtype: 'f32', seqLen, microBatch, gradAccum: 1 }), microBatch, checkpointing);
      expect(est.total / measured).toBeGreaterThan(0.95);
      expect(est.total / measured).toBeLessThan(1.15);
    });
  }
});

describe('planTraining', () => {
  it('counts Qwen2.5 parameters as the model cards do (1.54B, 7.62B)', () => {
    expect(parameterCount(QWEN_1_5B) / 1e9).toBeCloseTo(1.54, 2);
    expect(parameterCount(QWEN_7B) / 1e9).toBeCloseTo(7.62, 2);
  });

  it('keeps what was asked when it fits (an H200\'s 140 GiB)', () => {
    const p = planTraining(request({ budget: 140 * GiB }));
    expect([p.microBatch, p.gradAccum, p.gradientCheckpointing]).toEqual([4, 4, false]);
    expect(p.estimate.total).toBeLessThanOrEqual(140 * GiB * (1 - HEADROOM));
  });

  it('lowers the micro-batch and raises accumulation to keep the optimizer batch', () => {
    const p = planTraining(request({ budget: 40 * GiB }));
    expect(p.microBatch).toBeLessThan(4);
    expect(p.microBatch * p.gradAccum).toBe(16);
    expect(p.gradientCheckpointing).toBe(false); // a micro-batch of ≥ 4096 tokens without recompute
    expect(estimateTrainMemory(request({}), p.microBatch * 2, false).total).toBeGreaterThan(40 * GiB * (1 - HEADROOM));
  });

  it('LoRA r16 on the 1.5B shape at 16k tokens in 24 GiB: only with gradient checkpointing', () => {
    const p = planTraining(request({ seqLen: 16384, microBatch: 1, gradAccum: 8, budget: 24 * GiB }));
    expect([p.microBatch, p.gradAccum, p.gradientCheckpointing]).toEqual([1, 8, true]);
    expect(estimateTrainMemory(request({ seqLen: 16384 }), 1, false).total).toBeGreaterThan(24 * GiB);
  });

  it('a pinned --gradient-checkpointing is kept even where the plain tape would fit', () => {
    expect(planTraining(request({ gradientCheckpointing: true })).gradientCheckpointing).toBe(true);
  });

  it('fails before training, naming checkpointing when it is pinned off and would fit', () => {
    const r = request({ seqLen: 16384, microBatch: 1, gradAccum: 8, budget: 24 * GiB, gradientCheckpointing: false });
    expect(() => planTraining(r)).toThrow(MemoryPlanError);
    expect(() => planTraining(r)).toThrow(/Would fit: gradient checkpointing \(--gradient-checkpointing\)/);
  });

  it('says which sequence length would fit, and that length does fit (one more token does not)', () => {
    const r = request({ config: QWEN_7B, seqLen: 16384, microBatch: 1, gradAccum: 1, budget: 24 * GiB });
    const message = (() => {
      try {
        planTraining(r);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toMatch(/^sft: does not fit in 24\.0 GiB/);
    const maxLen = Number(/Sequences of up to (\d+) tokens would fit/.exec(message)![1]);
    expect(maxLen).toBeGreaterThan(1000);
    expect(planTraining({ ...r, seqLen: maxLen }).gradientCheckpointing).toBe(true);
    expect(() => planTraining({ ...r, seqLen: maxLen + 1 })).toThrow(MemoryPlanError);
  });

  it('DPO\'s logits of a 152k vocabulary at 16k tokens are most of it, and the message says so', () => {
    const r = request({ objective: 'dpo', seqLen: 16384, microBatch: 1, gradAccum: 1, budget: 24 * GiB });
    expect(() => planTraining(r)).toThrow(/^dpo: does not fit .* are the logits and their gradient \(\[tokens, 151936\]\)/);
  });

  it('suggests LoRA when full fine-tuning cannot fit', () => {
    expect(() => planTraining(request({ mode: { kind: 'full' }, budget: 24 * GiB })))
      .toThrow(/full fine-tuning's gradients and AdamW state alone need .* Would fit: LoRA r=16 instead of full fine-tuning/);
  });

  it('DPO runs chosen and rejected and keeps their logits: n pairs cost more than 2n SFT rows by those logits', () => {
    const dpo = estimateTrainMemory(request({ objective: 'dpo' }), 2, true);
    const sft = estimateTrainMemory(request({}), 4, true);
    const logits = 4 * 4096 * QWEN_1_5B.vocabSize * 2; // 4 rows of 4096 tokens, bf16
    expect(dpo.activations - sft.activations).toBeGreaterThan(logits);
    expect(dpo.logits).toBeGreaterThanOrEqual(logits);
  });

  it('refuses impossible requests with the field named', () => {
    expect(() => planTraining(request({ seqLen: 0 }))).toThrow(/seqLen must be a positive integer, got 0/);
    expect(() => planTraining(request({ budget: -1 }))).toThrow(/budget must be a positive number of bytes/);
  });
});

describe('planKvSlots', () => {
  it('gives the slots that fit beside the weights, at most maxBatch', () => {
    const perSlot = 2 * 28 * 2 * 128 * 16384 * 2; // layers × kv heads × head dim × positions × bf16, k and v
    const p = planKvSlots({ config: QWEN_1_5B, dtype: 'bf16', maxLen: 16384, maxBatch: 64, budget: 24 * GiB });
    expect(p.perSlot).toBe(perSlot);
    expect(p.slots).toBeGreaterThan(1);
    expect(p.slots).toBeLessThan(64);
    expect(p.slots * perSlot).toBeLessThanOrEqual(24 * GiB * (1 - HEADROOM) - parameterCount(QWEN_1_5B) * 2);
    expect(planKvSlots({ config: QWEN_1_5B, dtype: 'bf16', maxLen: 16384, maxBatch: 4, budget: 80 * GiB }).slots).toBe(4);
  });

  it('fails when not one slot fits, naming the sizes', () => {
    expect(() => planKvSlots({ config: QWEN_7B, dtype: 'bf16', maxLen: 32768, maxBatch: 8, budget: 16 * GiB }))
      .toThrow(/sampling: 16\.0 GiB holds the weights \(14\.2 GiB\) but no KV-cache slot of 32768 positions/);
  });
});

describe('still generate --max-memory', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'still-kv-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const DIR = 'fixtures/tiny-qwen2';
  const prompts = join(tmp, 'prompts.json');
  writeFileSync(prompts, JSON.stringify(Array.from({ length: 6 }, (_, i) => [1 + i, 2 + i, 3 + i])));
  const generate = (extra: string[]) => runCli([registerGenerate], ['generate', '--model', DIR, '--tokens', prompts, '--max-new-tokens', '8', '--max-batch', '6', ...extra]);

  it('decodes as many slots as fit beside the weights, with the same tokens', async () => {
    const config = loadHfConfig(DIR);
    // A budget in which the weights and a forward leave room for two and a half slots of 3 + 8 positions.
    const { perSlot, reserved } = planKvSlots({ config, dtype: 'f32', maxLen: 11, maxBatch: 6, budget: 2 ** 40 });
    const budgetGiB = (reserved + 2.5 * perSlot) / (1 - HEADROOM) / 2 ** 30;
    const plain = await generate([]);
    const planned = await generate(['--max-memory', String(budgetGiB)]);
    expect(planned.stderr).toMatch(/the KV budget fits 2 slots of 11 positions; decoding 2 at a time \(asked for 6\)/);
    expect(JSON.parse(planned.stdout)).toEqual(JSON.parse(plain.stdout));
    await expect(generate(['--max-memory', String(budgetGiB / 100)])).rejects.toThrow(/^sampling: .* holds the weights .* but no KV-cache slot of 11 positions/);
  });
});
