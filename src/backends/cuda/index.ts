// The CUDA backend: the Backend interface on an NVIDIA GPU through the driver API (driver.ts), our PTX
// kernels (kernels/cuda, loaded by kernels.ts) and cuBLASLt GEMMs (cublaslt.ts).
//
// Dtype policy
// - Storage types: f32, bf16, f16 and i32 (f64 is CPU-only: it exists for gradient checks). Kernels read
//   their storage type, compute in f32 and write their storage type; reductions accumulate in f32.
// - Model weights and activations are meant to be bf16 (tensor-core GEMMs and attention); trainable
//   parameters keep f32 master copies, and AdamW wants p, m, v in f32 (the gradient may be any float).
//   f32 tensors work everywhere too (the tiny fixtures and LoRA parameters), with f32 GEMMs (TF32 only
//   when STILL_CUDA_TF32=1).
// - An op's result has its inputs' dtype; inputs of different float dtypes are first cast to f32.
//   Exceptions: rstd, lse, loss and delta are always f32, and so are the parameter-gradient reductions
//   (RMSNorm's gw, the embedding's scatter-add), which sum over many rows.
// Everything runs on one stream in issue order, so a freed block can be reused by the next op at once.
// The API is synchronous: downloads (toArray, item, sumSquares) wait for the stream.
import { attentionShape, type AttentionShape } from '../attention_shape.ts';
import { matmulShape } from '../matmul_shape.ts';
import type { AdamWHyper, AttentionOptions, Backend, BackendCapabilities, BinaryOp, FusedLinearOptions, SampledTokens, SampleRow, UnaryOp } from '../backend.ts';
import { fusedLinearReference, fusedLinearShape, qkvRopeKvWriteReference, qkvShape, ropeKvShape, ropeKvWriteReference } from '../fused_reference.ts';
import { BYTES, type DType, type HostArray } from '../../tensor/dtype.ts';
import { broadcastShapes, fmt, numel, sameShape, type Shape } from '../../tensor/shape.ts';
import { Storage, Tensor } from '../../tensor/tensor.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f32Bits, numberToBf16, numberToF16 } from '../../tensor/half.ts';
import { inverseFrequencies } from '../cpu/rope.ts';
import { BlockPool, CachingAllocator, type AllocatorStats, type Block } from './allocator.ts';
import { CublasLt, WORKSPACE_BYTES, type GemmDType } from './cublaslt.ts';
import { CudaDriver } from './driver.ts';
import { DECODE_HEAD_DIMS, decodePlan, decodeSharedBytes } from './decode_plan.ts';
import { gemvPlan } from './gemv_plan.ts';
import { DeviceSampleParams } from './sample_params.ts';
import { packSampleParams, rowNeeds, samplePlan, sampleScratch } from './sample_plan.ts';
import { f32Arg, i32Arg, i64Arg, i64StructArg, ptrArg, type KernelArg } from './ffi.ts';
import { KernelLibrary, type Dim3 } from './kernels.ts';
import { broadcastPlan, pad, permutePlan, reducePlan } from './layout_plan.ts';

interface CudaHandle {
  block: Block;
}

type FloatDType = 'f32' | 'bf16' | 'f16';

const BINARY_OPS: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY_OPS: Record<UnaryOp, number> = { neg: 0, exp: 1, log: 2, sqrt: 3, silu: 4, square: 5, abs: 6 };

/** Error slots in the device flag buffer (two i32 each: set?, offending value). */
const ERR_EMBEDDING = 0;
const ERR_TARGET = 2;
const ERR_KV = 4;
const FLAG_INTS = 8;
/** Arrival counters of split decode attention (one per query row × kv-head chunk); each launch leaves them 0. */
const COUNTERS = 1 << 16;

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly capabilities: BackendCapabilities = { fusedInference: true, deviceSampler: true, decodeGraphs: true };
  readonly drv: CudaDriver;
  readonly kernels: KernelLibrary;
  /**
   * The GEMM path: cuBLASLt, or null when it was not loaded or failed; GEMMs then run on the slower gemm.cu
   * kernel and blasError says why (`device` says so too). STILL_CUDA_GEMM picks: unset = cuBLASLt, falling back to
   * the kernel with a one-line notice; `cublaslt` = cuBLASLt or an error (no fallback); `kernel` = the kernel.
   */
  blas: CublasLt | null;
  blasError: string | null;
  private readonly requireBlas: boolean;
  /** Query tiles of 16 rows per warp in the D 64 flash forward: 2 (default) or 1 (the 64-query twin, for comparison). */
  flashQueryTiles: 1 | 2 = 2;
  readonly allocator: CachingAllocator;
  private readonly flags: Block;
  private readonly counters: Block;
  private readonly pendingChecks = new Map<number, (value: number) => string>();
  private readonly invFreq = new Map<string, Block>();
  private readonly maxBlocks: number;
  private readonly genericAttention: boolean;
  /** Kernel launches and cuBLASLt calls issued so far (a decode step's count is what CUDA graphs replay). */
  launches = 0;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.drv = CudaDriver.open(env);
    this.allocator = new CachingAllocator(this.drv);
    this.kernels = new KernelLibrary(this.drv, env);
    this.maxBlocks = this.drv.info.multiprocessors * 32;
    this.genericAttention = env.STILL_CUDA_ATTENTION === 'generic';
    const gemmChoice = env.STILL_CUDA_GEMM ?? '';
    if (!['', 'cublaslt', 'kernel'].includes(gemmChoice)) throw new Error(`STILL_CUDA_GEMM: expected cublaslt or kernel, got '${gemmChoice}'`);
    this.requireBlas = gemmChoice === 'cublaslt';
    let blas: CublasLt | null = null;
    let blasError: string | null = null;
    if (gemmChoice === 'kernel') {
      blasError = 'STILL_CUDA_GEMM=kernel';
    } else {
      const workspace = this.allocator.alloc(WORKSPACE_BYTES);
      try {
        blas = new CublasLt(this.drv.stream, workspace.ptr, env);
      } catch (e) {
        this.allocator.release(workspace);
        if (this.requireBlas) throw new Error(`cuBLASLt is required (STILL_CUDA_GEMM=cublaslt) but did not load: ${(e as Error).message}`);
        blasError = (e as Error).message;
      }
    }
    this.blas = blas;
    this.blasError = blasError;
    this.flags = this.allocator.alloc(4 * FLAG_INTS);
    this.drv.memset32(this.flags.ptr, 0, FLAG_INTS);
    this.counters = this.allocator.alloc(4 * COUNTERS);
    this.drv.memset32(this.counters.ptr, 0, COUNTERS);
  }

  /** One line for `still info`: the GPU, and what GEMMs run on now (after a fallback, the kernel and why). */
  get device(): string {
    const i = this.drv.info;
    const gemm = this.blas ? `cuBLASLt ${this.blas.version}` : `GEMM kernel (no cuBLASLt: ${this.blasError})`;
    return `${i.name} (sm_${i.computeCapability}, ${i.multiprocessors} SMs, ${(i.totalBytes / 2 ** 30).toFixed(0)} GiB, driver ${i.driverVersion}, ${gemm})`;
  }

  // ---- plumbing -----------------------------------------------------------------------------------------
  private alloc(shape: Shape, dtype: DType): Tensor {
    if (dtype === 'f64') throw new Error('cuda backend: f64 tensors are not supported (f64 is for CPU gradient checks; use f32)');
    const block = this.allocator.alloc(numel(shape) * BYTES[dtype]);
    return new Tensor(new Storage(this, { block } satisfies CudaHandle), shape, dtype);
  }

  /** The device address of a tensor's storage. */
  ptr(t: Tensor): bigint {
    const h = t.storage.handle as CudaHandle | null;
    if (!h) throw new Error(`tensor ${fmt(t.shape)} was released`);
    if (t.storage.backend !== this) throw new Error(`tensor ${fmt(t.shape)} lives on the ${t.backend.name} backend, not cuda`);
    return h.block.ptr;
  }

  private launch(name: string, grid: Dim3, block: Dim3, args: KernelArg[], shared = 0): void {
    this.launches++;
    this.kernels.launch(name, grid, block, args, shared);
  }

  /** Blocks of `threads` for a grid-stride loop over n items. */
  private blocksFor(n: number, threads = 256): number {
    return Math.max(1, Math.min(Math.ceil(n / threads), this.maxBlocks));
  }

  private p(t: Tensor | null): KernelArg {
    return ptrArg(t ? this.ptr(t) : null);
  }

  /** Wait for the stream and report any error a kernel flagged (bad token ids, bad targets). */
  synchronize(): void {
    this.drv.synchronize();
    this.checkFlags();
  }

  private checkFlags(): void {
    if (this.pendingChecks.size === 0) return;
    const f = new Int32Array(FLAG_INTS);
    this.drv.download(f, this.flags.ptr);
    const checks = [...this.pendingChecks];
    this.pendingChecks.clear();
    for (const [slot, message] of checks) {
      if (f[slot] !== 0) {
        this.drv.memset32(this.flags.ptr, 0, FLAG_INTS);
        throw new Error(message(f[slot + 1]));
      }
    }
  }

  memoryStats(): AllocatorStats & { deviceFree: number; deviceTotal: number } {
    const m = this.drv.memInfo();
    return { ...this.allocator.stats(), deviceFree: m.free, deviceTotal: m.total };
  }

  /** Start memoryStats' peakInUse and peakReserved over from the current use. */
  resetPeakMemoryStats(): void {
    this.allocator.resetPeaks();
  }

  /** Return cached blocks to the device (memory of released tensors that the allocator kept for reuse). */
  emptyCache(): void {
    this.allocator.emptyCache();
  }

  /**
   * Record the kernels `fn` launches into a CUDA graph, to be replayed without the per-launch host cost
   * (the decode step: hundreds of small launches). Nothing runs during capture, so `fn` must not read
   * results back, nor upload: its inputs are tensors made beforehand and refreshed between replays with
   * `overwrite`. Run `fn` once eagerly first, so modules, cuBLASLt plans and caches exist. Tensors `fn`
   * makes, and the memory of those it frees, belong to the graph until `graph.dispose()`: a replay
   * rewrites the returned tensors in place.
   */
  captureGraph<R>(fn: () => R): { graph: CudaGraph; result: R } {
    const pool = new BlockPool();
    this.allocator.beginCapture(pool);
    let result!: R;
    let handles: { exec: bigint; graph: bigint };
    try {
      handles = this.drv.captureGraph(() => {
        result = fn();
      });
    } catch (e) {
      this.allocator.closePool(pool);
      throw e;
    } finally {
      this.allocator.endCapture();
    }
    return { graph: new CudaGraph(this, handles, pool), result };
  }

  /** Copy host data into an existing tensor (same element count and dtype layout), e.g. a graph's input. */
  overwrite(t: Tensor, data: HostArray): void {
    if (data.length !== t.size) throw new Error(`overwrite: ${data.length} values for tensor ${fmt(t.shape)} (${t.size} elements)`);
    const host = t.dtype === 'f32' ? Float32Array.from(data as ArrayLike<number>) : t.dtype === 'i32' ? Int32Array.from(data as ArrayLike<number>)
      : data instanceof Uint16Array ? data : (t.dtype === 'bf16' ? f32ToBf16 : f32ToF16)(Float32Array.from(data as ArrayLike<number>));
    if (t.size > 0) this.drv.upload(this.ptr(t), host);
    t.storage.version++;
  }

  /** Device milliseconds taken by `fn`'s launches, timed with CUDA events. */
  timeMs(fn: () => void): number {
    const a = this.drv.createEvent();
    const b = this.drv.createEvent();
    try {
      this.drv.recordEvent(a);
      fn();
      this.drv.recordEvent(b);
      return this.drv.elapsedMs(a, b);
    } finally {
      this.drv.destroyEvent(a);
      this.drv.destroyEvent(b);
    }
  }

  /** Cast to `dtype` unless already there; `temps` collects what the caller must dispose. */
  private as(t: Tensor, dtype: DType, temps: Tensor[]): Tensor {
    if (t.dtype === dtype) return t;
    const c = this.cast(t, dtype);
    temps.push(c);
    return c;
  }

  // ---- memory -------------------------------------------------------------------------------------------
  upload(data: HostArray, shape: Shape, dtype: DType): Tensor {
    const n = numel(shape);
    if (data.length !== n) throw new Error(`upload: ${data.length} values do not fill shape ${fmt(shape)} (${n} elements)`);
    const out = this.alloc(shape, dtype);
    if (n === 0) return out;
    let host: ArrayBufferView;
    if (dtype === 'f32') host = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    else if (dtype === 'i32') host = data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
    else if (data instanceof Uint16Array) host = data; // raw half bits, as the CPU backend stores them
    else {
      const f = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      host = dtype === 'bf16' ? f32ToBf16(f) : f32ToF16(f);
    }
    this.drv.upload(this.ptr(out), host);
    return out;
  }

  download(t: Tensor): HostArray {
    t.assertLive();
    const n = t.size;
    const raw: HostArray = t.dtype === 'f32' ? new Float32Array(n) : t.dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n);
    if (n > 0) this.drv.download(raw, this.ptr(t));
    else this.drv.synchronize();
    this.checkFlags();
    if (t.dtype === 'bf16') return bf16ToF32(raw as Uint16Array);
    if (t.dtype === 'f16') return f16ToF32(raw as Uint16Array);
    return raw;
  }

  zeros(shape: Shape, dtype: DType): Tensor {
    const out = this.alloc(shape, dtype);
    const bytes = out.size * BYTES[dtype];
    if (bytes > 0) this.drv.memset8(this.ptr(out), 0, bytes);
    return out;
  }

  full(shape: Shape, value: number, dtype: DType): Tensor {
    const out = this.alloc(shape, dtype);
    const n = out.size;
    if (n === 0) return out;
    if (dtype === 'f32') this.drv.memset32(this.ptr(out), f32Bits(value), n);
    else if (dtype === 'i32') this.drv.memset32(this.ptr(out), value | 0, n);
    else this.drv.memset16(this.ptr(out), dtype === 'bf16' ? numberToBf16(value) : numberToF16(value), n);
    return out;
  }

  release(storage: Storage): void {
    const h = storage.handle as CudaHandle | null;
    if (!h) return;
    storage.handle = null;
    this.allocator.release(h.block);
  }

  cast(t: Tensor, dtype: DType): Tensor {
    const out = this.alloc(t.shape, dtype);
    this.castInto(out, t);
    return out;
  }

  private castInto(dst: Tensor, src: Tensor): void {
    const n = src.size;
    if (n === 0) return;
    if (src.dtype === dst.dtype) {
      this.drv.copy(this.ptr(dst), this.ptr(src), n * BYTES[src.dtype]);
      return;
    }
    this.launch(`cast_${src.dtype}_${dst.dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i64Arg(n), this.p(src), this.p(dst)]);
  }

  copyInto(dst: Tensor, src: Tensor): void {
    if (!sameShape(dst.shape, src.shape)) throw new Error(`copyInto: shape ${fmt(src.shape)} into ${fmt(dst.shape)}`);
    this.castInto(dst, src);
    dst.storage.version++;
  }

  // ---- dense math -----------------------------------------------------------------------------------------
  matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
    const { m, n, k, batchShape, batch, sharedB } = matmulShape(a, b, transA, transB);
    const temps: Tensor[] = [];
    const dtype = floatType('matmul', a, b);
    const A = this.as(a, dtype, temps);
    const B = this.as(b, dtype, temps);
    const out = this.alloc([...batchShape, m, n], dtype);
    try {
      if (out.size === 0) return out;
      if (k === 0) {
        this.drv.memset8(this.ptr(out), 0, out.size * BYTES[dtype]);
        return out;
      }
      // A weight shared by every batch item: fold the batch into the rows, one big GEMM.
      const fold = sharedB && !transA && batch > 1;
      this.gemm(dtype, fold ? batch * m : m, n, k, transA, transB, fold ? 1 : batch, A, B, out, m * k, sharedB ? 0 : k * n, m * n);
      return out;
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  private gemm(dtype: FloatDType, m: number, n: number, k: number, transA: boolean, transB: boolean, batch: number,
    a: Tensor, b: Tensor, c: Tensor, strideA: number, strideB: number, strideC: number): void {
    const pa = this.ptr(a), pb = this.ptr(b), pc = this.ptr(c);
    if (this.blas) {
      this.launches++;
      try {
        this.blasGemm(this.blas, dtype, m, n, k, transA, transB, batch, pa, pb, pc, strideA, strideB, strideC);
        return;
      } catch (e) {
        if (this.requireBlas) throw e;
        // Keep the process going on our own kernel, and say so once: GEMM speed is now not cuBLASLt's. The switch
        // stays visible afterwards in blas (null), blasError and device, which tests and `still info` read.
        this.blasError = `cuBLASLt failed, GEMMs moved to the kernel: ${(e as Error).message}`;
        this.blas = null;
        process.stderr.write(`still: ${this.blasError}; STILL_CUDA_GEMM=cublaslt makes this an error\n`);
      }
    }
    for (let b0 = 0; b0 < batch; b0 += 65535) {
      const nb = Math.min(65535, batch - b0);
      const off = (s: number) => BigInt(b0) * BigInt(s) * BigInt(BYTES[dtype]);
      this.launch(`gemm_${dtype}`, [Math.ceil(n / 64), Math.ceil(m / 64), nb], [256, 1, 1], [
        i32Arg(m), i32Arg(n), i32Arg(k), i32Arg(+transA), i32Arg(+transB),
        ptrArg(pa + off(strideA)), i64Arg(strideA), ptrArg(pb + off(strideB)), i64Arg(strideB), ptrArg(pc + off(strideC)), i64Arg(strideC),
      ]);
    }
  }

  private blasGemm(blas: CublasLt, dtype: FloatDType, m: number, n: number, k: number, transA: boolean, transB: boolean, batch: number,
    pa: bigint, pb: bigint, pc: bigint, strideA: number, strideB: number, strideC: number): void {
    if (strideB === 0 && batch > 1) {
      // A stride-0 operand is not something every cuBLASLt algorithm accepts: run the items one by one.
      const size = BigInt(BYTES[dtype]);
      for (let i = 0; i < batch; i++) {
        const bi = BigInt(i);
        blas.matmul({ dtype, m, n, k, transA, transB, batch: 1, a: pa + bi * BigInt(strideA) * size, b: pb, c: pc + bi * BigInt(strideC) * size, strideA, strideB, strideC });
      }
      return;
    }
    blas.matmul({ dtype: dtype as GemmDType, m, n, k, transA, transB, batch, a: pa, b: pb, c: pc, strideA, strideB, strideC });
  }

  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
    const shape = broadcastShapes(a.shape, b.shape);
    const temps: Tensor[] = [];
    const dtype = floatType(op, a, b);
    const A = this.as(a, dtype, temps);
    const B = this.as(b, dtype, temps);
    const out = this.alloc(shape, dtype);
    const n = out.size;
    if (n > 0) {
      const plan = broadcastPlan(a.shape, b.shape, shape);
      const bc = i64StructArg([plan.rank, ...pad(plan.dims, 6, 1), ...pad(plan.sa, 6), ...pad(plan.sb, 6)]);
      this.launch(`binary_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i32Arg(BINARY_OPS[op]), i64Arg(n), this.p(A), this.p(B), this.p(out), bc]);
    }
    for (const t of temps) t.dispose();
    return out;
  }

  unary(op: UnaryOp, a: Tensor): Tensor {
    const dtype = floatType(op, a);
    const out = this.alloc(a.shape, dtype);
    const n = out.size;
    if (n > 0) this.launch(`unary_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i32Arg(UNARY_OPS[op]), i64Arg(n), this.p(a), this.p(out)]);
    return out;
  }

  affine(a: Tensor, mul: number, add: number): Tensor {
    const dtype = floatType('affine', a);
    const out = this.alloc(a.shape, dtype);
    const n = out.size;
    if (n > 0) this.launch(`affine_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i64Arg(n), this.p(a), f32Arg(mul), f32Arg(add), this.p(out)]);
    return out;
  }

  sum(a: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
    const dtype = floatType('sum', a);
    const kept = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = this.alloc(keepDims ? kept : a.shape.filter((_, i) => !axes.includes(i)), dtype);
    if (out.size === 0) return out;
    if (a.size === 0) {
      this.drv.memset8(this.ptr(out), 0, out.size * BYTES[dtype]);
      return out;
    }
    const plan = reducePlan(a.shape, axes);
    const desc = i64StructArg([
      plan.keptDims.length, ...pad(plan.keptDims, 6, 1), ...pad(plan.keptStrides, 6),
      plan.redDims.length, ...pad(plan.redDims, 6, 1), ...pad(plan.redStrides, 6), plan.redCount,
    ]);
    // Few long sums: a block each. Many sums: a thread each (neighbouring threads read neighbouring columns).
    if (plan.nOut <= 4096 && plan.redCount >= 1024) {
      this.launch(`sum_block_${dtype}`, [Math.min(plan.nOut, 65535), 1, 1], [256, 1, 1], [i64Arg(plan.nOut), this.p(a), this.p(out), desc]);
    } else {
      this.launch(`sum_thread_${dtype}`, [this.blocksFor(plan.nOut), 1, 1], [256, 1, 1], [i64Arg(plan.nOut), this.p(a), this.p(out), desc]);
    }
    return out;
  }

  permute(a: Tensor, perm: readonly number[]): Tensor {
    const out = this.alloc(perm.map((p) => a.shape[p]), a.dtype);
    const n = out.size;
    if (n === 0) return out;
    const plan = permutePlan(a.shape, perm);
    if (plan.dims.length <= 1 && (plan.strides[0] ?? 1) === 1) {
      this.drv.copy(this.ptr(out), this.ptr(a), n * BYTES[a.dtype]); // the permutation moves no element
      return out;
    }
    const desc = i64StructArg([plan.dims.length, ...pad(plan.dims, 8, 1), ...pad(plan.strides, 8)]);
    this.launch(`permute_${bits(a.dtype)}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i64Arg(n), this.p(a), this.p(out), desc]);
    return out;
  }

  slice(a: Tensor, axis: number, start: number, end: number): Tensor {
    const shape = a.shape.slice();
    shape[axis] = end - start;
    const out = this.alloc(shape, a.dtype);
    const [outer, len, inner] = around(a.shape, axis);
    this.copy2d(a.dtype, outer, (end - start) * inner, a, len * inner, start * inner, out, (end - start) * inner, 0);
    return out;
  }

  concat(parts: readonly Tensor[], axis: number): Tensor {
    const dtype = parts[0].dtype;
    const shape = parts[0].shape.slice();
    shape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
    const out = this.alloc(shape, dtype);
    const [outer, total, inner] = around(shape, axis);
    let pos = 0;
    for (const part of parts) {
      const temps: Tensor[] = [];
      const p = this.as(part, dtype, temps);
      const cols = p.shape[axis] * inner;
      this.copy2d(dtype, outer, cols, p, cols, 0, out, total * inner, pos * inner);
      pos += p.shape[axis];
      for (const t of temps) t.dispose();
    }
    return out;
  }

  private copy2d(dtype: DType, rows: number, cols: number, src: Tensor, srcPitch: number, srcOff: number, dst: Tensor, dstPitch: number, dstOff: number): void {
    const n = rows * cols;
    if (n === 0) return;
    this.launch(`copy2d_${bits(dtype)}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
      i64Arg(rows), i64Arg(cols), this.p(src), i64Arg(srcPitch), i64Arg(srcOff), this.p(dst), i64Arg(dstPitch), i64Arg(dstOff),
    ]);
  }

  // ---- fused model ops ----------------------------------------------------------------------------------
  embedding(weight: Tensor, ids: Tensor): Tensor {
    requireIds('embedding', ids);
    const [vocab, d] = weight.shape;
    const dtype = floatType('embedding', weight);
    const out = this.alloc([...ids.shape, d], dtype);
    const n = ids.size * d;
    if (n === 0) return out;
    this.launch(`embedding_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
      i64Arg(ids.size), i32Arg(d), i32Arg(vocab), this.p(ids), this.p(weight), this.p(out), ptrArg(this.flagPtr(ERR_EMBEDDING)),
    ]);
    this.pendingChecks.set(ERR_EMBEDDING, (id) => `embedding: token id ${id} is outside the vocabulary [0, ${vocab})`);
    return out;
  }

  embeddingBackward(grad: Tensor, ids: Tensor, vocabSize: number): Tensor {
    requireIds('embeddingBackward', ids);
    const d = grad.shape[grad.rank - 1];
    const dtype = floatType('embeddingBackward', grad);
    const out = this.zeros([vocabSize, d], 'f32');
    const n = ids.size * d;
    if (n === 0) return out;
    this.launch(`embedding_backward_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
      i64Arg(ids.size), i32Arg(d), i32Arg(vocabSize), this.p(ids), this.p(grad), this.p(out), ptrArg(this.flagPtr(ERR_EMBEDDING)),
    ]);
    this.pendingChecks.set(ERR_EMBEDDING, (id) => `embeddingBackward: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
    return out;
  }

  private flagPtr(slot: number): bigint {
    return this.flags.ptr + BigInt(slot * 4);
  }

  rmsnorm(x: Tensor, w: Tensor, eps: number): { y: Tensor; rstd: Tensor } {
    const d = x.shape[x.rank - 1];
    if (w.size !== d) throw new Error(`rmsnorm: weight ${fmt(w.shape)} does not match the last dim of ${fmt(x.shape)}`);
    const rows = x.size / d;
    const temps: Tensor[] = [];
    const dtype = floatType('rmsnorm', x, w);
    const X = this.as(x, dtype, temps);
    const W = this.as(w, dtype, temps);
    const y = this.alloc(x.shape, dtype);
    const rstd = this.alloc(x.shape.slice(0, -1), 'f32');
    if (rows > 0) {
      this.launch(`rmsnorm_${dtype}`, [Math.min(rows, 65535), 1, 1], [rowThreads(d), 1, 1], [
        i32Arg(rows), i32Arg(d), f32Arg(eps), this.p(X), this.p(W), this.p(y), this.p(rstd),
      ]);
    }
    for (const t of temps) t.dispose();
    return { y, rstd };
  }

  rmsnormBackward(gy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): { gx: Tensor; gw: Tensor } {
    const d = w.size;
    const rows = x.size / d;
    const temps: Tensor[] = [];
    const dtype = floatType('rmsnormBackward', gy, x, w);
    const GY = this.as(gy, dtype, temps);
    const X = this.as(x, dtype, temps);
    const W = this.as(w, dtype, temps);
    const R = this.as(rstd, 'f32', temps);
    const gx = this.alloc(x.shape, dtype);
    if (rows === 0) {
      for (const t of temps) t.dispose();
      return { gx, gw: this.zeros(w.shape, 'f32') };
    }
    this.launch(`rmsnorm_backward_${dtype}`, [Math.min(rows, 65535), 1, 1], [rowThreads(d), 1, 1], [
      i32Arg(rows), i32Arg(d), this.p(GY), this.p(X), this.p(W), this.p(R), this.p(gx),
    ]);
    // The weight gradient sums over rows: partial sums per chunk of rows, then one more (deterministic) sum.
    const perChunk = Math.max(32, Math.ceil(rows / 1024));
    const chunks = Math.ceil(rows / perChunk);
    const partial = this.alloc([chunks, d], 'f32');
    this.launch(`rmsnorm_backward_weight_${dtype}`, [Math.ceil(d / 128), chunks, 1], [128, 1, 1], [
      i32Arg(rows), i32Arg(d), i32Arg(perChunk), this.p(GY), this.p(X), this.p(R), this.p(partial),
    ]);
    const summed = this.sum(partial, [0], false);
    partial.dispose();
    const gw = summed.view(w.shape);
    summed.dispose();
    for (const t of temps) t.dispose();
    return { gx, gw };
  }

  rope(x: Tensor, positions: Tensor, theta: number, inverse: boolean): Tensor {
    requireIds('rope positions', positions);
    const [b, t, h, d] = x.shape;
    if (x.rank !== 4 || d % 2 !== 0) throw new Error(`rope: x must be [B, T, H, D] with D even, got ${fmt(x.shape)}`);
    if (positions.size !== b * t) throw new Error(`rope: positions ${fmt(positions.shape)} do not match x ${fmt(x.shape)} ([B, T])`);
    const dtype = floatType('rope', x);
    const out = this.alloc(x.shape, dtype);
    const n = b * t * h * (d / 2);
    if (n === 0) return out;
    this.launch(`rope_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
      i64Arg(b * t), i32Arg(h), i32Arg(d), this.p(positions), ptrArg(this.inverseFrequencies(d, theta)), f32Arg(inverse ? -1 : 1), this.p(x), this.p(out),
    ]);
    return out;
  }

  /** HF's f32 inverse frequencies, uploaded once per (head dim, θ) and kept for the backend's life. */
  private inverseFrequencies(d: number, theta: number): bigint {
    const key = `${d}:${theta}`;
    let block = this.invFreq.get(key);
    if (!block) {
      block = this.allocator.alloc((d / 2) * 4);
      this.drv.upload(block.ptr, Float32Array.from(inverseFrequencies(d, theta)));
      this.invFreq.set(key, block);
    }
    return block.ptr;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): { o: Tensor; lse: Tensor } {
    const dims = attentionDims(q, k, v, opts);
    const temps: Tensor[] = [];
    const dtype = floatType('attention', q, k, v);
    const Q = this.as(q, dtype, temps), K = this.as(k, dtype, temps), V = this.as(v, dtype, temps);
    const o = this.alloc(q.shape, dtype);
    const lse = this.alloc(q.shape.slice(0, 3), 'f32');
    try {
      if (o.size === 0) return { o, lse };
      const seg = this.segmentBounds(opts, dims, temps);
      const common = [i32Arg(dims.b), i32Arg(dims.t), i32Arg(dims.s), i32Arg(dims.hq), i32Arg(dims.hkv)];
      const tail = [f32Arg(opts.scale), i32Arg(+opts.causal), this.p(seg[0]), this.p(seg[1])];
      if (this.useFlash(dtype, dims.d)) {
        // Queries per block, 64·MT (flash_attention.cu's FLASH lines): 128 at D 64 unless asked for 64.
        const q64 = dims.d === 64 && this.flashQueryTiles === 1;
        const bm = dims.d === 64 && !q64 ? 128 : 64;
        this.launch(`flash_fwd_${dtype}_d${dims.d}${q64 ? '_q64' : ''}`, [Math.ceil(dims.t / bm), dims.b * dims.hq, 1], [128, 1, 1],
          [...common, ...tail, this.p(Q), this.p(K), this.p(V), this.p(o), this.p(lse)], (bm + 4 * 64) * (dims.d + 8) * 2);
      } else {
        this.launch(`attention_fwd_${dtype}`, [Math.ceil((dims.b * dims.t * dims.hq) / 4), 1, 1], [128, 1, 1],
          [...common, i32Arg(dims.d), ...tail, this.p(Q), this.p(K), this.p(V), this.p(o), this.p(lse)]);
      }
      return { o, lse };
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  attentionBackward(
    go: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, opts: AttentionOptions,
  ): { gq: Tensor; gk: Tensor; gv: Tensor } {
    const dims = attentionDims(q, k, v, opts);
    const temps: Tensor[] = [];
    const dtype = floatType('attentionBackward', q, k, v);
    const Q = this.as(q, dtype, temps), K = this.as(k, dtype, temps), V = this.as(v, dtype, temps);
    const GO = this.as(go, dtype, temps), O = this.as(o, dtype, temps), L = this.as(lse, 'f32', temps);
    const gq = this.alloc(q.shape, dtype), gk = this.alloc(k.shape, dtype), gv = this.alloc(v.shape, dtype);
    try {
      if (gq.size === 0 && gk.size === 0) return { gq, gk, gv };
      const rows = dims.b * dims.t * dims.hq;
      const delta = this.alloc([rows], 'f32');
      temps.push(delta);
      this.launch(`attention_delta_${dtype}`, [Math.ceil(rows / 4), 1, 1], [128, 1, 1], [i64Arg(rows), i32Arg(dims.d), this.p(GO), this.p(O), this.p(delta)]);
      const seg = this.segmentBounds(opts, dims, temps);
      const common = [i32Arg(dims.b), i32Arg(dims.t), i32Arg(dims.s), i32Arg(dims.hq), i32Arg(dims.hkv)];
      const tail = [f32Arg(opts.scale), i32Arg(+opts.causal), this.p(seg[0]), this.p(seg[1])];
      const ins = [this.p(GO), this.p(Q), this.p(K), this.p(V), this.p(L), this.p(delta)];
      if (this.useFlash(dtype, dims.d)) {
        const pitch = (dims.d + 8) * 2;
        const bq = dims.d === 64 ? 64 : 32;
        this.launch(`flash_bwd_dq_${dtype}_d${dims.d}`, [Math.ceil(dims.t / 64), dims.b * dims.hq, 1], [128, 1, 1],
          [...common, ...tail, ...ins, this.p(gq)], 6 * 64 * pitch);
        // One block per (key block, query head); with GQA, f32 partials per head, summed by a last kernel.
        const group = dims.hq / dims.hkv;
        const partial = group > 1 ? [this.alloc([dims.b, dims.s, dims.hq, dims.d], 'f32'), this.alloc([dims.b, dims.s, dims.hq, dims.d], 'f32')] : [];
        temps.push(...partial);
        this.launch(`flash_bwd_dkv_${dtype}_d${dims.d}`, [Math.ceil(dims.s / 64), dims.b * dims.hq, 1], [128, 1, 1],
          [...common, ...tail, ...ins, this.p(gk), this.p(gv), this.p(partial[0] ?? null), this.p(partial[1] ?? null)],
          (2 * 64 + 4 * bq) * pitch + 2 * 16 * bq);
        if (group > 1) {
          const n = gk.size;
          this.launch(`flash_dkv_reduce_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
            i64Arg(n), i32Arg(dims.hq), i32Arg(dims.hkv), i32Arg(dims.d), this.p(partial[0]), this.p(partial[1]), this.p(gk), this.p(gv),
          ]);
        }
      } else {
        this.launch(`attention_bwd_dq_${dtype}`, [Math.ceil(rows / 4), 1, 1], [128, 1, 1], [...common, i32Arg(dims.d), ...tail, ...ins, this.p(gq)]);
        this.launch(`attention_bwd_dkv_${dtype}`, [Math.ceil((dims.b * dims.s * dims.hkv) / 4), 1, 1], [128, 1, 1],
          [...common, i32Arg(dims.d), ...tail, ...ins, this.p(gk), this.p(gv)]);
      }
      return { gq, gk, gv };
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  private useFlash(dtype: FloatDType, d: number): boolean {
    return !this.genericAttention && dtype !== 'f32' && (d === 64 || d === 128);
  }

  /** Start and end of every position's segment (i32 [B, T] each), or nulls without segments. */
  private segmentBounds(opts: AttentionOptions, dims: AttentionShape, temps: Tensor[]): [Tensor | null, Tensor | null] {
    if (!opts.segments) return [null, null];
    requireIds('attention segments', opts.segments);
    if (dims.s !== dims.t) throw new Error(`attention: segments need as many keys as queries, got T=${dims.t}, S=${dims.s}`);
    if (opts.segments.size !== dims.b * dims.t) throw new Error(`attention: segments ${fmt(opts.segments.shape)} must be [B, T] = [${dims.b}, ${dims.t}]`);
    const start = this.alloc([dims.b, dims.t], 'i32');
    const end = this.alloc([dims.b, dims.t], 'i32');
    temps.push(start, end);
    this.launch('segment_bounds', [Math.ceil(dims.b / 128), 1, 1], [128, 1, 1], [i32Arg(dims.b), i32Arg(dims.t), this.p(opts.segments), this.p(start), this.p(end)]);
    return [start, end];
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    if (!sameShape(gate.shape, up.shape)) throw new Error(`swiglu: gate ${fmt(gate.shape)} and up ${fmt(up.shape)} differ`);
    const temps: Tensor[] = [];
    const dtype = floatType('swiglu', gate, up);
    const G = this.as(gate, dtype, temps), U = this.as(up, dtype, temps);
    const out = this.alloc(gate.shape, dtype);
    const n = out.size;
    if (n > 0) this.launch(`swiglu_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i64Arg(n), this.p(G), this.p(U), this.p(out)]);
    for (const t of temps) t.dispose();
    return out;
  }

  swigluBackward(gy: Tensor, gate: Tensor, up: Tensor): { gGate: Tensor; gUp: Tensor } {
    const temps: Tensor[] = [];
    const dtype = floatType('swigluBackward', gy, gate, up);
    const GY = this.as(gy, dtype, temps), G = this.as(gate, dtype, temps), U = this.as(up, dtype, temps);
    const gGate = this.alloc(gate.shape, dtype), gUp = this.alloc(up.shape, dtype);
    const n = gGate.size;
    if (n > 0) {
      this.launch(`swiglu_backward_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [i64Arg(n), this.p(GY), this.p(G), this.p(U), this.p(gGate), this.p(gUp)]);
    }
    for (const t of temps) t.dispose();
    return { gGate, gUp };
  }

  crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex: number): { loss: Tensor; lse: Tensor } {
    requireIds('crossEntropy targets', targets);
    const [n, vocab] = logits.shape;
    const dtype = floatType('crossEntropy', logits);
    const loss = this.alloc([n], 'f32');
    const lse = this.alloc([n], 'f32');
    if (n === 0) return { loss, lse };
    this.launch(`cross_entropy_${dtype}`, [Math.min(n, 65535), 1, 1], [vocab >= 8192 ? 512 : 128, 1, 1], [
      i32Arg(n), i32Arg(vocab), i32Arg(ignoreIndex), this.p(logits), this.p(targets), this.p(loss), this.p(lse), ptrArg(this.flagPtr(ERR_TARGET)),
    ]);
    this.pendingChecks.set(ERR_TARGET, (t) => `cross-entropy: a target ${t} is outside [0, ${vocab})`);
    return { loss, lse };
  }

  crossEntropyBackward(gLoss: Tensor, logits: Tensor, targets: Tensor, lse: Tensor, ignoreIndex: number): Tensor {
    requireIds('crossEntropyBackward targets', targets);
    const [n, vocab] = logits.shape;
    const temps: Tensor[] = [];
    const dtype = floatType('crossEntropyBackward', logits);
    const G = this.as(gLoss, 'f32', temps), L = this.as(lse, 'f32', temps);
    const out = this.alloc(logits.shape, dtype);
    if (out.size > 0) {
      this.launch(`cross_entropy_backward_${dtype}`, [Math.ceil(vocab / (256 * 8)), Math.min(n, 65535), 1], [256, 1, 1], [
        i32Arg(n), i32Arg(vocab), i32Arg(ignoreIndex), this.p(G), this.p(logits), this.p(targets), this.p(L), this.p(out),
      ]);
    }
    for (const t of temps) t.dispose();
    return out;
  }

  // ---- generation: slot KV cache ------------------------------------------------------------------------
  kvWrite(cache: Tensor, src: Tensor, slots: Tensor, starts: Tensor): void {
    requireIds('kvWrite slots', slots);
    requireIds('kvWrite starts', starts);
    const [nSlots, maxLen, hkv, d] = cache.shape;
    const [b, t] = src.shape;
    if (cache.rank !== 4 || src.rank !== 4 || src.shape[2] !== hkv || src.shape[3] !== d) {
      throw new Error(`kv cache ${fmt(cache.shape)} must be [slots, maxLen, Hkv, D] and src ${fmt(src.shape)} [B, T, ${hkv}, ${d}]`);
    }
    if (slots.size !== b || starts.size !== b) {
      throw new Error(`kvWrite: src ${fmt(src.shape)} has ${b} rows, slots ${fmt(slots.shape)} and starts ${fmt(starts.shape)} need [${b}]`);
    }
    const temps: Tensor[] = [];
    const data = this.as(src, cache.dtype, temps);
    const n = src.size;
    if (n > 0) {
      this.launch(`kv_write_${bits(cache.dtype)}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
        i32Arg(b), i32Arg(t), i64Arg(hkv * d), i32Arg(maxLen), i32Arg(nSlots), this.p(slots), this.p(starts), this.p(data), this.p(cache),
        ptrArg(this.flagPtr(ERR_KV)),
      ]);
      this.pendingChecks.set(ERR_KV, (row) => `kvWrite: row ${row} names a slot outside [0, ${nSlots}) or writes past maxLen ${maxLen}`);
    }
    for (const x of temps) x.dispose();
    cache.storage.version++;
  }

  kvCopy(cache: Tensor, src: number, dsts: readonly number[], length: number): void {
    const [nSlots, maxLen, hkv, d] = cache.shape;
    if (cache.rank !== 4) throw new Error(`kv cache ${fmt(cache.shape)} must be [slots, maxLen, Hkv, D]`);
    const check = (slot: number, what: string) => {
      if (!Number.isInteger(slot) || slot < 0 || slot >= nSlots) throw new Error(`kvCopy: ${what} slot ${slot} is outside [0, ${nSlots})`);
    };
    check(src, 'source');
    if (!Number.isInteger(length) || length < 0 || length > maxLen) throw new Error(`kvCopy: length ${length} is outside [0, ${maxLen}]`);
    const slotBytes = BigInt(maxLen * hkv * d * BYTES[cache.dtype]);
    const base = this.ptr(cache);
    for (const dst of dsts) {
      check(dst, 'destination');
      if (dst === src) throw new Error(`kvCopy: destination slot ${dst} is the source`);
      if (length > 0) this.drv.copy(base + BigInt(dst) * slotBytes, base + BigInt(src) * slotBytes, length * hkv * d * BYTES[cache.dtype]);
    }
    cache.storage.version++;
  }

  slotAttention(q: Tensor, kCache: Tensor, vCache: Tensor, slots: Tensor, kvLens: Tensor, scale: number): Tensor {
    requireIds('slotAttention slots', slots);
    requireIds('slotAttention kvLens', kvLens);
    const [b, t, hq, d] = q.shape;
    const [nSlots, maxLen, hkv] = kCache.shape;
    if (q.rank !== 4 || !sameShape(kCache.shape, vCache.shape) || kCache.shape[3] !== d || hq % hkv !== 0) {
      throw new Error(`slotAttention: q ${fmt(q.shape)} needs [B, T, Hq, ${kCache.shape[3]}] with Hq a multiple of ${hkv}; caches ${fmt(kCache.shape)} and ${fmt(vCache.shape)} need equal shapes`);
    }
    if (slots.size !== b || kvLens.size !== b) throw new Error(`slotAttention: slots and kvLens need [${b}], got ${fmt(slots.shape)} and ${fmt(kvLens.shape)}`);
    if (d > 256) throw new Error(`slotAttention: head dim ${d} is above the 256 the CUDA kernel takes`);
    const temps: Tensor[] = [];
    const dtype = floatType('slotAttention', kCache, vCache);
    const Q = this.as(q, dtype, temps), K = this.as(kCache, dtype, temps), V = this.as(vCache, dtype, temps);
    const o = this.alloc(q.shape, dtype);
    if (o.size > 0) {
      const group = hq / hkv;
      const common = [i32Arg(b), i32Arg(t), i32Arg(hq), i32Arg(hkv)];
      const tail = [this.p(slots), this.p(kvLens), this.p(Q), this.p(K), this.p(V), this.p(o)];
      if (dtype !== 'f32' && DECODE_HEAD_DIMS.has(d) && !this.genericAttention) {
        const plan = decodePlan(b * t, hkv, group, d, maxLen, this.drv.info.multiprocessors, COUNTERS);
        const part = plan.splits > 1 ? this.allocator.alloc(4 * b * t * hq * plan.splits * (d + 2)) : null;
        try {
          this.launch(`slot_decode_${dtype}_d${d}`, [b * t, plan.splits, plan.z], [128, 1, 1], [
            ...common, i32Arg(maxLen), i32Arg(nSlots), f32Arg(scale), i32Arg(plan.splits), ...tail,
            ptrArg(part?.ptr ?? null), ptrArg(this.counters.ptr), ptrArg(this.flagPtr(ERR_KV)),
          ], decodeSharedBytes(d));
        } finally {
          if (part) this.allocator.release(part); // stream order: the next user of this block runs after the kernel
        }
      } else {
        this.launch(`slot_attention_${dtype}`, [b * t, hkv, Math.ceil(group / 8)], [128, 1, 1], [
          ...common, i32Arg(d), i32Arg(maxLen), i32Arg(nSlots), f32Arg(scale), ...tail, ptrArg(this.flagPtr(ERR_KV)),
        ]);
      }
      this.pendingChecks.set(ERR_KV, (row) => `slotAttention: row ${row} names a slot outside [0, ${nSlots}) or a kvLen outside [${t}, ${maxLen}]`);
    }
    for (const x of temps) x.dispose();
    return o;
  }

  /**
   * The fused sampler (kernels/cuda/sample.cu): the same tokens as the CPU reference `sampleTokens` (f64
   * throughout, Philox noise); only the tokens and log-probs come back to the host.
   */
  sample(logits: Tensor, rows: readonly SampleRow[]): SampledTokens {
    if (logits.rank !== 2 || logits.shape[0] !== rows.length) {
      throw new Error(`sample: logits ${fmt(logits.shape)} need [${rows.length}, V], one row per SampleRow`);
    }
    const [n, vocab] = logits.shape;
    const packed = packSampleParams(rows, vocab);
    if (n === 0) return { tokens: new Int32Array(0), logprobs: new Float32Array(0) };
    const params = new DeviceSampleParams(this.drv, this.allocator, n, packed.penalized.length);
    const out = this.alloc([2 * n], 'i32');
    try {
      params.writePacked(packed);
      const needs = rows.map((r) => rowNeeds(r, vocab));
      this.sampleInto(logits, params, out, { select: needs.some((x) => x.select), filtered: needs.some((x) => x.filtered) });
      const host = new Int32Array(2 * n);
      this.drv.download(host, this.ptr(out));
      const tokens = host.slice(0, n);
      if (tokens.some((t) => t < 0)) throw new Error('sampler: every token was filtered out (are the logits NaN?)');
      return { tokens, logprobs: new Float32Array(host.buffer.slice(4 * n, 8 * n)) };
    } finally {
      out.dispose();
      params.dispose();
    }
  }

  /** Device buffers for sampleInto's parameters: `rows` rows, `penalizedCapacity` penalized ids in all. */
  createSampleParams(rows: number, penalizedCapacity: number): DeviceSampleParams {
    return new DeviceSampleParams(this.drv, this.allocator, rows, penalizedCapacity);
  }

  /**
   * The fused sampler without a round trip, so a graph can capture it: draws one token per row of logits
   * [N, V] with the rows `params` holds (N = params.rows) into out i32 [2N] (tokens, then the log-probs' f32
   * bits; a token of -1 means every token was filtered out). `skip` leaves out kernels no row needs (eager
   * calls only: a captured graph must run them all, since its rows change between replays).
   */
  sampleInto(logits: Tensor, params: DeviceSampleParams, out: Tensor, skip?: { select: boolean; filtered: boolean }): void {
    const [n, vocab] = logits.shape;
    if (logits.rank !== 2 || n !== params.rows) throw new Error(`sampleInto: logits ${fmt(logits.shape)} need [${params.rows}, V]`);
    if (out.dtype !== 'i32' || out.size !== 2 * n) throw new Error(`sampleInto: out must be i32 [${2 * n}], got ${out.dtype} ${fmt(out.shape)}`);
    const dtype = floatType('sample', logits);
    const plan = samplePlan(n, vocab, this.drv.info.multiprocessors);
    const lay = sampleScratch(n, vocab, plan.chunks);
    const scratch = this.allocator.alloc(lay.bytes);
    try {
      const at = (off: number) => ptrArg(scratch.ptr + BigInt(off));
      const head = [i32Arg(n), i32Arg(vocab), i32Arg(plan.chunks)];
      const rowsArgs = [this.p(logits), ptrArg(params.dparams.ptr), ptrArg(params.iparams.ptr)];
      const stats = [at(lay.statD), at(lay.statI)];
      const hist = [at(lay.histC), at(lay.histM)];
      const sub = [at(lay.subC), at(lay.subM)];
      const chunkGrid: Dim3 = [plan.chunks, n, 1];
      this.launch(`sample_stats_${dtype}`, chunkGrid, [256, 1, 1], [...head, i32Arg(plan.chunk), ...rowsArgs, ptrArg(params.penalized.ptr), at(lay.counts), ...stats, ...hist, ...sub, at(lay.plan)]);
      if (!skip || skip.select) {
        this.launch(`sample_hist_${dtype}`, chunkGrid, [256, 1, 1], [...head, i32Arg(plan.chunk), ...rowsArgs, at(lay.counts), ...stats, ...hist, at(lay.plan), at(lay.planD)]);
        this.launch(`sample_select_${dtype}`, chunkGrid, [256, 1, 1], [...head, i32Arg(plan.chunk), ...rowsArgs, at(lay.counts), ...hist, ...sub, at(lay.plan), at(lay.planD), at(lay.cand), at(lay.cuts)]);
      }
      if (!skip || skip.filtered) {
        this.launch(`sample_race_${dtype}`, chunkGrid, [256, 1, 1], [...head, i32Arg(plan.chunk), ...rowsArgs, at(lay.counts), ...stats, at(lay.cuts), at(lay.raceD), at(lay.raceI)]);
      }
      this.launch(`sample_finish_${dtype}`, [n, 1, 1], [32, 1, 1], [...head, ...rowsArgs, ...stats, at(lay.raceD), at(lay.raceI), this.p(out)]);
    } finally {
      this.allocator.release(scratch); // stream order: the next user of the block runs after these kernels
    }
  }

  // ---- inference-only fused ops (kernels/cuda/fused.cu; definitions in ../fused_reference.ts) -----------------
  /**
   * A few rows (a decode step): one fused_gemv launch that streams w once. More rows: [rmsnorm,] a cuBLASLt GEMM
   * and one epilogue kernel for bias, swiglu and residual. Mixed dtypes take the reference composition.
   */
  fusedLinear(x: Tensor, w: Tensor, opts: FusedLinearOptions): Tensor {
    const { m, k, n, outShape } = fusedLinearShape(x, w, opts);
    const dtype = x.dtype;
    const operands = [w, opts.bias, opts.norm?.weight, opts.residual].filter((t): t is Tensor => !!t);
    if (dtype === 'i32' || dtype === 'f64' || operands.some((t) => t.dtype !== dtype) || k === 0 || m === 0) {
      return fusedLinearReference(this, x, w, opts);
    }
    const plan = gemvPlan(m, n, k, dtype, this.drv.info.multiprocessors);
    if (plan && this.ptr(x) % 16n === 0n && this.ptr(w) % 16n === 0n) {
      const out = this.alloc(outShape, dtype);
      this.launch(`fused_gemv_${dtype}_m${plan.maxRows}`, [plan.blocks, 1, 1], [256, 1, 1], [
        i32Arg(m), i32Arg(n), i32Arg(k), i32Arg(plan.splitK), this.p(x), this.p(w), this.p(opts.norm?.weight ?? null),
        f32Arg(opts.norm?.eps ?? 0), this.p(opts.bias ?? null), i32Arg(+!!opts.swiglu), this.p(opts.residual ?? null), this.p(out),
      ], plan.sharedBytes);
      return out;
    }
    const temps: Tensor[] = [];
    try {
      let h = x.view([m, k]);
      temps.push(h);
      if (opts.norm) {
        const { y, rstd } = this.rmsnorm(h, opts.norm.weight, opts.norm.eps);
        temps.push(y, rstd);
        h = y;
      }
      const y = this.matmul(h, w, false, true);
      temps.push(y);
      if (!opts.bias && !opts.swiglu && !opts.residual) return y.view(outShape);
      const out = this.alloc(outShape, dtype);
      this.launch(`fused_epilogue_${dtype}`, [this.blocksFor(m * n), 1, 1], [256, 1, 1], [
        i64Arg(m), i32Arg(n), this.p(y), this.p(opts.bias ?? null), i32Arg(+!!opts.swiglu), this.p(opts.residual ?? null), this.p(out),
      ]);
      return out;
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  /** One rope_kv_write launch: bias, RoPE on q and k, k and v into the caches (same dtype throughout). */
  ropeKvWrite(qkv: Tensor, bias: Tensor | null, positions: Tensor, theta: number, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor): Tensor {
    const { b, t, hq, hkv, d } = ropeKvShape(qkv, bias, positions, kCache, vCache);
    requireIds('ropeKvWrite positions', positions);
    requireIds('ropeKvWrite slots', slots);
    requireIds('ropeKvWrite starts', starts);
    if (slots.size !== b || starts.size !== b) throw new Error(`ropeKvWrite: qkv ${fmt(qkv.shape)} has ${b} rows, slots ${fmt(slots.shape)} and starts ${fmt(starts.shape)} need [${b}]`);
    const dtype = qkv.dtype;
    if (dtype === 'i32' || dtype === 'f64' || kCache.dtype !== dtype || vCache.dtype !== dtype || (bias && bias.dtype !== dtype)) {
      return ropeKvWriteReference(this, qkv, bias, positions, theta, kCache, vCache, slots, starts);
    }
    const [nSlots, maxLen] = kCache.shape;
    const q = this.alloc([b, t, hq, d], dtype);
    const n = b * t * (hq + 2 * hkv) * (d / 2);
    if (n > 0) {
      this.launch(`rope_kv_write_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
        i32Arg(b * t), i32Arg(t), i32Arg(hq), i32Arg(hkv), i32Arg(d), this.p(positions), ptrArg(this.inverseFrequencies(d, theta)),
        this.p(qkv), this.p(bias), i32Arg(maxLen), i32Arg(nSlots), this.p(slots), this.p(starts), this.p(q), this.p(kCache), this.p(vCache),
        ptrArg(this.flagPtr(ERR_KV)),
      ]);
      this.pendingChecks.set(ERR_KV, (row) => `ropeKvWrite: row ${row} names a slot outside [0, ${nSlots}) or writes past maxLen ${maxLen}`);
    }
    kCache.storage.version++;
    vCache.storage.version++;
    return q;
  }

  /**
   * A few rows: one fused_qkv_gemv launch (norm, the stacked projection, bias, RoPE, cache writes); more rows
   * (or mixed dtypes): fusedLinear then ropeKvWrite.
   */
  qkvRopeKvWrite(
    x: Tensor, w: Tensor, bias: Tensor | null, norm: { weight: Tensor; eps: number } | null, positions: Tensor, theta: number,
    kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor,
  ): Tensor {
    const { b, t, k, heads, d } = qkvShape(x, w, kCache);
    const hkv = kCache.shape[2];
    const hq = heads - 2 * hkv;
    const dtype = x.dtype;
    const operands = [w, kCache, vCache, bias, norm?.weight].filter((o): o is Tensor => !!o);
    const plan = gemvPlan(b * t, heads * (d / 2), k, dtype, this.drv.info.multiprocessors);
    const direct = plan && dtype !== 'i32' && dtype !== 'f64' && operands.every((o) => o.dtype === dtype) && hq > 0 && d % 2 === 0
      && vCache.shape.join() === kCache.shape.join() && positions.size === b * t && slots.size === b && starts.size === b
      && this.ptr(x) % 16n === 0n && this.ptr(w) % 16n === 0n;
    if (!direct) return qkvRopeKvWriteReference(this, x, w, bias, norm, positions, theta, kCache, vCache, slots, starts);
    requireIds('qkvRopeKvWrite positions', positions);
    requireIds('qkvRopeKvWrite slots', slots);
    requireIds('qkvRopeKvWrite starts', starts);
    if (bias && bias.size !== heads * d) throw new Error(`qkvRopeKvWrite: bias ${fmt(bias.shape)} needs ${heads * d} values`);
    const [nSlots, maxLen] = kCache.shape;
    const q = this.alloc([b, t, hq, d], dtype);
    this.launch(`fused_qkv_gemv_${dtype}_m${plan.maxRows}`, [plan.blocks, 1, 1], [256, 1, 1], [
      i32Arg(b * t), i32Arg(k), i32Arg(plan.splitK), this.p(x), this.p(w), this.p(norm?.weight ?? null), f32Arg(norm?.eps ?? 0), this.p(bias),
      i32Arg(t), i32Arg(hq), i32Arg(hkv), i32Arg(d), this.p(positions), ptrArg(this.inverseFrequencies(d, theta)), i32Arg(maxLen), i32Arg(nSlots),
      this.p(slots), this.p(starts), this.p(q), this.p(kCache), this.p(vCache), ptrArg(this.flagPtr(ERR_KV)),
    ], plan.sharedBytes);
    this.pendingChecks.set(ERR_KV, (row) => `qkvRopeKvWrite: row ${row} names a slot outside [0, ${nSlots}) or writes past maxLen ${maxLen}`);
    kCache.storage.version++;
    vCache.storage.version++;
    return q;
  }

  // ---- optimizer ----------------------------------------------------------------------------------------
  adamw(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWHyper): void {
    for (const [what, t] of [['p', p], ['m', m], ['v', v]] as const) {
      if (t.dtype !== 'f32') throw new Error(`adamw: ${what} must be f32 (master weights and moments), got ${t.dtype}`);
      if (t.size !== g.size) throw new Error(`adamw: ${what} ${fmt(t.shape)} and the gradient ${fmt(g.shape)} differ in size`);
    }
    const dtype = floatType('adamw', g);
    const n = p.size;
    if (n === 0) return;
    const bc1 = 1 - h.beta1 ** h.step;
    const bc2 = 1 - h.beta2 ** h.step;
    this.launch(`adamw_${dtype}`, [this.blocksFor(n), 1, 1], [256, 1, 1], [
      i64Arg(n), this.p(p), this.p(g), this.p(m), this.p(v), f32Arg(h.beta1), f32Arg(h.beta2), f32Arg(h.eps),
      f32Arg(1 - h.lr * h.weightDecay), f32Arg(h.lr / bc1), f32Arg(Math.sqrt(bc2)),
    ]);
    for (const t of [p, m, v]) t.storage.version++;
  }

  sumSquares(t: Tensor): number {
    const dtype = floatType('sumSquares', t);
    const n = t.size;
    if (n === 0) return 0;
    const blocks = Math.min(Math.ceil(n / 256), this.drv.info.multiprocessors * 4);
    const partial = this.alloc([blocks], 'f32');
    try {
      this.launch(`sum_squares_${dtype}`, [blocks, 1, 1], [256, 1, 1], [i64Arg(n), this.p(t), this.p(partial)]);
      const host = this.download(partial) as Float32Array;
      let s = 0;
      for (let i = 0; i < host.length; i++) s += host[i];
      return s;
    } finally {
      partial.dispose();
    }
  }
}

/** A captured CUDA graph (see CudaBackend.captureGraph). */
export class CudaGraph {
  private disposed = false;

  constructor(private readonly be: CudaBackend, private readonly handles: { exec: bigint; graph: bigint }, private readonly pool: BlockPool) {}

  /** Run every captured launch again, in order, on the backend's stream. */
  replay(): void {
    if (this.disposed) throw new Error('CudaGraph: replay after dispose()');
    this.be.drv.launchGraph(this.handles.exec);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.be.drv.destroyGraph(this.handles);
    this.be.allocator.closePool(this.pool);
  }
}

function attentionDims(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): AttentionShape {
  const dims = attentionShape(q, k, v, opts);
  if (dims.d > 256) throw new Error(`attention: head dim ${dims.d} is above the 256 the CUDA kernels take`);
  return dims;
}

/** The common float dtype of an op's inputs: theirs when they agree, else f32. */
function floatType(op: string, ...ts: Tensor[]): FloatDType {
  for (const t of ts) {
    if (t.dtype === 'i32') throw new Error(`cuda ${op}: expected a float tensor, got i32 ${fmt(t.shape)}`);
    if (t.dtype === 'f64') throw new Error(`cuda ${op}: f64 tensors are not supported on cuda (use f32)`);
  }
  const first = ts[0].dtype as FloatDType;
  return ts.every((t) => t.dtype === first) ? first : 'f32';
}

function requireIds(what: string, t: Tensor): void {
  if (t.dtype !== 'i32') throw new Error(`${what}: expected an i32 tensor, got ${t.dtype} ${fmt(t.shape)}`);
}

/** Layout kernels copy bits: 16-bit or 32-bit elements. */
function bits(dtype: DType): 'b16' | 'b32' {
  if (dtype === 'f64') throw new Error('cuda backend: f64 tensors are not supported');
  return BYTES[dtype] === 2 ? 'b16' : 'b32';
}

function around(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
}

/** Threads for a block that owns one row of d elements. */
function rowThreads(d: number): number {
  return d >= 1024 ? 512 : d >= 256 ? 256 : d >= 64 ? 64 : 32;
}
