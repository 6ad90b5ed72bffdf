// Tests gemm() against a naive triple loop: transposes, accumulate, batch strides/broadcast, offsets, odd sizes, f64.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gemm, gemmLastThreadsDispatched, gemmThreads, setGemmParallelMinFlops, setGemmThreads, warmGemmThreads,
  type FloatArray, type GemmParams,
} from '../src/backends/cpu/gemm.ts';
import { setGemmChunkBytes } from '../src/backends/cpu/gemm_wasm.ts';
import { uniformStream } from '../src/tensor/rng.ts';

function randomArray(f64: boolean, len: number, rand: () => number): FloatArray {
  const arr = f64 ? new Float64Array(len) : new Float32Array(len);
  for (let i = 0; i < len; i++) arr[i] = rand() * 2 - 1;
  return arr;
}

/** The obvious definition, in f64, plus Σ|a||b| per element (the scale that bounds rounding error). */
function reference(p: GemmParams): { value: Float64Array; scale: Float64Array } {
  const value = Float64Array.from(p.out);
  const scale = new Float64Array(p.out.length).map((_, i) => Math.abs(p.out[i]));
  const { m, n, k } = p;
  for (let bi = 0; bi < p.batch; bi++) {
    const ao = (p.aOffset ?? 0) + bi * p.strideA;
    const bo = (p.bOffset ?? 0) + bi * p.strideB;
    const oo = (p.outOffset ?? 0) + bi * p.strideOut;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let abs = 0;
        for (let q = 0; q < k; q++) {
          const x = p.a[ao + (p.transA ? q * m + i : i * k + q)];
          const y = p.b[bo + (p.transB ? j * k + q : q * n + j)];
          s += x * y;
          abs += Math.abs(x * y);
        }
        const o = oo + i * n + j;
        value[o] = p.accumulate ? value[o] + s : s;
        scale[o] = p.accumulate ? scale[o] + abs : abs;
      }
    }
  }
  return { value, scale };
}

interface Case {
  m: number;
  n: number;
  k: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
  broadcastA?: boolean;
  broadcastB?: boolean;
  /** Extra elements between batch items and before item 0, to exercise strides and offsets. */
  gap?: number;
  f64?: boolean;
  seed?: number;
}

/** Builds the operands of one case from a seeded generator. */
function makeCase(c: Case): GemmParams {
  const rand = uniformStream(c.seed ?? 1234 + c.m * 7 + c.n * 13 + c.k * 17);
  const f64 = c.f64 ?? false;
  const batch = c.batch ?? 1;
  const gap = c.gap ?? 0;
  const { m, n, k } = c;
  const strideA = c.broadcastA ? 0 : m * k + gap;
  const strideB = c.broadcastB ? 0 : k * n + gap;
  const strideOut = m * n + gap;
  return {
    a: randomArray(f64, gap + (batch - 1) * strideA + m * k + gap, rand),
    b: randomArray(f64, gap + (batch - 1) * strideB + k * n + gap, rand),
    out: randomArray(f64, gap + (batch - 1) * strideOut + m * n + gap, rand),
    batch, m, n, k,
    transA: c.transA ?? false,
    transB: c.transB ?? false,
    strideA, strideB, strideOut,
    aOffset: gap, bOffset: gap, outOffset: gap,
    accumulate: c.accumulate ?? false,
  };
}

/** The worst error as a multiple of the allowed error rel·Σ|a||b| (≤ 1 passes); NaN or Inf gives Infinity. */
function worstError(got: FloatArray, value: Float64Array, scale: Float64Array, rel: number): number {
  let worst = 0;
  for (let i = 0; i < value.length; i++) {
    const err = Math.abs(got[i] - value[i]);
    if (!(err <= Number.MAX_VALUE)) return Infinity;
    worst = Math.max(worst, err / (rel * scale[i] + 1e-30));
  }
  return worst;
}

/** Runs one case and returns the worst error as a multiple of the allowed error (≤ 1 passes). */
function runCase(c: Case): number {
  const p = makeCase(c);
  const { value, scale } = reference(p);
  gemm(p);
  // f32 rounds each product and partial sum at ~6e-8; 1e-5 of Σ|a||b| leaves room for k in the hundreds.
  return worstError(p.out, value, scale, c.f64 ? 1e-13 : 1e-5);
}

const oddSizes = [1, 3, 17, 63, 65, 129];

/** The suite, run once per thread configuration: every f32 case then goes through the same task split. */
function suite(name: string, threads: number): void {
  describe(name, () => {
    let savedThreads = 1;
    let savedMinFlops = 0;
    beforeAll(() => {
      savedThreads = gemmThreads();
      setGemmThreads(threads);
      // Split even the smallest problems so every shape below exercises the multi-threaded split.
      savedMinFlops = setGemmParallelMinFlops(0);
      if (threads > 1) expect(warmGemmThreads()).toBe(threads);
    });
    afterAll(() => {
      setGemmThreads(savedThreads);
      setGemmParallelMinFlops(savedMinFlops);
    });

    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const accumulate of [false, true]) {
          it(`matches the reference for transA=${transA} transB=${transB} accumulate=${accumulate} on odd sizes`, () => {
            for (const [m, n, k] of [[1, 1, 1], [3, 17, 63], [65, 3, 129], [17, 129, 3], [63, 65, 17], [129, 63, 65], [1, 129, 65], [65, 1, 17]]) {
              expect(runCase({ m, n, k, transA, transB, accumulate }), `m=${m} n=${n} k=${k}`).toBeLessThanOrEqual(1);
            }
          });
        }
      }
    }

    it('matches the reference on every combination of odd sizes (NN and TT)', () => {
      for (const m of oddSizes) for (const n of oddSizes) for (const k of oddSizes) {
        expect(runCase({ m, n, k }), `NN m=${m} n=${n} k=${k}`).toBeLessThanOrEqual(1);
        expect(runCase({ m, n, k, transA: true, transB: true, accumulate: true }), `TT m=${m} n=${n} k=${k}`).toBeLessThanOrEqual(1);
      }
    });

    it('handles batches with strides, gaps, offsets and broadcast operands', () => {
      for (const transA of [false, true]) for (const transB of [false, true]) {
        const base = { m: 17, n: 65, k: 63, batch: 3, transA, transB, gap: 5 };
        expect(runCase(base)).toBeLessThanOrEqual(1);
        expect(runCase({ ...base, accumulate: true })).toBeLessThanOrEqual(1);
        expect(runCase({ ...base, broadcastA: true })).toBeLessThanOrEqual(1);
        expect(runCase({ ...base, broadcastB: true, accumulate: true })).toBeLessThanOrEqual(1);
      }
    });

    it('crosses the cache-block edges (k > 256, n > 2048, m > 128)', () => {
      for (const transA of [false, true]) for (const transB of [false, true]) {
        expect(runCase({ m: 130, n: 9, k: 517, transA, transB, accumulate: true }), `k=517 ${transA} ${transB}`).toBeLessThanOrEqual(1);
        expect(runCase({ m: 5, n: 2061, k: 3, transA, transB })).toBeLessThanOrEqual(1);
      }
    });

    it('splits many batch items into groups and big batches into chunks', () => {
      for (const transB of [false, true]) {
        expect(runCase({ m: 9, n: 17, k: 33, batch: 12, transB, gap: 2 })).toBeLessThanOrEqual(1);
        expect(runCase({ m: 9, n: 17, k: 33, batch: 12, transB, broadcastA: true, accumulate: true })).toBeLessThanOrEqual(1);
      }
      // Room for about 3 items per copy round: 7 items take 3 rounds, broadcast operands stay resident.
      const saved = setGemmChunkBytes(3 * 4 * (9 * 33 + 33 * 17 + 9 * 17));
      try {
        expect(runCase({ m: 9, n: 17, k: 33, batch: 7, gap: 1, accumulate: true })).toBeLessThanOrEqual(1);
        expect(runCase({ m: 9, n: 17, k: 33, batch: 7, broadcastB: true, transA: true })).toBeLessThanOrEqual(1);
      } finally {
        setGemmChunkBytes(saved);
      }
    });

    it('sums over the batch into one output when strideOut is 0 and accumulate is set (and keeps the last item without)', () => {
      for (const accumulate of [true, false]) {
        const m = 70, n = 7, k = 3, batch = 4; // 70 rows: two row blocks, each running the items in order
        const rand = uniformStream(99);
        const p: GemmParams = {
          a: randomArray(false, batch * m * k, rand), b: randomArray(false, batch * k * n, rand),
          out: randomArray(false, m * n, rand), batch, m, n, k, transA: false, transB: false,
          strideA: m * k, strideB: k * n, strideOut: 0, accumulate,
        };
        const { value, scale } = reference(p);
        gemm(p);
        expect(worstError(p.out, value, scale, 1e-5), `accumulate=${accumulate}`).toBeLessThanOrEqual(1);
      }
    });

    it('gives partly overlapping output items their sequential meaning', () => {
      // strideOut = n: item 1 starts one row below item 0, so the two share m-1 rows and accumulate in order.
      const m = 3, n = 5, k = 4, batch = 2;
      const rand = uniformStream(5);
      const p: GemmParams = {
        a: randomArray(false, batch * m * k, rand), b: randomArray(false, batch * k * n, rand),
        out: randomArray(false, (m + 1) * n, rand), batch, m, n, k, transA: false, transB: true,
        strideA: m * k, strideB: k * n, strideOut: n, accumulate: true,
      };
      const { value, scale } = reference(p);
      gemm(p);
      expect(worstError(p.out, value, scale, 1e-5)).toBeLessThanOrEqual(1);
    });

    it('computes f64 to f64 precision, including transposes and batches', () => {
      for (const transA of [false, true]) for (const transB of [false, true]) {
        expect(runCase({ m: 65, n: 17, k: 129, transA, transB, f64: true })).toBeLessThanOrEqual(1);
        expect(runCase({ m: 3, n: 63, k: 17, batch: 2, gap: 3, transA, transB, accumulate: true, broadcastB: true, f64: true })).toBeLessThanOrEqual(1);
      }
    });

    it('overwrites NaN in out when accumulate is false and k is 0 or positive', () => {
      const out = new Float32Array([NaN, NaN, NaN, NaN]);
      gemm({ a: new Float32Array(0), b: new Float32Array(0), out, batch: 1, m: 2, n: 2, k: 0, transA: false, transB: false,
        strideA: 0, strideB: 0, strideOut: 4, accumulate: false });
      expect(Array.from(out)).toEqual([0, 0, 0, 0]);
    });

    it('rejects mismatched types and out-of-range spans with a message naming the field', () => {
      const f32 = new Float32Array(6);
      const base = { a: f32, b: f32, out: f32, batch: 1, m: 2, n: 3, k: 3, transA: false, transB: false, strideA: 6, strideB: 9, strideOut: 6, accumulate: false };
      expect(() => gemm(base)).toThrow(/'b' has 6 elements.*needs 9/);
      expect(() => gemm({ ...base, k: 1, b: new Float64Array(3) })).toThrow(/'b' must be a Float32Array/);
      expect(() => gemm({ ...base, k: 1, m: 2.5 })).toThrow(/'m' must be a non-negative integer/);
      expect(() => gemm({ ...base, k: 1, batch: 2, strideA: 0, strideB: 0 })).toThrow(/'out' has 6 elements/);
    });

    if (threads > 1) {
      it('hands the task queue to every worker, and the results match the reference', () => {
        // Which thread runs which task is the OS's choice (on a busy machine the main thread may take them all),
        // so this asserts the dispatch: every worker was woken with the queue and acknowledged it.
        const p = makeCase({ m: 520, n: 250, k: 300, transB: true, seed: 7 });
        const { value, scale } = reference(p);
        p.out.fill(Number.NaN);
        gemm(p);
        expect(gemmLastThreadsDispatched()).toBe(threads);
        expect(worstError(p.out, value, scale, 1e-5)).toBeLessThanOrEqual(1);
        // One task (a single 64-row block) has nobody to share it with: the main thread keeps it.
        gemm(makeCase({ m: 8, n: 8, k: 8 }));
        expect(gemmLastThreadsDispatched()).toBe(1);
      });
    }
  });
}

suite('cpu gemm, main thread only', 1);
suite('cpu gemm, two threads', 2);

describe('cpu gemm in an esbuild bundle', () => {
  // The GPU machine runs esbuild bundles, so the inlined worker and the embedded WASM must survive bundling.
  // It also runs each build of the kernel module (kernel_module.ts): the relaxed-SIMD one by default where this
  // Node validates it (V8 ≥ 11.3 behind its flag), and the plain one when STILL_CPU_FMA=0 asks for it.
  it('runs on two threads from a bundled script and matches the TS path, with and without fused multiply-add', async () => {
    const entry = `
      import { gemm, gemmLastThreadsDispatched, setGemmParallelMinFlops, setGemmThreads, warmGemmThreads } from './src/backends/cpu/gemm.ts';
      import { getPool } from './src/backends/cpu/gemm_pool.ts';
      import { gemmTs } from './src/backends/cpu/gemm_ts.ts';
      setGemmThreads(2);
      setGemmParallelMinFlops(0);
      const threads = warmGemmThreads();
      const m = 200, n = 150, k = 300;
      const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
      const p = { a, b, batch: 1, m, n, k, transA: false, transB: true, strideA: 0, strideB: 0, strideOut: 0, accumulate: false };
      const want = new Float32Array(m * n);
      gemmTs({ ...p, out: want });
      const out = new Float32Array(m * n);
      gemm({ ...p, out });
      const dispatched = gemmLastThreadsDispatched();
      let worst = 0;
      for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(out[i] - want[i]));
      console.log(JSON.stringify({ threads, dispatched, worst, flavour: getPool().flavour }));
      process.exit(0);
    `;
    const bundled = await build({
      stdin: { contents: entry, resolveDir: join(import.meta.dirname, '..'), loader: 'ts', sourcefile: 'bundle_entry.ts' },
      bundle: true, platform: 'node', format: 'esm', write: false, logLevel: 'silent',
    });
    const dir = mkdtempSync(join(tmpdir(), 'still-gemm-bundle-'));
    try {
      const file = join(dir, 'entry.mjs');
      writeFileSync(file, bundled.outputFiles[0].contents);
      const [v8Major, v8Minor] = process.versions.v8.split('.').map(Number);
      const fmaHere = v8Major > 11 || (v8Major === 11 && v8Minor >= 3);
      for (const [fma, want] of [['1', fmaHere ? 'fma' : 'plain'], ['0', 'plain']]) {
        const env = { ...process.env, STILL_CPU_FMA: fma };
        const result = JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000, env }));
        expect(result.flavour, `STILL_CPU_FMA=${fma}`).toBe(want);
        expect(result.threads).toBe(2);
        expect(result.dispatched).toBe(2);
        // |values| reach ~20 here (k = 300 products of sines and cosines); f32 sums differ from f64 ones by ~1e-5.
        expect(result.worst).toBeLessThan(1e-3);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
