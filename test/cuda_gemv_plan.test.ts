// The fused GEMV's launch plan (src/backends/cuda/gemv_plan.ts): when a decode-step projection runs as the
// GEMV rather than cuBLASLt, and that its grid covers every column with the same work per block.
import { describe, expect, it } from 'vitest';
import { GEMV_MAX_COLUMNS, GEMV_MAX_ROWS, gemvPlan } from '../src/backends/cuda/gemv_plan.ts';

const SMS = 132;

describe('gemv plan', () => {
  it("takes Qwen2.5-0.5B's decode projections at m = 1 and leaves the LM head to cuBLASLt", () => {
    for (const [n, k] of [[1152, 896], [896, 896], [9728, 896], [896, 4864]]) {
      expect(gemvPlan(1, n, k, 'bf16', SMS), `${n}×${k}`).not.toBeNull();
    }
    expect(gemvPlan(1, 151936, 896, 'bf16', SMS)).toBeNull();
    expect(gemvPlan(1, GEMV_MAX_COLUMNS, 896, 'bf16', SMS)).not.toBeNull();
    expect(gemvPlan(1, GEMV_MAX_COLUMNS + 1, 896, 'bf16', SMS)).toBeNull();
  });

  it('takes up to 8 rows, whole 16-byte chunks of K, and the dtypes it is built for', () => {
    expect(gemvPlan(GEMV_MAX_ROWS, 896, 896, 'bf16', SMS)?.maxRows).toBe(8);
    expect(gemvPlan(3, 896, 896, 'bf16', SMS)?.maxRows).toBe(4);
    expect(gemvPlan(GEMV_MAX_ROWS + 1, 896, 896, 'bf16', SMS)).toBeNull();
    expect(gemvPlan(1, 896, 900, 'bf16', SMS)).toBeNull(); // 900 bf16 is not whole 8-element chunks
    expect(gemvPlan(1, 896, 900, 'f32', SMS)).not.toBeNull(); // 4-element chunks
    expect(gemvPlan(1, 896, 896, 'f16', SMS)).toBeNull();
    expect(gemvPlan(8, 896, 8192, 'f32', SMS)).toBeNull(); // 256 KiB of staged rows: over the shared budget
  });

  it('covers every column group in equal rounds, with no more blocks than fit at once and none idle', () => {
    for (const [m, n, k] of [[1, 1152, 896], [1, 9728, 896], [4, 896, 4864], [1, 32768, 896], [8, 77, 64]]) {
      const p = gemvPlan(m, n, k, 'bf16', SMS)!;
      expect(8 % p.splitK).toBe(0);
      const groups = Math.ceil(n / (8 / p.splitK)); // a group = the columns one block's warps take in a round
      const rounds = Math.ceil(groups / p.blocks);
      expect(p.blocks).toBeLessThanOrEqual(3 * SMS);
      expect(p.blocks * rounds).toBeGreaterThanOrEqual(groups);
      expect((p.blocks - 1) * rounds).toBeLessThan(groups); // the last block has work in its first round
    }
  });
});
