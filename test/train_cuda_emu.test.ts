// The trainer on the CUDA backend (run on the CPU emulator of kernels/cuda/emu): nothing in train/ may
// assume the CPU. PEFT's 5 AdamW steps in f32, and bf16 base weights with f32 LoRA masters.
// Skips (reported as skipped) where g++ or CUDA's cuda.h header is missing, like test/cuda_emu.test.ts.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/backends/backend.ts';
import { CudaBackend } from '../src/backends/cuda/index.ts';
import { loadPeftAdapter } from '../src/io/peft.ts';
import { loadModel } from '../src/nn/load.ts';
import { getBackend, setBackend } from '../src/tensor/context.ts';
import { train } from '../src/train/trainer.ts';
import { emulatorAvailable, emulatorEnv } from './emu_helpers.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));
const rows = (ref.input_ids as number[][]).map((ids, i) => ({ inputIds: ids, labels: ref.lora.labels[i] as number[], source: `ref:${i + 1}` }));

describe.skipIf(!emulatorAvailable())('SFT on the CUDA backend (emulated)', () => {
  let previous: Backend;
  beforeAll(() => {
    previous = getBackend();
    setBackend(new CudaBackend(emulatorEnv()));
  }, 300_000);
  afterAll(() => setBackend(previous));

  const run = async (dtype: 'f32' | 'bf16', steps: number) => {
    const model = loadModel(DIR, { quiet: true, dtype });
    model.adapter = loadPeftAdapter(`${DIR}/lora`, model.config);
    const r = await train(model, { train: rows }, { steps, lr: 1e-2, batchSize: 2, shuffle: false, schedule: 'constant' });
    return r.stats.map((s, i) => Math.abs(s.loss - ref.lora.adamw_losses[i]));
  };

  it('f32 weights: the 5 AdamW steps match PEFT within 2e-4', async () => {
    expect(Math.max(...(await run('f32', 5)))).toBeLessThan(2e-4);
  }, 120_000);

  it('bf16 weights with f32 LoRA masters: within bf16 error of the fp32 reference', async () => {
    const errs = await run('bf16', 3);
    expect(Math.max(...errs)).toBeLessThan(2e-2);
  }, 120_000);
});
