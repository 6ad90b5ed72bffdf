// Tests the CPU backend's pool of released arrays: what comes back, zeroed; what never does (foreign or small
// arrays, more than the cap); and that tensors made after a release start from zeros.
import { describe, expect, it } from 'vitest';
import { ArrayPool } from '../src/backends/cpu/array_pool.ts';
import { CpuBackend } from '../src/backends/cpu/index.ts';

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

  it('never keeps a foreign array, a small one, or more than its cap', () => {
    const pool = new ArrayPool(40000);
    pool.give(new Float32Array(4096)); // not made by the pool
    expect(pool.idleBytes()).toBe(0);
    const small = pool.take('f32', 16);
    pool.give(small);
    expect(pool.idleBytes()).toBe(0);
    const [x, y, z] = [pool.take('f32', 4096), pool.take('f32', 4096), pool.take('f32', 4096)];
    pool.give(x);
    pool.give(y);
    pool.give(z); // 3 × 16 KiB > 40000 bytes: dropped
    expect(pool.idleBytes()).toBe(32768);
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
