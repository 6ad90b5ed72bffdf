// Activation checkpointing and the memory plan on the CPU backend: for a few small shapes, the measured peak
// of live tensor bytes over a short SFT run (CpuBackend.memoryStats) against the plan's estimate
// (train/memory_plan.ts), with and without checkpointing, and the step time each costs.
// Run: npx tsx bench/memory_cpu.ts [--steps N]      (CPU only: GPU peaks and long contexts are not measured here)
import { CpuBackend } from '../src/backends/cpu/index.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { initModel } from '../src/nn/load.ts';
import { LORA_TARGETS, createLora } from '../src/nn/lora.ts';
import { setBackend } from '../src/tensor/context.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { estimateTrainMemory, type PlanMode } from '../src/train/memory_plan.ts';
import { train } from '../src/train/trainer.ts';

interface Shape { d: number; f: number; layers: number; vocab: number; heads: number; kvHeads: number; seqLen: number; microBatch: number }

const SHAPES: Shape[] = [
  { d: 32, f: 64, layers: 2, vocab: 32, heads: 4, kvHeads: 2, seqLen: 64, microBatch: 2 },
  { d: 64, f: 176, layers: 4, vocab: 512, heads: 4, kvHeads: 2, seqLen: 128, microBatch: 1 },
  { d: 48, f: 128, layers: 6, vocab: 1000, heads: 6, kvHeads: 2, seqLen: 96, microBatch: 3 },
  { d: 64, f: 176, layers: 8, vocab: 256, heads: 4, kvHeads: 2, seqLen: 512, microBatch: 1 },
  // More tokens than the head's 1024-row chunk, and a vocabulary 64× the hidden size (as Qwen's 152k is 100×).
  { d: 32, f: 64, layers: 2, vocab: 4096, heads: 4, kvHeads: 2, seqLen: 2048, microBatch: 1 },
];

const stepsArg = process.argv.indexOf('--steps');
const steps = stepsArg > 0 ? Number(process.argv[stepsArg + 1]) : 3;

function config(s: Shape): ModelConfig {
  return {
    modelType: 'qwen2', vocabSize: s.vocab, hiddenSize: s.d, intermediateSize: s.f, numLayers: s.layers, numHeads: s.heads,
    numKvHeads: s.kvHeads, headDim: s.d / s.heads, ropeTheta: 1e4, rmsNormEps: 1e-6, tieWordEmbeddings: false, attentionBias: true,
    mlpBias: false, maxPositionEmbeddings: 4096, bosTokenId: null, eosTokenIds: [], padTokenId: null,
  };
}

/** Peak live bytes over `steps` optimizer steps (the model's weights included) and the mean step time. */
async function measure(s: Shape, mode: PlanMode, checkpointing: boolean): Promise<{ peak: number; ms: number }> {
  const backend = new CpuBackend();
  setBackend(backend);
  const cfg = config(s);
  const rng = new TrainRng(1);
  const model = initModel(cfg, () => rng.next() - 0.5);
  if (mode.kind === 'lora') model.adapter = createLora(cfg, { r: mode.r, alpha: 2 * mode.r, dropout: mode.dropout ?? 0, targets: [...LORA_TARGETS] }, () => rng.next());
  const rows = Array.from({ length: steps * s.microBatch }, (_, k) => {
    const ids = Array.from({ length: s.seqLen }, () => Math.floor(rng.next() * s.vocab));
    return { inputIds: ids, labels: ids, source: `row:${k}` };
  });
  backend.resetPeakMemoryStats();
  const times: number[] = [];
  await train(model, { train: rows }, { steps, lr: 1e-3, batchSize: s.microBatch, shuffle: false, rowTokens: s.seqLen, gradientCheckpointing: checkpointing }, {
    onStep: (st) => times.push(st.tokens / st.tokens_per_s),
  });
  // The first step warms the JIT and the GEMM pool; time the rest.
  const timed = times.length > 1 ? times.slice(1) : times;
  return { peak: backend.memoryStats().peakInUse, ms: (1000 * timed.reduce((a, b) => a + b, 0)) / timed.length };
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(3);
console.log('shape | mode | checkpointing | measured peak MB | estimate MB | estimate/measured | ms/step');
for (const s of SHAPES) {
  for (const mode of [{ kind: 'lora', r: 8, dropout: 0.05 }, { kind: 'full' }] as PlanMode[]) {
    for (const checkpointing of [false, true]) {
      const { peak, ms } = await measure(s, mode, checkpointing);
      const est = estimateTrainMemory({
        config: config(s), mode, dtype: 'f32', objective: 'sft', seqLen: s.seqLen, microBatch: s.microBatch, gradAccum: 1, budget: Infinity,
      }, s.microBatch, checkpointing);
      const shape = `D${s.d} F${s.f} L${s.layers} V${s.vocab} ${s.microBatch}×${s.seqLen}`;
      console.log(`${shape} | ${mode.kind} | ${checkpointing ? 'on' : 'off'} | ${mb(peak)} | ${mb(est.total)} | ${(est.total / peak).toFixed(3)} | ${ms.toFixed(0)}`);
    }
  }
}
