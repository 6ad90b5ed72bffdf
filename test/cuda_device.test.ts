// The CUDA backend on a real GPU: every kernel against the CPU reference at realistic sizes, and the
// tiny-qwen2 checks against HF/PEFT. Skips (reported as skipped) on machines without a CUDA device;
// bench/gpu.ts runs the same checks plus the benchmarks in one call on the GPU machine.
import { describe, expect, it } from 'vitest';
import { CudaBackend } from '../src/backends/cuda/index.ts';
import { runChecks } from '../src/backends/cuda/selfcheck.ts';
import { tinyGreedyMatches, tinyLogitsError, tinyLoraGradError, tinyTrainingMemory } from '../bench/gpu_model.ts';

function openDevice(): CudaBackend | null {
  try {
    const b = new CudaBackend();
    return b.drv.info.name.startsWith('Emulated') ? null : b; // the emulator has its own test file
  } catch {
    return null;
  }
}

const cuda = openDevice();

describe.skipIf(!cuda)('cuda backend on a GPU', () => {
  it('matches the CPU reference on every kernel (large sizes)', async () => {
    const results = await runChecks(cuda!, 'large');
    const failed = results.filter((r) => !r.pass).map((r) => `${r.name}: err ${r.maxErr} > ${r.tol}${r.error ? ` (${r.error})` : ''}`);
    expect(failed).toEqual([]);
  }, 300_000);

  it('runs tiny-qwen2 like HF and PEFT, with flat memory across LoRA steps', () => {
    expect(tinyLogitsError(cuda!, 'f32')).toBeLessThan(1e-4);
    expect(tinyGreedyMatches(cuda!)).toBe(true);
    const g = tinyLoraGradError(cuda!);
    expect(g.loss).toBeLessThan(1e-5);
    expect(g.grads).toBeLessThan(1e-4);
    const m = tinyTrainingMemory(cuda!, 5);
    expect(new Set(m.deviceAllocs.slice(1)).size).toBe(1);
  }, 120_000);

  it('ran every GEMM above on cuBLASLt (a failed call would have moved them to the slower kernel)', () => {
    expect(cuda!.blasError).toBeNull();
    expect(cuda!.device).toContain('cuBLASLt');
  });
});
