// Resident tensors: f32 arrays in the CPU kernels' shared memory, which kernels read in place.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import { gemm } from '../src/backends/cpu/gemm.ts';
import { gemmTs } from '../src/backends/cpu/gemm_ts.ts';
import { freeResident, residentF32, residentOffset, scratchBase } from '../src/backends/cpu/resident.ts';
import { signedStream } from '../src/tensor/rng.ts';

describe('resident f32 arrays', () => {
  it('come zeroed, are found by residentOffset, and a freed block is reused for the same size', () => {
    const a = residentF32(1000)!;
    expect(a).not.toBeNull();
    expect(a.every((x) => x === 0)).toBe(true);
    const at = residentOffset(a)!;
    expect(at).toBeGreaterThanOrEqual(65536);
    expect(residentOffset(new Float32Array(4))).toBeUndefined();
    a.fill(7);
    expect(freeResident(a)).toBe(true);
    expect(freeResident(a)).toBe(false); // once only
    const b = residentF32(1000)!;
    expect(residentOffset(b)).toBe(at);
    expect(b.every((x) => x === 0)).toBe(true); // the old contents are gone
    freeResident(b);
  });

  it("keep kernels' scratch above them, so a GEMM after an allocation leaves the resident data intact", () => {
    const before = scratchBase();
    const kept = residentF32(300_000)!;
    kept.fill(3);
    expect(scratchBase()).toBeGreaterThanOrEqual(before + 4 * 300_000);
    const r = signedStream(2);
    const [m, n, k] = [200, 300, 150];
    const a = Float32Array.from({ length: m * k }, () => r());
    const b = Float32Array.from({ length: k * n }, () => r());
    const [c1, c2] = [new Float32Array(m * n), new Float32Array(m * n)];
    const p = { batch: 1, m, n, k, transA: false, transB: false, strideA: 0, strideB: 0, strideOut: 0, accumulate: false };
    gemm({ ...p, a, b, out: c1 });
    gemmTs({ ...p, a, b, out: c2 });
    for (let i = 0; i < c1.length; i++) expect(Math.abs(c1[i] - c2[i])).toBeLessThan(1e-4);
    expect(kept.every((x) => x === 3)).toBe(true);
    freeResident(kept);
  });

  it("back the CPU backend's zerosResident and are returned when the tensor is disposed", () => {
    const be = new CpuBackend();
    const t = be.zerosResident([4, 8], 'f32');
    const data = t.storage.handle as Float32Array;
    const at = residentOffset(data);
    expect(at).toBeDefined();
    t.dispose();
    expect(residentOffset(data)).toBeUndefined();
    // Other dtypes are ordinary arrays.
    const d = be.zerosResident([4], 'f64');
    expect(residentOffset(d.storage.handle as Float64Array)).toBeUndefined();
    d.dispose();
  });
});
