// Writes fixtures/tiny-llama/: a random Llama checkpoint made with our own writer (untied, no biases,
// rope θ 1e4, eps 1e-5, GQA 6/2 heads), plus the input ids. bench/hf_reference.py then runs HF
// transformers on it (on a machine with PyTorch) and writes reference.json next to it, so the model
// is tested against HF on an architecture other than the Qwen2 fixture.
// Run: npx tsx scripts/make_tiny_llama.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { saveConfig, type ModelConfig } from '../src/io/hf_config.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { initModel } from '../src/nn/load.ts';
import { Rng } from '../src/tasks/rng.ts';

const DIR = 'fixtures/tiny-llama';
const config: ModelConfig = {
  modelType: 'llama', vocabSize: 300, hiddenSize: 48, intermediateSize: 128, numLayers: 3, numHeads: 6,
  numKvHeads: 2, headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: false,
  attentionBias: false, oProjBias: false, mlpBias: false, maxPositionEmbeddings: 256,
  bosTokenId: null, eosTokenIds: [], torchDtype: 'float32',
};

const rng = new Rng(20261126);
const normal = () => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
// Larger than HF's 0.02 init so the logits are far from uniform and a wrong op shows up clearly.
const model = initModel(config, () => 10 * normal());
mkdirSync(DIR, { recursive: true });
saveConfig(DIR, config);
const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
for (const [name, w] of model.weights) {
  const data = w.toArray() as Float32Array;
  // Norm weights around 1 (not exactly 1) so that a missing norm weight is caught too.
  if (name.endsWith('norm.weight')) for (let i = 0; i < data.length; i++) data[i] = 1 + 0.1 * normal();
  tensors[name] = { dtype: 'F32', shape: [...w.shape], data };
}
writeSafetensors(`${DIR}/model.safetensors`, tensors);
const inputIds = [0, 1].map(() => Array.from({ length: 20 }, () => rng.int(0, config.vocabSize - 1)));
writeFileSync(`${DIR}/inputs.json`, JSON.stringify({ input_ids: inputIds, greedy_prompt: [inputIds[0].slice(0, 6)], max_new_tokens: 24 }) + '\n');
console.log(`wrote ${DIR}`);
