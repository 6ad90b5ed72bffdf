// The CUDA backend's host-side logic, which needs no GPU and no compiler: library discovery, status-code
// errors, the caching allocator's bookkeeping, the layout plans, the committed PTX, and how `still` behaves
// on a machine without CUDA (the fallback notice and the `still info` line).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CachingAllocator, sizeClass, type DeviceMemory } from '../src/backends/cuda/allocator.ts';
import { CudaError, CU_RESULT_NAMES, checkStatus } from '../src/backends/cuda/errors.ts';
import { ENTRIES, PTX, SOURCE_HASH, SOURCES } from '../src/backends/cuda/kernels.gen.ts';
import { DECODE_HEAD_DIMS, decodePlan, decodeSharedBytes } from '../src/backends/cuda/decode_plan.ts';
import { broadcastPlan, permutePlan, reducePlan } from '../src/backends/cuda/layout_plan.ts';
import { packSampleParams, rowNeeds, SAMPLE_BINS, SAMPLE_MAX_CHUNK, SAMPLE_SUB_BINS, samplePlan, sampleScratch } from '../src/backends/cuda/sample_plan.ts';
import type { SampleRow } from '../src/backends/backend.ts';
import { bucketSizes } from '../src/sample/decode_graph.ts';
import { LIBCUBLASLT, LIBCUDA, libraryCandidates, notFoundMessage, searchDirs, type FileSystem } from '../src/backends/cuda/libraries.ts';
import { openBackend, probeBackends } from '../src/backends/select.ts';
import { broadcastStrides, numel, stridesOf } from '../src/tensor/shape.ts';

const root = join(import.meta.dirname, '..');

/** A fake file system: a set of existing files and the folders that contain them. */
function fakeFs(files: string[]): FileSystem {
  return {
    exists: (p) => files.includes(p),
    list: (dir) => [...new Set(files.filter((f) => f.startsWith(`${dir}/`)).map((f) => f.slice(dir.length + 1).split('/')[0]))],
  };
}

describe('library discovery', () => {
  const files = [
    '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
    '/usr/local/cuda-12.4/targets/x86_64-linux/lib/libcublasLt.so.12',
    '/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublasLt.so.13',
    '/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13',
    '/opt/venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.13',
    '/home/u/libs/libcuda.so.1',
  ];
  const fs = fakeFs(files);

  it('searches STILL_CUDA_LIB_DIR, LD_LIBRARY_PATH, system, toolkit (newest first), then pip wheels', () => {
    const dirs = searchDirs({ LD_LIBRARY_PATH: '/a:/b', VIRTUAL_ENV: '/opt/venv', HOME: '/home/u' }, fs);
    expect(dirs.slice(0, 3)).toEqual(['/a', '/b', '/usr/lib/x86_64-linux-gnu']);
    const i13 = dirs.indexOf('/usr/local/cuda-13.0/targets/x86_64-linux/lib');
    const i12 = dirs.indexOf('/usr/local/cuda-12.4/targets/x86_64-linux/lib');
    expect(i13).toBeGreaterThan(0);
    expect(i13).toBeLessThan(i12);
    expect(dirs).toContain('/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib');
    expect(dirs.indexOf('/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib')).toBeGreaterThan(i12);
  });

  it('prefers the newest soname, then falls back to the bare names for the dynamic loader', () => {
    const c = libraryCandidates(LIBCUBLASLT, { VIRTUAL_ENV: '/opt/venv' }, fs);
    expect(c[0]).toBe('/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublasLt.so.13');
    expect(c).toContain('/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13');
    expect(c.indexOf('/usr/local/cuda-12.4/targets/x86_64-linux/lib/libcublasLt.so.12')).toBeGreaterThan(c.indexOf('/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13'));
    expect(c.slice(-3)).toEqual(['libcublasLt.so.13', 'libcublasLt.so.12', 'libcublasLt.so']);
  });

  it('uses only STILL_CUDA_LIB_DIR when it is set', () => {
    expect(libraryCandidates(LIBCUDA, { STILL_CUDA_LIB_DIR: '/home/u/libs' }, fs)).toEqual(['/home/u/libs/libcuda.so.1']);
    expect(libraryCandidates(LIBCUDA, { STILL_CUDA_LIB_DIR: '/nowhere' }, fs)).toEqual([]);
  });

  it('says what was missing and where it looked, in one line', () => {
    const m = notFoundMessage(LIBCUDA, {}, 'Failed to load shared library: cannot open shared object file: No such file or directory');
    expect(m).toBe('the CUDA driver (libcuda.so.1) was not found (searched STILL_CUDA_LIB_DIR, LD_LIBRARY_PATH, /usr/lib/x86_64-linux-gnu, /usr/local/cuda*, pip nvidia/*/lib)');
    expect(notFoundMessage(LIBCUDA, { STILL_CUDA_LIB_DIR: '/x' }, 'wrong ELF class: ELFCLASS32')).toBe(
      'the CUDA driver (libcuda.so.1) was not found (searched STILL_CUDA_LIB_DIR=/x): wrong ELF class: ELFCLASS32');
  });
});

describe('status codes as errors', () => {
  it('names the call, the status and its description', () => {
    const namer = { name: (c: number) => (c === 2 ? 'CUDA_ERROR_OUT_OF_MEMORY' : null), describe: () => 'out of memory' };
    expect(() => checkStatus('cuMemAlloc_v2(64 bytes)', 2, namer, CU_RESULT_NAMES)).toThrow('cuMemAlloc_v2(64 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory');
    expect(() => checkStatus('x', 0, namer, CU_RESULT_NAMES)).not.toThrow();
  });

  it('falls back to our table when the library cannot name the code', () => {
    const broken = { name: () => { throw new Error('no symbol'); } };
    try {
      checkStatus('cuLaunchKernel(k)', 700, broken, CU_RESULT_NAMES);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CudaError);
      expect((e as CudaError).message).toBe('cuLaunchKernel(k) failed: CUDA_ERROR_ILLEGAL_ADDRESS (700)');
      expect((e as CudaError).code).toBe(700);
    }
    expect(() => checkStatus('f', 12345, {}, CU_RESULT_NAMES)).toThrow('f failed: unknown status (12345)');
  });
});

/** A fake device: hands out increasing addresses and counts, with an optional capacity. */
function fakeDevice(capacity = Infinity): DeviceMemory & { live: Map<bigint, number>; allocs: number } {
  let next = 0x1000n;
  const live = new Map<bigint, number>();
  return {
    live,
    allocs: 0,
    alloc(bytes) {
      const used = [...live.values()].reduce((a, b) => a + b, 0);
      if (used + bytes > capacity) throw new Error('cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2)');
      const p = next;
      next += BigInt(bytes) + 0x1000n;
      live.set(p, bytes);
      this.allocs++;
      return p;
    },
    free(p) {
      if (!live.delete(p)) throw new Error('double free on the device');
    },
  };
}

describe('caching allocator', () => {
  it('rounds to size classes with bounded waste', () => {
    expect(sizeClass(1)).toBe(512);
    expect(sizeClass(513)).toBe(1024);
    expect(sizeClass(3 << 20)).toBe(3 << 20);
    for (const n of [1 << 20, 1.3e6, 7.7e7, 5e9]) {
      expect(sizeClass(n)).toBeGreaterThanOrEqual(n);
      expect(sizeClass(n) / n).toBeLessThanOrEqual(1.25);
    }
  });

  it('reuses freed blocks, so a repeated step allocates nothing new and memory stays flat', () => {
    const dev = fakeDevice();
    const a = new CachingAllocator(dev);
    const step = () => {
      const blocks = [100, 5000, 5000, 1 << 22, 777].map((n) => a.alloc(n));
      for (const b of blocks) a.release(b);
    };
    step();
    const first = a.stats();
    for (let i = 0; i < 10; i++) step();
    const s = a.stats();
    expect(dev.allocs).toBe(first.deviceAllocs);
    expect(s.inUse).toBe(0);
    expect(s.reserved).toBe(first.reserved);
    expect(s.cached).toBe(s.reserved);
    expect(s.cacheHits).toBe(50);
    expect(s.peakInUse).toBe(first.peakInUse);
  });

  it('tracks peak and in-use bytes, and refuses double frees', () => {
    const a = new CachingAllocator(fakeDevice());
    const x = a.alloc(1000);
    const y = a.alloc(3000);
    expect(a.stats().inUse).toBe(1024 + 3072);
    a.release(x);
    expect(a.stats().inUse).toBe(3072);
    expect(a.stats().peakInUse).toBe(4096);
    expect(() => a.release(x)).toThrow(/not live \(double free\?\)/);
    a.release(y);
  });

  it('starts the peaks over from current use on resetPeaks (a timed phase reports its own peak)', () => {
    const a = new CachingAllocator(fakeDevice());
    a.release(a.alloc(1 << 20)); // an earlier, larger phase
    const x = a.alloc(1000);
    expect(a.stats().peakInUse).toBe(1 << 20);
    a.resetPeaks();
    expect(a.stats().peakInUse).toBe(1024);
    expect(a.stats().peakReserved).toBe((1 << 20) + 1024); // still held from the device: cached + live
    const y = a.alloc(3000);
    a.release(y);
    expect(a.stats().peakInUse).toBe(1024 + 3072);
    a.release(x);
  });

  it('empties the cache and retries once when the device is out of memory', () => {
    const dev = fakeDevice(4096);
    const a = new CachingAllocator(dev);
    a.release(a.alloc(3000)); // 3072 cached
    const b = a.alloc(2000); // needs 2048: does not fit beside the cached block until the cache is emptied
    expect(b.bytes).toBe(2048);
    expect(a.stats().cached).toBe(0);
    expect(dev.live.size).toBe(1);
    expect(() => a.alloc(4096)).toThrow(/OUT_OF_MEMORY/);
  });
});

/** Brute-force element offsets for a plan, to compare with the plain row-major definition. */
function offsets(dims: number[], strides: number[]): number[] {
  const out: number[] = [];
  const n = numel(dims);
  for (let i = 0; i < n; i++) {
    let rest = i;
    let off = 0;
    for (let d = dims.length - 1; d >= 0; d--) {
      off += (rest % dims[d]) * strides[d];
      rest = Math.floor(rest / dims[d]);
    }
    out.push(off);
  }
  return out;
}

describe('layout plans', () => {
  it('broadcast plans index exactly like NumPy broadcasting, with dims merged', () => {
    const cases: [number[], number[]][] = [[[2, 3, 4], [4]], [[2, 3, 4], [3, 1]], [[2, 1, 4], [5, 1]], [[6, 1, 2, 3], [1, 4, 1, 3]], [[3, 4], [1]]];
    for (const [a, b] of cases) {
      const out = a.length >= b.length ? a.map((d, i) => Math.max(d, b[i - (a.length - b.length)] ?? 1)) : b;
      const p = broadcastPlan(a, b, out);
      expect(p.rank).toBeLessThanOrEqual(out.length);
      expect(offsets(p.dims, p.sa)).toEqual(offsets(out, broadcastStrides(a, out)));
      expect(offsets(p.dims, p.sb)).toEqual(offsets(out, broadcastStrides(b, out)));
    }
    expect(broadcastPlan([2, 3], [2, 3], [2, 3]).rank).toBe(0);
    expect(broadcastPlan([8, 16, 32], [32], [8, 16, 32]).dims).toEqual([128, 32]);
  });

  it('permute plans read the input in the permuted order', () => {
    const cases: [number[], number[]][] = [[[2, 3, 4, 5], [0, 2, 1, 3]], [[2, 3, 4], [2, 1, 0]], [[4, 1, 3], [1, 2, 0]], [[2, 3, 4, 5], [0, 1, 3, 2]]];
    for (const [shape, perm] of cases) {
      const p = permutePlan(shape, perm);
      const s = stridesOf(shape);
      expect(offsets(p.dims, p.strides)).toEqual(offsets(perm.map((x) => shape[x]), perm.map((x) => s[x])));
    }
    expect(permutePlan([2, 3, 4, 5], [0, 2, 1, 3]).dims).toEqual([2, 4, 3, 5]);
    expect(permutePlan([2, 3, 4], [0, 1, 2]).dims).toEqual([24]);
  });

  it('reduce plans visit each input element exactly once, grouped by output', () => {
    const cases: [number[], number[]][] = [[[2, 3, 4], [1]], [[2, 3, 4], [0, 2]], [[5, 6], [0]], [[2, 3, 4, 5], [1, 2]], [[3, 1, 2], [1]]];
    for (const [shape, axes] of cases) {
      const p = reducePlan(shape, axes);
      const seen = new Set<number>();
      for (const o of offsets(p.keptDims, p.keptStrides)) for (const r of offsets(p.redDims, p.redStrides)) seen.add(o + r);
      expect(seen.size).toBe(numel(shape));
      expect(p.nOut * p.redCount).toBe(numel(shape));
    }
    expect(reducePlan([8, 16, 32], [0, 1])).toMatchObject({ keptDims: [32], redDims: [128], redStrides: [32] });
  });
});

describe('decode attention and sampler plans', () => {
  it('splits a slot into enough blocks to fill the GPU, never below 32 positions, one split when counters run out', () => {
    // H200: 132 SMs; D 64 blocks take 39 KiB of shared memory, so 5 fit per SM: one wave is 660 blocks.
    expect(decodeSharedBytes(64)).toBe((16 + 256) * 72 * 2);
    expect(decodePlan(64, 2, 7, 64, 1024, 132, 1 << 16)).toEqual({ splits: 5, z: 2 });
    expect(decodePlan(1, 2, 7, 64, 1024, 132, 1 << 16)).toEqual({ splits: 32, z: 2 });
    expect(decodePlan(1, 2, 7, 64, 40, 132, 1 << 16)).toEqual({ splits: 2, z: 2 });
    expect(decodePlan(4096, 2, 7, 64, 4096, 132, 1 << 16)).toEqual({ splits: 1, z: 2 });
    expect(decodePlan(64, 2, 20, 128, 1024, 132, 1 << 16).z).toBe(4); // 20 heads per kv head: two chunks of 16
    expect(decodePlan(40000, 2, 7, 64, 1024, 1000, 1 << 16).splits).toBe(1); // 80000 (row, head) pairs > counters
  });

  it('cuts the vocabulary into blocks of whole Philox groups, about one wave in all', () => {
    for (const [rows, vocab] of [[64, 151936], [1, 151936], [3, 300], [17, 5003]]) {
      const p = samplePlan(rows, vocab, 132);
      expect(p.chunk % 4).toBe(0);
      expect(p.chunk).toBeLessThanOrEqual(SAMPLE_MAX_CHUNK);
      expect(p.chunks).toBe(Math.ceil(vocab / p.chunk));
    }
    expect(samplePlan(64, 151936, 132)).toEqual({ chunk: 4096, chunks: 38 });
    expect(samplePlan(1, 151936, 132)).toEqual({ chunk: 1024, chunks: 149 });
    const lay = sampleScratch(64, 151936, 38);
    const offsets = [lay.statD, lay.statI, lay.counts, lay.histC, lay.histM, lay.subC, lay.subM, lay.plan, lay.planD, lay.cuts, lay.cand, lay.raceD, lay.raceI];
    expect(offsets.every((o) => o % 256 === 0)).toBe(true);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    // Each array has room for its [rows, ...] shape (sample.cu: kBins 2048, kSub 512, kPlanInts 16, kPlanDoubles 4).
    expect(lay.subC - lay.histM).toBeGreaterThanOrEqual(64 * 2048 * 8);
    expect(lay.subM - lay.subC).toBeGreaterThanOrEqual(64 * 512 * 4);
    expect(lay.plan - lay.subM).toBeGreaterThanOrEqual(64 * 512 * 8);
    expect(lay.planD - lay.plan).toBeGreaterThanOrEqual(64 * 16 * 4);
    expect(lay.cuts - lay.planD).toBeGreaterThanOrEqual(64 * 4 * 8);
    expect(lay.cand - lay.cuts).toBeGreaterThanOrEqual(64 * 4 * 8);
    expect(lay.raceD - lay.cand).toBeGreaterThanOrEqual(64 * 151936 * 4);
    expect(lay.bytes - lay.raceI).toBeGreaterThanOrEqual(64 * 38 * 4);
  });

  it('lays out the scratch with the sizes sample.cu uses', () => {
    const cu = SOURCES['sample.cu'];
    expect(cu).toContain(`constexpr int kMaxChunk = ${SAMPLE_MAX_CHUNK};`);
    expect(cu).toContain(`constexpr int kBins = ${SAMPLE_BINS};`);
    expect(cu).toContain(`constexpr int kSubBits = ${Math.log2(SAMPLE_SUB_BINS)};`);
    expect(cu).toMatch(/kPlanInts = 16;/);
    expect(cu).toMatch(/kPlanDoubles = 4;/);
  });

  const row = (extra: Partial<SampleRow>): SampleRow => ({
    temperature: 0.7, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, penalized: new Int32Array(0), key: [5, 6], counter: [1, 2, 3], ...extra,
  });

  it('packs rows as the kernels read them, pads with greedy rows, and checks like the CPU sampler', () => {
    const p = packSampleParams([row({ repetitionPenalty: 1.2, penalized: Int32Array.from([4, 9]) }), row({ topK: 40, penalized: Int32Array.from([1]) })], 100, 3);
    expect([...p.dparams]).toEqual([0.7, 1, 0, 1.2, 0.7, 1, 0, 1, 0, 1, 0, 1]);
    expect([...p.iparams.slice(0, 8)]).toEqual([0, 5, 6, 1, 2, 3, 0, 2]);
    expect([...p.iparams.slice(8, 16)]).toEqual([40, 5, 6, 1, 2, 3, 2, 0]); // no penalty: its list is not sent
    expect([...p.penalized]).toEqual([4, 9]);
    expect(() => packSampleParams([row({ topP: 0 })], 100)).toThrow('sampler: topP must be in (0, 1], got 0');
    expect(() => packSampleParams([row({ repetitionPenalty: 2, penalized: Int32Array.from([100]) })], 100)).toThrow('penalized id 100 is outside the vocabulary [0, 100)');
    expect(() => packSampleParams([row({ repetitionPenalty: 2, penalized: Int32Array.from([1, 2, 3]) })], 100, 1, 2)).toThrow('3 penalized ids do not fit the 2');
    expect(rowNeeds(row({ temperature: 0, topP: 0.5 }), 100)).toEqual({ select: false, filtered: false });
    expect(rowNeeds(row({}), 100)).toEqual({ select: false, filtered: false });
    expect(rowNeeds(row({ minP: 0.1 }), 100)).toEqual({ select: false, filtered: true });
    expect(rowNeeds(row({ topK: 100 }), 100)).toEqual({ select: false, filtered: false }); // k ≥ V keeps everything
    expect(rowNeeds(row({ topK: 5 }), 100)).toEqual({ select: true, filtered: true });
  });

  it('captures decode graphs per power-of-two bucket up to maxBatch', () => {
    expect(bucketSizes(1)).toEqual([1]);
    expect(bucketSizes(64)).toEqual([1, 2, 4, 8, 16, 32, 64]);
    expect(bucketSizes(48)).toEqual([1, 2, 4, 8, 16, 32, 48]);
  });
});

describe('committed PTX', () => {
  const kernelDir = join(root, 'kernels', 'cuda');
  const files = readdirSync(kernelDir).filter((f) => f.endsWith('.cu') || f.endsWith('.cuh')).sort();

  it('was built from the kernel sources as they are now (else run npm run build:kernels)', () => {
    const hash = createHash('sha256');
    for (const f of files) hash.update(`${f}\0${readFileSync(join(kernelDir, f), 'utf8')}\0`);
    expect(hash.digest('hex')).toBe(SOURCE_HASH);
    for (const f of files) expect(SOURCES[f]).toBe(readFileSync(join(kernelDir, f), 'utf8'));
  });

  it('has a module per .cu whose .entry list matches ENTRIES and covers every dtype variant the backend launches', () => {
    for (const f of files.filter((x) => x.endsWith('.cu'))) {
      const m = f.slice(0, -3);
      expect(PTX[m]).toMatch(/^\/\/\n\/\/ Generated by NVIDIA NVVM Compiler/);
      expect(PTX[m]).toMatch(/\.target sm_80/);
      const entries = [...PTX[m].matchAll(/\.entry\s+(\w+)\s*\(/g)].map((x) => x[1]);
      expect(entries.sort()).toEqual([...ENTRIES[m]].sort());
    }
    const all = new Set(Object.values(ENTRIES).flat());
    const needed = [
      ...['f32', 'bf16', 'f16'].flatMap((t) => [
        `binary_${t}`, `unary_${t}`, `affine_${t}`, `swiglu_${t}`, `swiglu_backward_${t}`, `sum_thread_${t}`, `sum_block_${t}`,
        `sum_squares_${t}`, `embedding_${t}`, `embedding_backward_${t}`, `rmsnorm_${t}`, `rmsnorm_backward_${t}`,
        `rmsnorm_backward_weight_${t}`, `rope_${t}`, `cross_entropy_${t}`, `cross_entropy_backward_${t}`, `adamw_${t}`,
        `attention_fwd_${t}`, `attention_delta_${t}`, `attention_bwd_dq_${t}`, `attention_bwd_dkv_${t}`, `gemm_${t}`, `slot_attention_${t}`,
        ...['stats', 'hist', 'select', 'race', 'finish'].map((k) => `sample_${k}_${t}`),
      ]),
      ...['bf16', 'f16'].flatMap((t) => [64, 128].flatMap((d) => [`flash_fwd_${t}_d${d}`, `flash_bwd_dq_${t}_d${d}`, `flash_bwd_dkv_${t}_d${d}`])),
      ...['bf16', 'f16'].flatMap((t) => [...DECODE_HEAD_DIMS].map((d) => `slot_decode_${t}_d${d}`)),
      ...['bf16', 'f16'].flatMap((t) => [`flash_fwd_${t}_d64_q64`, `flash_dkv_reduce_${t}`]),
      ...['b16', 'b32'].flatMap((b) => [`permute_${b}`, `copy2d_${b}`, `kv_write_${b}`]),
      'segment_bounds',
      ...['f32', 'bf16', 'f16', 'i32'].flatMap((s) => ['f32', 'bf16', 'f16', 'i32'].filter((d) => d !== s).map((d) => `cast_${s}_${d}`)),
    ];
    expect(needed.filter((n) => !all.has(n))).toEqual([]);
  });
});

describe('without a CUDA driver', () => {
  // On a machine with a working driver these checks do not apply (and report as skipped).
  const noCuda = !probeBackends().find((a) => a.name === 'cuda')?.available;

  it.skipIf(!noCuda)('--backend auto falls back to the CPU with one notice line naming the reason', () => {
    const notices: string[] = [];
    const be = openBackend('auto', (l) => notices.push(l));
    expect(be.name).toBe('cpu');
    const cuda = notices.filter((n) => n.includes('cuda'));
    expect(cuda).toHaveLength(1);
    expect(cuda[0]).toBe('still: no cuda backend (the CUDA driver (libcuda.so.1) was not found); using cpu (`still info` says why)');
    expect(() => openBackend('cuda')).toThrow(/libcuda\.so\.1/);
    const info = probeBackends().find((a) => a.name === 'cuda');
    expect(info).toMatchObject({ available: false });
  });

  it.skipIf(!noCuda)('`still info` lists cuda as unavailable, with the reason, and cpu as available', () => {
    const out = execFileSync('node', [join(root, 'bin', 'still.js'), 'info'], { encoding: 'utf8', env: { ...process.env, STILL_CUDA_LIB_DIR: '' } });
    expect(out).toMatch(/^✗ cuda {4}the CUDA driver \(libcuda\.so\.1\) was not found/m);
    expect(out).toMatch(/^✓ cpu /m);
  });
});
