// Shared fixtures for the trainer tests: a toy model config, synthetic examples, a live-memory counter.
import { CpuBackend } from '../src/backends/cpu/index.ts';
import type { Backend } from '../src/backends/backend.ts';
import type { Example } from '../src/data/example.ts';
import type { ModelConfig } from '../src/io/hf_config.ts';
import type { Storage } from '../src/tensor/tensor.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { runCli } from './cli_helpers.ts';

/** A 2-layer llama-type model small enough to train in milliseconds. */
export function toyConfig(vocabSize = 24): ModelConfig {
  return {
    modelType: 'llama', vocabSize, hiddenSize: 16, intermediateSize: 32, numLayers: 2, numHeads: 2, numKvHeads: 1,
    headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: false, attentionBias: false, mlpBias: false,
    maxPositionEmbeddings: 64, bosTokenId: null, eosTokenIds: [], padTokenId: null,
  };
}

/** `count` examples of random ids (lengths 4..maxLen) with the first 1-3 positions masked as "prompt". */
export function randomExamples(count: number, vocab: number, seed: number, maxLen = 12): Example[] {
  const rng = new TrainRng(seed);
  return Array.from({ length: count }, (_, k) => {
    const n = 4 + Math.floor(rng.next() * (maxLen - 3));
    const inputIds = Array.from({ length: n }, () => Math.floor(rng.next() * vocab));
    const prompt = 1 + Math.floor(rng.next() * 3);
    return { inputIds, labels: inputIds.map((id, i) => (i < prompt ? -100 : id)), source: `synthetic:${k + 1}` };
  });
}

/** A CPU backend that counts live storages (allocated and not yet released). */
export function countingBackend(): { backend: Backend; live: () => number } {
  const live = new Set<Storage>();
  const collect = (v: unknown): void => {
    if (v && typeof v === 'object') {
      if ('storage' in v && 'shape' in v) live.add((v as { storage: Storage }).storage);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach(collect);
    }
  };
  const inner = new CpuBackend();
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (prop === 'release') live.delete(args[0] as Storage);
        const out = value.apply(receiver, args);
        if (prop !== 'release' && prop !== 'download') collect(out);
        return out;
      };
    },
  });
  return { backend, live: () => [...live].filter((s) => s.handle !== null).length };
}

/**
 * Run `still <args>` in this process (no 4 s tsx start-up per run): a fresh commander program with the
 * training commands, stdout and stderr captured. Errors are thrown, not printed.
 */
export async function runStill(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { registerSft } = await import('../src/cli/sft.ts');
  const { registerImitate } = await import('../src/cli/imitate.ts');
  const { registerForward } = await import('../src/cli/forward.ts');
  return runCli([registerSft, registerImitate, registerForward], args);
}
