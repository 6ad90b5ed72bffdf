// SFT throughput on the CPU backend: tokens/s of full training steps (forward, backward, AdamW) for tiny
// char-vocabulary models, LoRA and full fine-tuning, at two sequence lengths.
// Run: npx tsx bench/cpu_sft.ts [--quick]        (prints one table row per configuration)
// The models are the STILL loop's toy scale (0.3M and 0.9M parameters, vocab 103 = the char tokenizer's).
// Each step is batch × T tokens in unpacked rows; the first step (allocations, worker start-up) is not timed.
import { cpus, loadavg } from 'node:os';
import type { Example } from '../src/data/example.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { initModel } from '../src/nn/load.ts';
import { createLora } from '../src/nn/lora.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { train } from '../src/train/trainer.ts';

const quick = process.argv.includes('--quick');
const VOCAB = 103;

function config(hidden: number, layers: number, ff: number, heads: number): ModelConfig {
  return {
    modelType: 'llama', vocabSize: VOCAB, hiddenSize: hidden, intermediateSize: ff, numLayers: layers, numHeads: heads,
    numKvHeads: heads, headDim: hidden / heads, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: true,
    attentionBias: false, mlpBias: false, maxPositionEmbeddings: 1024, bosTokenId: null, eosTokenIds: [], padTokenId: null,
  };
}

const MODELS: [string, ModelConfig][] = [
  ['0.3M (d96 L3 ff256)', config(96, 3, 256, 4)],
  ['0.9M (d128 L4 ff384)', config(128, 4, 384, 4)],
];

function examples(count: number, length: number, seed: number): Example[] {
  const rng = new TrainRng(seed);
  return Array.from({ length: count }, (_, k) => {
    const ids = Array.from({ length: length }, () => Math.floor(rng.next() * VOCAB));
    // A prompt of 1/4 of the row carries no loss, as in completion-only SFT.
    return { inputIds: ids, labels: ids.map((id, i) => (i < length / 4 ? -100 : id)), source: `bench:${k}` };
  });
}

function paramCount(cfg: ModelConfig): number {
  const rng = new TrainRng(0);
  const m = initModel(cfg, () => rng.next() - 0.5);
  const n = m.parameters().reduce((s, t) => s + t.size, 0);
  for (const t of m.parameters()) t.dispose();
  return n;
}

interface Row {
  model: string;
  params: number;
  mode: string;
  t: number;
  batch: number;
  tokPerS: number;
  msPerStep: number;
}

async function bench(name: string, cfg: ModelConfig, mode: 'lora' | 'full', t: number, batch: number, steps: number): Promise<Row> {
  const rng = new TrainRng(1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const model = initModel(cfg, normal);
  if (mode === 'lora') model.adapter = createLora(cfg, { r: 8, alpha: 16, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }, () => rng.next());
  const data = examples(batch * (steps + 1), t, 2);
  const r = await train(model, { train: data }, { steps: steps + 1, lr: 1e-3, batchSize: batch, shuffle: false, pack: false });
  const timed = r.stats.slice(1);
  const tokens = timed.reduce((s, x) => s + x.tokens, 0);
  const seconds = timed.reduce((s, x) => s + x.tokens / x.tokens_per_s, 0);
  for (const p of model.parameters()) p.dispose();
  return { model: name, params: paramCount(cfg), mode, t, batch, tokPerS: tokens / seconds, msPerStep: (seconds / timed.length) * 1000 };
}

const rows: Row[] = [];
const steps = quick ? 2 : 4;
for (const [name, cfg] of MODELS) {
  for (const t of [256, 512]) {
    const batch = Math.max(1, Math.round(2048 / t));
    for (const mode of ['full', 'lora'] as const) {
      const row = await bench(name, cfg, mode, t, batch, steps);
      rows.push(row);
      process.stderr.write(`  ${row.model} ${row.mode} T=${t}: ${Math.round(row.tokPerS)} tok/s\n`);
    }
  }
}

// The machine may be shared: the load average says how much of the CPU the numbers had.
console.log(`\nCPU SFT throughput (${cpus().length}× ${cpus()[0]?.model.trim()}, Node ${process.version}, ${steps} timed steps each, load avg ${loadavg()[0].toFixed(1)} at the end)`);
console.log('| model | params | mode | T | batch | tokens/s | ms/step |');
console.log('|---|---:|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.model} | ${(r.params / 1e6).toFixed(2)}M | ${r.mode} | ${r.t} | ${r.batch} | ${Math.round(r.tokPerS)} | ${Math.round(r.msPerStep)} |`);
}
