// A run's numbers must not depend on how many threads the CPU backend uses: every kernel computes each output
// element in one task, in a fixed order, and per-task partial sums (RMSNorm's weight gradient) come from fixed
// row blocks. Checked on whole training steps of a small model, with every kernel forced to split.
import { describe, expect, it, onTestFinished } from 'vitest';
import { gemmThreads, setGemmParallelMinFlops, setGemmThreads, warmGemmThreads } from '../src/backends/cpu/gemm_wasm.ts';
import type { Example } from '../src/data/example.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { initModel } from '../src/nn/load.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { train } from '../src/train/trainer.ts';

const VOCAB = 40;
const config: ModelConfig = {
  modelType: 'llama', vocabSize: VOCAB, hiddenSize: 64, intermediateSize: 192, numLayers: 2, numHeads: 2, numKvHeads: 2,
  headDim: 32, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: false, mlpBias: false,
  maxPositionEmbeddings: 512, bosTokenId: null, eosTokenIds: [], padTokenId: null,
};

/** Weights after three AdamW steps on fixed data, with the backend capped at `threads`. */
async function weightsAfterSteps(threads: number): Promise<Float32Array[]> {
  setGemmThreads(threads);
  if (threads > 1) expect(warmGemmThreads()).toBe(threads);
  const rng = new TrainRng(7);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()) * 0.05;
  const model = initModel(config, normal);
  // Rows of different lengths, packed: segments, padding and many rows to split.
  const data: Example[] = Array.from({ length: 24 }, (_, k) => {
    const ids = Array.from({ length: 60 + ((k * 37) % 150) }, () => Math.floor(rng.next() * VOCAB));
    return { inputIds: ids, labels: ids.map((id, i) => (i < 10 ? -100 : id)), source: `r${k}` };
  });
  await train(model, { train: data }, { steps: 3, lr: 1e-3, batchSize: 8, shuffle: false });
  return [...model.weights.values()].map((w) => Float32Array.from(w.backend.download(w) as Float32Array));
}

describe('CPU backend thread count', () => {
  it('gives bit-identical weights after training steps on one thread and on two', async () => {
    const saved = gemmThreads();
    const savedMin = setGemmParallelMinFlops(0);
    onTestFinished(() => {
      setGemmThreads(saved);
      setGemmParallelMinFlops(savedMin);
    });
    const one = await weightsAfterSteps(1);
    const two = await weightsAfterSteps(2);
    expect(two.length).toBe(one.length);
    for (let i = 0; i < one.length; i++) expect(Buffer.from(two[i].buffer).equals(Buffer.from(one[i].buffer)), `weight ${i}`).toBe(true);
  });
});
