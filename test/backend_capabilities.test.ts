// Backend capabilities (src/backends/backend.ts): a backend declares exactly the optional members it has, and
// generation picks its paths from the declared flags, not from which methods exist: a backend that declares
// none runs the unfused forward and the host sampler, and draws the same tokens.
import { describe, expect, it } from 'vitest';
import { capabilityMismatches, type Backend } from '../src/backends/backend.ts';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import { loadModel } from '../src/nn/load.ts';
import { Generator } from '../src/sample/generator.ts';
import type { GenerationRequest } from '../src/sample/request.ts';
import { getBackend, setBackend } from '../src/tensor/context.ts';

/** The CPU backend with every capability declared off; its methods are all still there. */
class UndeclaredCpu extends CpuBackend {
  override readonly capabilities = { fusedInference: false, deviceSampler: false, decodeGraphs: false };
}

/** Calls of fusedLinear and sample on `be` while fn runs. */
function calls<R>(be: Backend, fn: () => R): { result: R; fusedLinear: number; sample: number } {
  const target = be as unknown as Record<string, (...a: unknown[]) => unknown>;
  const counts = { fusedLinear: 0, sample: 0 };
  const originals = { fusedLinear: target.fusedLinear, sample: target.sample };
  for (const m of ['fusedLinear', 'sample'] as const) target[m] = (...a: unknown[]) => (counts[m]++, originals[m].apply(be, a));
  try {
    return { result: fn(), ...counts };
  } finally {
    for (const m of ['fusedLinear', 'sample'] as const) target[m] = originals[m];
  }
}

const REQUESTS: GenerationRequest[] = [
  { prompt: [1, 2, 3, 4, 5], n: 2, params: { temperature: 0.9, topP: 0.9, maxNewTokens: 10, seed: 3, logprobs: true } },
  { prompt: [300, 200, 100], params: { temperature: 0, maxNewTokens: 8, logprobs: true } },
];

function generateOn(be: Backend) {
  const previous = getBackend();
  setBackend(be);
  try {
    const model = loadModel('fixtures/tiny-qwen2', { quiet: true });
    const gen = new Generator(model, { maxBatch: 3, maxLen: 32, eosIds: [] });
    try {
      return calls(be, () => gen.generate(REQUESTS));
    } finally {
      gen.dispose();
    }
  } finally {
    setBackend(previous);
  }
}

describe('backend capabilities', () => {
  it('the CPU backend declares what it has: fused inference ops and the sampler, no graphs', () => {
    const cpu = new CpuBackend();
    expect(cpu.capabilities).toEqual({ fusedInference: true, deviceSampler: true, decodeGraphs: false });
    expect(capabilityMismatches(cpu)).toEqual([]);
  });

  it('names the flag and the members where declarations and members disagree', () => {
    expect(capabilityMismatches(new UndeclaredCpu())).toEqual([
      'cpu: capabilities.fusedInference is false, but it has fusedLinear, ropeKvWrite, qkvRopeKvWrite',
      'cpu: capabilities.deviceSampler is false, but it has sample',
    ]);
    const half = Object.assign(new CpuBackend(), { capabilities: { fusedInference: true, deviceSampler: false, decodeGraphs: true } });
    expect(capabilityMismatches(half)).toEqual([
      'cpu: capabilities.deviceSampler is false, but it has sample',
      'cpu: capabilities.decodeGraphs is true, but captureGraph, overwrite, createSampleParams, sampleInto missing',
    ]);
  });

  it('generation reads the flags: undeclared, the unfused forward and the host sampler give the same tokens', () => {
    const declared = generateOn(new CpuBackend());
    const undeclared = generateOn(new UndeclaredCpu());
    expect(declared.fusedLinear).toBeGreaterThan(0);
    expect(declared.sample).toBeGreaterThan(0);
    expect([undeclared.fusedLinear, undeclared.sample]).toEqual([0, 0]);
    expect(undeclared.result.map((r) => r.tokens)).toEqual(declared.result.map((r) => r.tokens));
    const lp = (rs: typeof declared.result) => rs.flatMap((r) => r.logprobs ?? []);
    expect(lp(declared.result)).toHaveLength(10 + 10 + 8); // no EOS: every sample runs to maxNewTokens
    const diff = Math.max(...lp(undeclared.result).map((x, i) => Math.abs(x - lp(declared.result)[i])));
    expect(diff).toBeLessThanOrEqual(1e-5);
  });
});
