// Tests the CPU backend's pool of released arrays: what comes back, zeroed; what never does (foreign or small
// arrays, more than the cap); that tensors made after a release start from zeros; and that every op whose output
// skips the zero-fill writes all of it, whatever the reused array held.
import { describe, expect, it } from 'vitest';
import { ArrayPool } from '../src/backends/cpu/array_pool.ts';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { signedStream } from '../src/tensor/rng.ts';

describe('cpu array pool', () => {
  it('hands a released array back, zero-filled, for the same type and length only', () => {
    const pool = new ArrayPool(1 << 20);
    const a = pool.take('f32', 4096);
    a.fill(7);
    pool.give(a);
    expect(pool.idleBytes()).toBe(16384);
    expect(pool.take('f32', 4095)).not.toBe(a);
    expect(pool.take('i32', 4096)).not.toBe(a);
    const again = pool.take('f32', 4096);
    expect(again).toBe(a);
    expect(again.every((x) => x === 0)).toBe(true);
    expect(pool.idleBytes()).toBe(0);
  });

  it('lets bf16 and f16 share their Uint16Array storage', () => {
    const pool = new ArrayPool(1 << 20);
    const a = pool.take('bf16', 8192);
    pool.give(a);
    expect(pool.take('f16', 8192)).toBe(a);
  });

  it('never keeps a foreign array or a small one, and lets go of everything idle rather than pass its cap', () => {
    const pool = new ArrayPool(40000);
    pool.give(new Float32Array(4096)); // not made by the pool
    expect(pool.idleBytes()).toBe(0);
    const small = pool.take('f32', 16);
    pool.give(small);
    expect(pool.idleBytes()).toBe(0);
    const [x, y, z] = [pool.take('f32', 4096), pool.take('f32', 4096), pool.take('f32', 4096)];
    pool.give(x);
    pool.give(y);
    expect(pool.idleBytes()).toBe(32768);
    pool.give(z); // 3 × 16 KiB > 40000 bytes: x and y go, z stays
    expect(pool.idleBytes()).toBe(16384);
    expect(pool.take('f32', 4096)).toBe(z);
    expect(pool.take('f32', 4096)).not.toBe(x);
  });

  it('gives a tensor made after a release zeros, not the released values', () => {
    const be = new CpuBackend();
    const a = be.full([64, 64], 3, 'f32');
    const before = a.storage.handle;
    a.dispose();
    const z = be.zeros([64, 64], 'f32');
    expect(z.storage.handle).toBe(before); // the same array, reused
    expect(Array.from(be.download(z) as Float32Array).every((v) => v === 0)).toBe(true);
  });
});

describe('ops that skip the zero-fill', () => {
  /** Runs `op` on a backend whose pool holds only NaN arrays of every size in play, and on a fresh one. */
  function sameAfterNaNs(op: (be: CpuBackend) => Tensor[]): void {
    const fresh = op(new CpuBackend()).map((t) => Array.from(t.backend.download(t) as Float32Array));
    const be = new CpuBackend();
    const sizes = op(be).map((t) => t.shape);
    // Made all at once, then released: several NaN arrays of each size wait in the pool.
    for (const t of sizes.flatMap((shape) => Array.from({ length: 8 }, () => be.full(shape, Number.NaN, 'f32')))) t.dispose();
    const reused = op(be).map((t) => Array.from(be.download(t) as Float32Array));
    expect(reused).toEqual(fresh);
    for (const out of reused) expect(out.some((v) => Number.isNaN(v))).toBe(false);
  }
  const r = signedStream(11);
  const data = (n: number) => Float32Array.from({ length: n }, () => r());
  const [x, w, gy, g, u] = [data(64 * 96), data(96), data(64 * 96), data(64 * 96), data(64 * 96)];
  const up = (be: CpuBackend, a: Float32Array, shape: number[]) => be.upload(a, shape, 'f32');

  it('matmul, binary, swiglu and its backward write every element', () => {
    sameAfterNaNs((be) => [be.matmul(up(be, x, [64, 96]), up(be, g, [64, 96]), false, true)]);
    sameAfterNaNs((be) => [be.binary('add', up(be, x, [64, 96]), up(be, w, [96])), be.binary('mul', up(be, x, [64, 96]), up(be, g, [64, 96]))]);
    sameAfterNaNs((be) => [be.swiglu(up(be, g, [64, 96]), up(be, u, [64, 96]))]);
    sameAfterNaNs((be) => Object.values(be.swigluBackward(up(be, gy, [64, 96]), up(be, g, [64, 96]), up(be, u, [64, 96]))));
  });

  it('rmsnorm, its backward and rope write every element', () => {
    sameAfterNaNs((be) => {
      const xs = up(be, x, [64, 96]), ws = up(be, w, [96]);
      const { y, rstd } = be.rmsnorm(xs, ws, 1e-6);
      const { gx, gw } = be.rmsnormBackward(up(be, gy, [64, 96]), xs, ws, rstd);
      return [y, rstd, gx, gw];
    });
    sameAfterNaNs((be) => [be.rope(up(be, x, [2, 32, 3, 32]), be.upload(Int32Array.from({ length: 64 }, (_, i) => i % 32), [2, 32], 'i32'), 10000, false)]);
  });
});
