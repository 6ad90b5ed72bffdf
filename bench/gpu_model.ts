// Model-level checks and benchmarks of the CUDA backend, shared by bench/gpu.ts and test/cuda_emu.test.ts:
// tiny-qwen2 logits, greedy tokens and LoRA gradients against the HF/PEFT references in fixtures/, device
// memory across training steps, and the Qwen2.5-0.5B-shaped LoRA SFT step and sampling throughput.
// Paths are relative to the repo root (the GPU machine runs the bundle from there).
import { readFileSync } from 'node:fs';
import type { CudaBackend, CudaGraph } from '../src/backends/cuda/index.ts';
import type { SampleRow } from '../src/backends/backend.ts';
import { graphMs } from './gpu_timing.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadPeftAdapter } from '../src/io/peft.ts';
import { loadModel } from '../src/nn/load.ts';
import { createLora, LORA_TARGETS } from '../src/nn/lora.ts';
import { DecoderModel, type KVCache, type SlotLayer } from '../src/nn/model.ts';
import { Generator } from '../src/sample/generator.ts';
import { SlotKVCache } from '../src/sample/slot_cache.ts';
import { greedyGenerate } from '../src/sample/greedy.ts';
import { noGrad } from '../src/tensor/autograd.ts';
import { getBackend, setBackend } from '../src/tensor/context.ts';
import type { DType } from '../src/tensor/dtype.ts';
import { ids } from '../src/tensor/ops.ts';
import { keep, tidy } from '../src/tensor/scope.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { AdamW } from '../src/train/adamw.ts';
import { lossGradients } from '../src/train/grads.ts';
import type { PackedBatch } from '../src/train/pack.ts';
import { clearGrads, syncValues, trainableParams } from '../src/train/params.ts';
import { lossAndBackward } from '../src/train/step.ts';

const TINY = 'fixtures/tiny-qwen2';

/** Run fn with `cuda` as the default backend (model loading and ops use it), restoring the previous one. */
export function onCuda<R>(cuda: CudaBackend, fn: () => R): R {
  const prev = getBackend();
  setBackend(cuda);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

function reference(): { input_ids: number[][]; logits: number[][][]; greedy_prompt: number[][]; greedy_output: number[][]; lora: { labels: number[][]; loss: number } } {
  return JSON.parse(readFileSync(`${TINY}/reference.json`, 'utf8'));
}

function disposeModel(m: DecoderModel): void {
  m.releaseFusedWeights();
  for (const w of m.weights.values()) w.dispose();
  m.adapter?.dispose?.();
}

/** Max |logit − HF's| over tiny-qwen2's reference batch. */
export function tinyLogitsError(cuda: CudaBackend, dtype: DType): number {
  const ref = reference();
  return onCuda(cuda, () => {
    const model = loadModel(TINY, { quiet: true, dtype });
    try {
      const rows = ref.input_ids;
      const got = noGrad(() => model.forward(ids(rows.flat(), [rows.length, rows[0].length])).toArray());
      const want = ref.logits.flat(2);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      return got.length === want.length ? worst : Infinity;
    } finally {
      disposeModel(model);
    }
  });
}

/** Greedy generation (slot KV cache, decode attention, fused sampler at temperature 0) equals HF's tokens. */
export function tinyGreedyMatches(cuda: CudaBackend): boolean {
  const ref = reference();
  return onCuda(cuda, () => {
    const model = loadModel(TINY, { quiet: true, dtype: 'f32' });
    try {
      return JSON.stringify(greedyGenerate(model, ref.greedy_prompt, 24)) === JSON.stringify(ref.greedy_output);
    } finally {
      disposeModel(model);
    }
  });
}

/** Loss error and the worst per-tensor relative gradient error of the fixture's LoRA against PEFT. */
export function tinyLoraGradError(cuda: CudaBackend): { loss: number; grads: number } {
  const ref = reference();
  return onCuda(cuda, () => {
    const model = loadModel(TINY, { quiet: true, dtype: 'f32' });
    model.adapter = loadPeftAdapter(`${TINY}/lora`, model.config);
    const refGrads = SafetensorsFile.open(`${TINY}/lora/reference_grads.safetensors`);
    try {
      const { loss, grads } = lossGradients(model, ref.input_ids, ref.lora.labels);
      let worst = 0;
      for (const name of refGrads.names()) {
        const g = grads.get(name);
        if (!g) return { loss: Math.abs(loss - ref.lora.loss), grads: Infinity };
        const want = refGrads.readF32(name);
        let num = 0;
        let den = 0;
        for (let i = 0; i < want.length; i++) {
          num += (g.data[i] - want[i]) ** 2;
          den += want[i] ** 2;
        }
        worst = Math.max(worst, Math.sqrt(num / den));
      }
      return { loss: Math.abs(loss - ref.lora.loss), grads: worst };
    } finally {
      refGrads.close();
      disposeModel(model);
    }
  });
}

function randomBatch(rows: number, cols: number, vocab: number, seed: number): PackedBatch {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % vocab;
  const n = rows * cols;
  const idsArr = Int32Array.from({ length: n }, next);
  const targets = Int32Array.from({ length: n }, (_, i) => ((i + 1) % cols === 0 ? -100 : idsArr[i + 1]));
  const positions = Int32Array.from({ length: n }, (_, i) => i % cols);
  return { rows, cols, ids: idsArr, targets, positions, segments: null, tokens: n, targetCount: n - rows };
}

export interface StepMemory {
  /** cuMemAlloc calls after each step. */
  deviceAllocs: number[];
  /** Bytes held by live tensors after each step. */
  inUse: number[];
  reserved: number[];
}

/** LoRA training steps on tiny-qwen2 (forward, backward, AdamW): device memory after each. */
export function tinyTrainingMemory(cuda: CudaBackend, steps: number): StepMemory {
  return onCuda(cuda, () => {
    const model = loadModel(TINY, { quiet: true, dtype: 'f32' });
    let seed = 1;
    model.adapter = createLora(model.config, { r: 8, alpha: 16, dropout: 0, targets: [...LORA_TARGETS] }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647));
    const params = trainableParams(model);
    const opt = new AdamW(params, { weightDecay: 0.01 });
    const batch = randomBatch(2, 16, model.config.vocabSize, 5);
    const out: StepMemory = { deviceAllocs: [], inUse: [], reserved: [] };
    try {
      for (let i = 0; i < steps; i++) {
        lossAndBackward(model, batch, batch.targetCount, () => `step ${i}`);
        opt.update(1e-3);
        syncValues(params);
        clearGrads(params);
        cuda.synchronize();
        const s = cuda.memoryStats();
        out.deviceAllocs.push(s.deviceAllocs);
        out.inUse.push(s.inUse);
        out.reserved.push(s.reserved);
      }
      return out;
    } finally {
      for (const slot of opt.state.values()) {
        slot.m.dispose();
        slot.v.dispose();
      }
      disposeModel(model);
    }
  });
}

// ---- Qwen2.5-0.5B-shaped benchmarks (random weights) -------------------------------------------------------
export const QWEN05: ModelConfig = {
  modelType: 'qwen2', vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numLayers: 24, numHeads: 14,
  numKvHeads: 2, headDim: 64, ropeTheta: 1e6, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: true,
  mlpBias: false, maxPositionEmbeddings: 32768, bosTokenId: null, eosTokenIds: [151643, 151645],
};

/**
 * A random model on the GPU without generating half a billion numbers in JS: one pool of N(0, 0.02) values is
 * uploaded once and each weight is filled from it by device copies at a shifting offset.
 */
export function randomModel(cuda: CudaBackend, config: ModelConfig, dtype: DType): DecoderModel {
  return onCuda(cuda, () => {
    const poolSize = 1 << 22;
    let s = 12345;
    const uniform = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 0.5) / 4294967296;
    const values = Float32Array.from({ length: poolSize }, () => 0.02 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
    const pool = cuda.upload(values, [poolSize], dtype);
    const bytes = dtype === 'f32' ? 4 : 2;
    const weights = new Map<string, Tensor>();
    let offset = 0;
    for (const [name, shape] of weightShapes(config)) {
      const n = shape.reduce((a, b) => a * b, 1);
      let t: Tensor;
      if (name.endsWith('norm.weight')) t = cuda.full(shape, 1, dtype);
      else if (name.endsWith('.bias')) t = cuda.zeros(shape, dtype);
      else {
        t = cuda.zeros(shape, dtype);
        for (let done = 0; done < n; ) {
          const take = Math.min(n - done, poolSize - offset);
          cuda.drv.copy(cuda.ptr(t) + BigInt(done * bytes), cuda.ptr(pool) + BigInt(offset * bytes), take * bytes);
          done += take;
          offset = (offset + take + 7919) % (poolSize - 1);
        }
      }
      weights.set(name, keep(t));
    }
    pool.dispose();
    return new DecoderModel(config, weights);
  });
}

function weightShapes(c: ModelConfig): [string, number[]][] {
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]]];
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.input_layernorm.weight`, [c.hiddenSize]],
      [`${p}.self_attn.q_proj.weight`, [q, c.hiddenSize]], [`${p}.self_attn.q_proj.bias`, [q]],
      [`${p}.self_attn.k_proj.weight`, [kv, c.hiddenSize]], [`${p}.self_attn.k_proj.bias`, [kv]],
      [`${p}.self_attn.v_proj.weight`, [kv, c.hiddenSize]], [`${p}.self_attn.v_proj.bias`, [kv]],
      [`${p}.self_attn.o_proj.weight`, [c.hiddenSize, q]],
      [`${p}.post_attention_layernorm.weight`, [c.hiddenSize]],
      [`${p}.mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]],
      [`${p}.mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]],
      [`${p}.mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]],
    );
  }
  out.push(['model.norm.weight', [c.hiddenSize]]);
  if (!c.tieWordEmbeddings) out.push(['lm_head.weight', [c.vocabSize, c.hiddenSize]]);
  return out;
}

export interface SftBench {
  tokensPerSec: number;
  msPerStep: number;
  /** Peak bytes in live tensors during the measured steps (what torch.cuda.max_memory_allocated counts). */
  peakBytes: number;
  /** Peak bytes the allocator held from the device (live + cached) during the measured steps. */
  peakReservedBytes: number;
  losses: number[];
  /** cuMemAlloc calls during the measured steps (0 = flat memory). */
  allocsDuringSteps: number;
}

/** LoRA r16 (all 7 projections) SFT steps on a random bf16 model: forward, backward, AdamW. */
export function benchLoraSft(cuda: CudaBackend, model: DecoderModel, rows: number, cols: number, steps: number): SftBench {
  return onCuda(cuda, () => {
    let seed = 7;
    model.adapter = createLora(model.config, { r: 16, alpha: 32, dropout: 0, targets: [...LORA_TARGETS] }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647));
    const params = trainableParams(model);
    const opt = new AdamW(params);
    const batch = randomBatch(rows, cols, model.config.vocabSize, 3);
    const losses: number[] = [];
    const step = (i: number) => {
      losses.push(lossAndBackward(model, batch, batch.targetCount, () => `bench step ${i}`));
      opt.update(1e-4);
      syncValues(params);
      clearGrads(params);
    };
    try {
      // Warm-up: JIT, cuBLASLt plans, allocator fill; AdamW's moments appear in the first update, so the
      // second step is the first with the steady-state memory layout.
      step(-2);
      step(-1);
      cuda.synchronize();
      cuda.resetPeakMemoryStats(); // the timed steps' own peak, not whatever ran earlier in the process
      const before = cuda.memoryStats();
      const t0 = performance.now();
      for (let i = 1; i <= steps; i++) step(i);
      cuda.synchronize();
      const ms = (performance.now() - t0) / steps;
      const after = cuda.memoryStats();
      return { tokensPerSec: (rows * cols) / (ms / 1000), msPerStep: ms, peakBytes: after.peakInUse, peakReservedBytes: after.peakReserved, losses, allocsDuringSteps: after.deviceAllocs - before.deviceAllocs };
    } finally {
      for (const slot of opt.state.values()) {
        slot.m.dispose();
        slot.v.dispose();
      }
      model.adapter.dispose?.();
      model.adapter = null;
      for (const w of model.weights.values()) w.requiresGrad = false;
    }
  });
}

export interface GenBench {
  tokensPerSec: number;
  decodeMsPerStep: number;
  prefillMs: number;
}

/**
 * `batch` prompts of 32 random tokens, 256 sampled tokens each (temperature 0.7, top-p 0.95, no EOS), through
 * the Generator: decode steps as CUDA graphs and batched prefill (graphs: true, its default on CUDA), or
 * every op launched one by one; through the fused inference path unless `fused` is false.
 */
export function benchGenerate(cuda: CudaBackend, model: DecoderModel, batch: number, newTokens: number, graphs = true, fused = true): GenBench {
  return withFusedInference(model, fused, () => generate(cuda, model, batch, newTokens, graphs));
}

/** fn run with the model's fused inference path on or off, the setting restored afterwards. */
function withFusedInference<R>(model: DecoderModel, fused: boolean, fn: () => R): R {
  const was = model.fusedInference;
  model.fusedInference = fused;
  try {
    return fn();
  } finally {
    model.fusedInference = was;
  }
}

function generate(cuda: CudaBackend, model: DecoderModel, batch: number, newTokens: number, graphs: boolean): GenBench {
  return onCuda(cuda, () => {
    const promptLen = 32;
    let s = 99;
    const prompt = () => Array.from({ length: promptLen }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % model.config.vocabSize);
    const gen = new Generator(model, { maxBatch: batch, maxLen: promptLen + newTokens, eosIds: [], seed: 1, graphs });
    try {
      // Warm-up on a short run, so JIT and plans are not timed.
      gen.generate([{ prompt: prompt(), params: { temperature: 0.7, topP: 0.95, maxNewTokens: 4 } }]);
      const requests = Array.from({ length: batch }, () => ({ prompt: prompt(), params: { temperature: 0.7, topP: 0.95, maxNewTokens: newTokens } }));
      const before = { ...gen.stats };
      const t0 = performance.now();
      const results = gen.generate(requests);
      const ms = performance.now() - t0;
      const tokens = results.reduce((a, r) => a + r.tokens.length, 0);
      const steps = gen.stats.decodeSteps - before.decodeSteps;
      return { tokensPerSec: tokens / (ms / 1000), decodeMsPerStep: (gen.stats.decodeMs - before.decodeMs) / Math.max(1, steps), prefillMs: gen.stats.prefillMs - before.prefillMs };
    } finally {
      gen.dispose();
    }
  });
}

// ---- accuracy of the fused inference path ------------------------------------------------------------------------
export interface FusedAccuracy {
  /** max |Δlogit| / max |logit| of the fused step against the unfused one, f32 weights: only summation order differs. */
  f32FusedVsUnfused: number;
  /** The bf16 model's fused and unfused steps, each against the f32 model's unfused step (same weights up to rounding). */
  bf16FusedVsF32: number;
  bf16UnfusedVsF32: number;
}

/** The logits of one decode token after an 8-token prefill through a fresh slot cache, fused path or not. */
function decodeLogits(cuda: CudaBackend, model: DecoderModel, fused: boolean): Float32Array {
  return withFusedInference(model, fused, () => onCuda(cuda, () => noGrad(() => tidy(() => {
      const v = model.config.vocabSize;
      const tokens = Array.from({ length: 9 }, (_, i) => (i * 7919 + 11) % v);
      const cache = new SlotKVCache(cuda, model.config, 1, 16, model.weight('model.embed_tokens.weight').dtype);
      try {
        cache.bind([0], [0], 8);
        model.forward(ids(tokens.slice(0, 8), [1, 8]), { positions: ids([0, 1, 2, 3, 4, 5, 6, 7], [1, 8]), cache, output: 'last' });
        cache.bind([0], [8], 1);
        return model.forward(ids([tokens[8]], [1, 1]), { positions: ids([8], [1, 1]), cache, output: 'last' }).toArray() as Float32Array;
      } finally {
        cache.dispose();
      }
    }))));
}

function relDiff(a: Float32Array, ref: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    s = Math.max(s, Math.abs(ref[i]));
  }
  return d / Math.max(s, 1e-30);
}

/**
 * The fused decode step against the unfused one on the bf16 bench model and on an f32 copy of it (randomModel
 * is deterministic): with f32 weights the two differ only in summation order, so a wrong fused kernel stands
 * out; with bf16 weights both carry bf16 rounding noise, and the fused step should be as close to f32 as the
 * unfused one.
 */
export function fusedAccuracy(cuda: CudaBackend, bf16Model: DecoderModel): FusedAccuracy {
  const f32Model = randomModel(cuda, bf16Model.config, 'f32');
  try {
    const f32Unfused = decodeLogits(cuda, f32Model, false);
    const f32Fused = decodeLogits(cuda, f32Model, true);
    return {
      f32FusedVsUnfused: relDiff(f32Fused, f32Unfused),
      bf16FusedVsF32: relDiff(decodeLogits(cuda, bf16Model, true), f32Unfused),
      bf16UnfusedVsF32: relDiff(decodeLogits(cuda, bf16Model, false), f32Unfused),
    };
  } finally {
    disposeModel(f32Model);
  }
}

// ---- the decode step as a CUDA graph --------------------------------------------------------------------------
/**
 * A slot KV cache whose row binding (slots, starts, kvLens) lives in persistent tensors, refreshed in place
 * each step: what a captured decode step needs, since a replay reads the addresses it was captured with.
 */
class StaticSlotCache implements KVCache {
  readonly keys: Tensor[] = [];
  readonly values: Tensor[] = [];
  readonly slots: Tensor;
  readonly starts: Tensor;
  readonly kvLens: Tensor;

  constructor(private readonly cuda: CudaBackend, c: ModelConfig, batch: number, maxLen: number, dtype: DType) {
    for (let l = 0; l < c.numLayers; l++) {
      this.keys.push(keep(cuda.zeros([batch, maxLen, c.numKvHeads, c.headDim], dtype)));
      this.values.push(keep(cuda.zeros([batch, maxLen, c.numKvHeads, c.headDim], dtype)));
    }
    this.slots = keep(cuda.upload(Int32Array.from({ length: batch }, (_, i) => i), [batch], 'i32'));
    this.starts = keep(cuda.zeros([batch], 'i32'));
    this.kvLens = keep(cuda.zeros([batch], 'i32'));
  }

  get length(): number {
    throw new Error('StaticSlotCache: pass positions');
  }

  append(): { k: Tensor; v: Tensor } {
    throw new Error('StaticSlotCache: forward must call attend()');
  }

  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
    this.cuda.kvWrite(this.keys[layer], k, this.slots, this.starts);
    this.cuda.kvWrite(this.values[layer], v, this.slots, this.starts);
    return this.cuda.slotAttention(q, this.keys[layer], this.values[layer], this.slots, this.kvLens, scale);
  }

  slotLayer(layer: number): SlotLayer {
    return { k: this.keys[layer], v: this.values[layer], slots: this.slots, starts: this.starts, kvLens: this.kvLens };
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values, this.slots, this.starts, this.kvLens]) t.dispose();
  }
}

/** Device ms of one sampleInto over `logits` for `rows`, captured in a graph and replayed `replays` times. */
function samplerGraphMs(cuda: CudaBackend, logits: Tensor, rows: SampleRow[], replays: number): number {
  const params = cuda.createSampleParams(rows.length, 0);
  const out = cuda.zeros([2 * rows.length], 'i32');
  try {
    params.write(rows, logits.shape[1]);
    return graphMs(cuda, () => cuda.sampleInto(logits, params, out), 1, replays);
  } finally {
    out.dispose();
    params.dispose();
  }
}

export interface DecodeGraphBench {
  /** Kernel launches and cuBLASLt calls of one forward (what the graph replays, without the sampler's 5). */
  launchesPerForward: number;
  /** Per decode step (forward of one token per row + fused sampling), launched op by op. */
  eagerMsPerStep: number;
  /** The same step with the forward replayed as one CUDA graph. */
  graphMsPerStep: number;
  /** Device time of one replay of the forward's graph (CUDA events over back-to-back replays). */
  forwardDeviceMs: number;
  /** Device time of the fused sampler on the step's logits and rows, captured as a graph of its own. */
  samplerDeviceMs: number;
  /** max |logit| difference between the eager forward and a replay of the graph on the same inputs. */
  maxLogitDiff: number;
  /** With the fused path: max |logit difference| to the unfused forward on the same inputs, over max |logit|. */
  fusedVsUnfused: number | null;
  graphTokensPerSec: number;
}

/**
 * Decode `steps` tokens for `batch` rows from position `start` (cache rows before it hold zeros: the timing
 * does not depend on them), eagerly and then with the forward captured once and replayed; through the fused
 * inference path (src/nn/fused_forward.ts) unless `fused` is false.
 */
export function benchDecodeGraph(cuda: CudaBackend, model: DecoderModel, batch: number, steps: number, start = 32, fused = true): DecodeGraphBench {
  return withFusedInference(model, fused, () => decodeGraph(cuda, model, batch, steps, start));
}

function decodeGraph(cuda: CudaBackend, model: DecoderModel, batch: number, steps: number, start: number): DecodeGraphBench {
  return onCuda(cuda, () => {
    const c = model.config;
    const dtype = model.weight('model.embed_tokens.weight').dtype;
    const cache = new StaticSlotCache(cuda, c, batch, start + 2 * steps + 2, dtype);
    const ids = keep(cuda.zeros([batch, 1], 'i32'));
    const positions = keep(cuda.zeros([batch, 1], 'i32'));
    const rows: SampleRow[] = Array.from({ length: batch }, (_, i) => ({
      temperature: 0.7, topK: 0, topP: 0.95, minP: 0, repetitionPenalty: 1, penalized: new Int32Array(0), key: [i, 1], counter: [0, 0, i],
    }));
    let tokens: Int32Array = Int32Array.from({ length: batch }, (_, i) => (i * 7919 + 13) % c.vocabSize);
    const setInputs = (pos: number) => {
      cuda.overwrite(ids, tokens);
      cuda.overwrite(positions, new Int32Array(batch).fill(pos));
      cuda.overwrite(cache.starts, new Int32Array(batch).fill(pos));
      cuda.overwrite(cache.kvLens, new Int32Array(batch).fill(pos + 1));
    };
    const forward = () => noGrad(() => tidy(() => model.forward(ids, { positions, cache, output: 'last' })));
    const sampleFrom = (logits: Tensor, step: number) => {
      tokens = cuda.sample(logits, rows.map((r) => ({ ...r, counter: [step, 0, r.counter[2]] as [number, number, number] }))).tokens;
    };
    let graph: CudaGraph | null = null;
    try {
      // Eager: warm-up (JIT, plans, rope tables), then timed.
      setInputs(start);
      forward().dispose();
      cuda.synchronize();
      const launches0 = cuda.launches;
      forward().dispose();
      const launchesPerForward = cuda.launches - launches0;
      let t0 = performance.now();
      for (let i = 0; i < steps; i++) {
        setInputs(start + i);
        const logits = forward();
        sampleFrom(logits, i);
        logits.dispose();
      }
      const eagerMs = (performance.now() - t0) / steps;
      // Graph: capture once, then refresh the inputs and replay.
      setInputs(start + steps);
      const eager = forward();
      const reference = eager.toArray();
      eager.dispose();
      let fusedVsUnfused: number | null = null;
      if (model.fusedInference) {
        // The same step (same inputs, same cache positions rewritten with the same values) without fusion.
        const unfused = withFusedInference(model, false, () => {
          const plain = forward();
          const values = plain.toArray() as Float32Array;
          plain.dispose();
          return values;
        });
        fusedVsUnfused = relDiff(reference as Float32Array, unfused);
      }
      const captured = cuda.captureGraph(forward);
      graph = captured.graph;
      const logits = captured.result;
      graph.replay();
      const replayed = logits.toArray();
      let maxLogitDiff = 0;
      for (let i = 0; i < reference.length; i++) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(reference[i] - replayed[i]));
      t0 = performance.now();
      for (let i = 0; i < steps; i++) {
        setInputs(start + steps + 1 + i);
        graph.replay();
        sampleFrom(logits, steps + i);
      }
      const graphMs = (performance.now() - t0) / steps;
      const forwardDeviceMs = cuda.timeMs(() => {
        for (let i = 0; i < steps; i++) graph!.replay();
      }) / steps;
      const samplerDeviceMs = samplerGraphMs(cuda, logits, rows, steps);
      logits.dispose();
      return {
        launchesPerForward, eagerMsPerStep: eagerMs, graphMsPerStep: graphMs, forwardDeviceMs, samplerDeviceMs, maxLogitDiff, fusedVsUnfused,
        graphTokensPerSec: (batch * 1000) / graphMs,
      };
    } finally {
      graph?.dispose();
      ids.dispose();
      positions.dispose();
      cache.dispose();
    }
  });
}
