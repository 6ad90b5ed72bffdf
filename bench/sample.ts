// Benchmarks the batched sampler on the tiny-qwen2 fixture: generated tokens/s at batch 1, 8 and 64, prefill
// tokens/s, and the host sampler's cost per row at a real (Qwen, 151,936-id) vocabulary.
// Run: npx tsx bench/sample.ts [--quick] [--backend cpu|auto]   (prints a table; numbers go in bench/NOTES.md)
// Each run is repeated (3×, 1× with --quick) and the fastest kept: the shared 2-core box is noisy.
import { cpus, loadavg } from 'node:os';
import type { SampleRow } from '../src/backends/backend.ts';
import { openBackend, type BackendChoice } from '../src/backends/select.ts';
import { loadModel } from '../src/nn/load.ts';
import { Generator } from '../src/sample/generator.ts';
import { seedKey } from '../src/backends/philox.ts';
import { sampleTokens } from '../src/backends/sampler.ts';
import { setBackend } from '../src/tensor/context.ts';

const quick = process.argv.includes('--quick');
const REPEATS = quick ? 1 : 3;
const backendArg = process.argv[process.argv.indexOf('--backend') + 1];
const backend = openBackend((process.argv.includes('--backend') ? backendArg : 'cpu') as BackendChoice);
setBackend(backend);
const model = loadModel('fixtures/tiny-qwen2', { quiet: true });
const V = model.config.vocabSize;

const prompt = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 131 + i * 37 + 11) % V);
const rows: string[][] = [];

/** Decode throughput: `batch` prompts of 16 tokens, `newTokens` sampled tokens each, all in flight together. */
function decodeRun(batch: number, newTokens: number): void {
  const gen = new Generator(model, { maxBatch: batch, maxLen: 16 + newTokens });
  const requests = Array.from({ length: batch }, (_, i) => ({
    prompt: prompt(i, 16),
    params: { temperature: 1, topP: 0.95, seed: i, maxNewTokens: newTokens, ignoreEos: true },
  }));
  gen.generate(requests.slice(0, 1).map((r) => ({ ...r, params: { ...r.params, maxNewTokens: 4 } }))); // warm up
  let wall = Infinity;
  let generated = 0;
  let decodeMs = Infinity;
  let decodeTokens = 0;
  let steps = 0;
  for (let rep = 0; rep < REPEATS; rep++) {
    const before = { ...gen.stats };
    const t0 = performance.now();
    const results = gen.generate(requests);
    wall = Math.min(wall, (performance.now() - t0) / 1000);
    generated = results.reduce((s, r) => s + r.tokens.length, 0);
    decodeMs = Math.min(decodeMs, gen.stats.decodeMs - before.decodeMs);
    decodeTokens = gen.stats.decodeTokens - before.decodeTokens;
    steps = gen.stats.decodeSteps - before.decodeSteps;
  }
  rows.push([
    `decode, batch ${batch}`, `${generated}`, (generated / wall).toFixed(0), (decodeTokens / (decodeMs / 1000)).toFixed(0),
    `${(decodeMs / steps).toFixed(2)} ms/step`,
  ]);
  gen.dispose();
}

/** Prefill throughput: prompts of `len` tokens, one new token each. */
function prefillRun(len: number, count: number): void {
  const gen = new Generator(model, { maxBatch: 8, maxLen: len + 1 });
  gen.generate([{ prompt: prompt(0, len), params: { maxNewTokens: 1 } }]);
  let wall = Infinity;
  let ms = Infinity;
  let tokens = 0;
  for (let rep = 0; rep < REPEATS; rep++) {
    const before = { ...gen.stats };
    const t0 = performance.now();
    gen.generate(Array.from({ length: count }, (_, i) => ({ prompt: prompt(i, len), params: { maxNewTokens: 1 } })));
    wall = Math.min(wall, (performance.now() - t0) / 1000);
    tokens = gen.stats.prefillTokens - before.prefillTokens;
    ms = Math.min(ms, gen.stats.prefillMs - before.prefillMs);
  }
  rows.push([`prefill, ${len}-token prompts`, `${tokens}`, (tokens / wall).toFixed(0), (tokens / (ms / 1000)).toFixed(0), `${(ms / count).toFixed(2)} ms/prompt`]);
  gen.dispose();
}

/** The host sampler alone on one row of a Qwen-sized vocabulary. */
function samplerRun(name: string, over: Partial<SampleRow>, reps: number): void {
  const vocab = 151936;
  const logits = Float32Array.from({ length: vocab }, (_, i) => Math.sin(i * 12.9898) * 8);
  const row: SampleRow = {
    temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, penalized: new Int32Array(0), key: seedKey(1),
    counter: [0, 0, 0], ...over,
  };
  sampleTokens(logits, vocab, [row]);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) sampleTokens(logits, vocab, [{ ...row, counter: [i, 0, 0] }]);
  const ms = (performance.now() - t0) / reps;
  rows.push([`host sampler, V=151936, ${name}`, `${reps}`, (1000 / ms).toFixed(0), '', `${ms.toFixed(2)} ms/row`]);
}

const newTokens = quick ? 32 : 128;
for (const batch of [1, 8, 64]) decodeRun(batch, newTokens);
prefillRun(16, quick ? 16 : 64);
prefillRun(128, quick ? 8 : 32);
samplerRun('temperature', {}, quick ? 5 : 20);
samplerRun('top-p 0.95', { topP: 0.95 }, quick ? 5 : 20);
samplerRun('top-k 50', { topK: 50 }, quick ? 5 : 20);

const header = ['run', 'tokens', 'tok/s (wall)', 'tok/s (forward+sample)', 'per step'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`tiny-qwen2 (${model.config.numLayers} layers, hidden ${model.config.hiddenSize}, vocab ${V}) on ${backend.name}; ` +
  `${cpus().length} cores, load ${loadavg()[0].toFixed(2)}; decode: 16-token prompts, ${newTokens} new tokens, temperature 1, top-p 0.95`);
console.log(line(header));
for (const r of rows) console.log(line(r));
process.exit(0); // the CPU GEMM's worker threads would keep the process alive
