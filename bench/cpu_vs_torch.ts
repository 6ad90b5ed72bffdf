// still-ts against PyTorch on the CPU, side by side, at the toy demo's shapes: a full training step (forward,
// backward, AdamW; batch 8 × 256 tokens) and greedy decoding (64 prompts of 24 tokens, 128 new tokens each,
// KV cache). The peer is bench/cpu_torch.py, the same Llama written in plain torch (Debian's python3-torch
// 1.13 with OpenBLAS). The two sides alternate, round after round and thread count after thread count, so a
// shared machine's load (and this VM's speed, which drifts by up to 2× over minutes) falls on both; the tables
// give each side's median over the rounds, the ratio at equal threads, and each side at its best thread count.
//
//   npx tsx bench/cpu_vs_torch.ts [--rounds 5] [--threads 1,2] [--python /usr/bin/python3]
//
// Numbers and the machine's state go in bench/NOTES.md ("CPU against PyTorch").
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Example } from '../src/data/example.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { initModel } from '../src/nn/load.ts';
import { setGemmThreads } from '../src/backends/cpu/gemm_wasm.ts';
import { Generator } from '../src/sample/generator.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { train } from '../src/train/trainer.ts';

const arg = (name: string, dflt: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const ROUNDS = Number(arg('--rounds', '5'));
const THREADS = arg('--threads', '1,2').split(',').map(Number);
const PYTHON = arg('--python', '/usr/bin/python3');
const VOCAB = 103; // the toy's character vocabulary

interface Shape { name: string; hidden: number; layers: number; ff: number; heads: number }
const SHAPES: Shape[] = [
  { name: 'demo (d64 L4 ff192)', hidden: 64, layers: 4, ff: 192, heads: 2 },
  { name: '0.3M (d96 L3 ff256)', hidden: 96, layers: 3, ff: 256, heads: 4 },
];
const TRAIN = { t: 256, batch: 8, steps: 4 };
const DECODE = { batch: 64, prompt: 24, newTokens: 128, reps: 2 };

function config(s: Shape): ModelConfig {
  return {
    modelType: 'llama', vocabSize: VOCAB, hiddenSize: s.hidden, intermediateSize: s.ff, numLayers: s.layers, numHeads: s.heads,
    numKvHeads: s.heads, headDim: s.hidden / s.heads, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: true,
    attentionBias: false, mlpBias: false, maxPositionEmbeddings: 1024, bosTokenId: null, eosTokenIds: [], padTokenId: null,
  };
}

function model(s: Shape) {
  const rng = new TrainRng(1);
  return { rng, model: initModel(config(s), () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()) * 0.05) };
}

/** Tokens/s of TRAIN.steps timed training steps after one untimed one. */
async function oursTrain(s: Shape): Promise<number> {
  const { rng, model: m } = model(s);
  const { t, batch, steps } = TRAIN;
  const data: Example[] = Array.from({ length: batch * (steps + 1) }, (_, k) => {
    const ids = Array.from({ length: t }, () => Math.floor(rng.next() * VOCAB));
    // A quarter of each row is prompt (no loss), as on the torch side.
    return { inputIds: ids, labels: ids.map((id, i) => (i < t / 4 ? -100 : id)), source: `bench:${k}` };
  });
  const r = await train(m, { train: data }, { steps: steps + 1, lr: 1e-3, batchSize: batch, shuffle: false, pack: false });
  const timed = r.stats.slice(1);
  return timed.reduce((a, x) => a + x.tokens, 0) / timed.reduce((a, x) => a + x.tokens / x.tokens_per_s, 0);
}

/** Generated tokens/s of greedy decoding, DECODE.batch prompts at once, best of DECODE.reps after a warm-up. */
function oursDecode(s: Shape): number {
  const { rng, model: m } = model(s);
  const { batch, prompt, newTokens, reps } = DECODE;
  const gen = new Generator(m, { maxBatch: batch, maxLen: prompt + newTokens });
  const requests = () => Array.from({ length: batch }, () => ({
    prompt: Array.from({ length: prompt }, () => Math.floor(rng.next() * VOCAB)),
    params: { temperature: 0, maxNewTokens: newTokens, ignoreEos: true },
  }));
  gen.generate(requests().slice(0, 2));
  let best = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const out = gen.generate(requests());
    const tokens = out.reduce((a, r) => a + r.tokens.length, 0);
    best = Math.max(best, tokens / ((performance.now() - t0) / 1000));
  }
  gen.dispose();
  return best;
}

function torch(s: Shape, mode: 'train' | 'decode', threads: number): number {
  const flags = ['--hidden', s.hidden, '--layers', s.layers, '--ff', s.ff, '--heads', s.heads, '--vocab', VOCAB, '--threads', threads, '--mode', mode,
    ...(mode === 'train' ? ['--t', TRAIN.t, '--batch', TRAIN.batch, '--steps', TRAIN.steps] : ['--batch', DECODE.batch, '--prompt', DECODE.prompt, '--new', DECODE.newTokens, '--steps', DECODE.reps])];
  const out = execFileSync(PYTHON, [join(import.meta.dirname, 'cpu_torch.py'), ...flags.map(String)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!).tokens_per_s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const sameThreads: string[] = [];
const best: string[] = [];
const startLoad = loadavg()[0];
for (const s of SHAPES) {
  for (const mode of ['train', 'decode'] as const) {
    const ours = new Map<number, number[]>(THREADS.map((t) => [t, []]));
    const peer = new Map<number, number[]>(THREADS.map((t) => [t, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const threads of THREADS) {
        setGemmThreads(threads);
        ours.get(threads)!.push(mode === 'train' ? await oursTrain(s) : oursDecode(s));
        peer.get(threads)!.push(torch(s, mode, threads));
        process.stderr.write(`  ${s.name} ${mode} round ${r + 1}, ${threads} thread(s): still-ts ${Math.round(ours.get(threads)!.at(-1)!)}, torch ${Math.round(peer.get(threads)!.at(-1)!)} tok/s\n`);
      }
    }
    const what = mode === 'train' ? `train step, ${TRAIN.batch}×${TRAIN.t}` : `greedy decode, ${DECODE.batch}×${DECODE.newTokens} new`;
    const medians = (m: Map<number, number[]>) => THREADS.map((t) => ({ threads: t, tps: median(m.get(t)!) }));
    const [o, p] = [medians(ours), medians(peer)];
    THREADS.forEach((t, i) => sameThreads.push(`| ${s.name} | ${what} | ${t} | ${Math.round(o[i].tps)} | ${Math.round(p[i].tps)} | ${(o[i].tps / p[i].tps).toFixed(2)} |`));
    const top = (xs: { threads: number; tps: number }[]) => xs.reduce((a, b) => (b.tps > a.tps ? b : a));
    const [bo, bp] = [top(o), top(p)];
    best.push(`| ${s.name} | ${what} | ${Math.round(bo.tps)} (${bo.threads}) | ${Math.round(bp.tps)} (${bp.threads}) | ${(bo.tps / bp.tps).toFixed(2)} |`);
  }
}
console.log(`\nCPU, still-ts vs PyTorch (${cpus().length}× ${cpus()[0]?.model.trim()}, Node ${process.version}, threads ${THREADS.join(' and ')}, ` +
  `${ROUNDS} alternating rounds, median; load avg ${startLoad.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end)`);
console.log('| model | work | threads | still-ts tok/s | PyTorch tok/s | ratio |');
console.log('|---|---|---:|---:|---:|---:|');
for (const l of sameThreads) console.log(l);
console.log('\nEach side at its best thread count (tok/s, threads):');
console.log('| model | work | still-ts | PyTorch | ratio |');
console.log('|---|---|---:|---:|---:|');
for (const l of best) console.log(l);
process.exit(0); // the GEMM pool's workers would keep the process alive
