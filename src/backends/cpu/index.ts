// The CPU backend: plain TypeScript over typed arrays. It is the reference every GPU kernel is tested
// against, and the default when no GPU is present. It computes in f32 (f64 when given f64, for gradient
// checks); bf16/f16 tensors are stored as raw bits and widened to f32 when an op reads them.
import { attentionShape } from '../attention_shape.ts';
import { matmulShape } from '../matmul_shape.ts';
import type { AdamWHyper, AttentionOptions, Backend, BackendCapabilities, BinaryOp, FusedLinearOptions, SampledTokens, SampleRow, UnaryOp } from '../backend.ts';
import { fusedLinearReference, qkvRopeKvWriteReference, ropeKvWriteReference } from '../fused_reference.ts';
import { type DType, type FloatArray, type HostArray } from '../../tensor/dtype.ts';
import { broadcastShapes, fmt, numel, sameShape, type Shape } from '../../tensor/shape.ts';
import { Storage, Tensor } from '../../tensor/tensor.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../tensor/half.ts';
import * as ew from './elementwise.ts';
import { gemm } from './gemm.ts';
import type * as attn from './attention.ts';
import { attentionBlocked, attentionBlockedBackward } from './attention_blocked.ts';
import { attentionBackwardWasmF32, attentionWasmF32 } from './attention_wasm.ts';
import { swigluBackwardWasmF32, swigluWasmF32 } from './swiglu_wasm.ts';
import { slotAttentionWasmF32 } from './slot_attention_wasm.ts';
import { freeResident, residentF32 } from './resident.ts';
import { ArrayPool } from './array_pool.ts';
import * as ops from './model_ops.ts';
import { rmsnorm, rmsnormBackward } from './norm.ts';
import { rmsnormBackwardWasmF32, rmsnormWasmF32 } from './rmsnorm_wasm.ts';
import { rope } from './rope.ts';
import { ropeWasmF32 } from './rope_wasm.ts';
import * as kv from './kv.ts';
import { sampleTokens } from '../sampler.ts';

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  /** The fused ops are their reference compositions and sample is the reference sampler; no graphs to capture. */
  readonly capabilities: BackendCapabilities = { fusedInference: true, deviceSampler: true, decodeGraphs: false };

  // ---- memory ---------------------------------------------------------------------------------------
  /** Bytes of live storages (allocated, not yet released), and their peak: what a step's activations cost. */
  private bytes = { inUse: 0, peakInUse: 0 };

  private wrap(data: HostArray, shape: Shape, dtype: DType): Tensor {
    this.bytes.inUse += data.byteLength;
    if (this.bytes.inUse > this.bytes.peakInUse) this.bytes.peakInUse = this.bytes.inUse;
    return new Tensor(new Storage(this, data), shape, dtype);
  }

  /** Live tensor bytes now and at their peak (the CUDA backend's memoryStats names, without its cache). */
  memoryStats(): { inUse: number; peakInUse: number } {
    return { ...this.bytes };
  }

  /** Start the peak over from the current use (as torch.cuda.reset_peak_memory_stats). */
  resetPeakMemoryStats(): void {
    this.bytes.peakInUse = this.bytes.inUse;
  }

  /** Released arrays for reuse (array_pool.ts): up to 256 MiB idle, well above the toy's and the tiny HF model's
   *  step peaks, and small next to what a CPU run of a real checkpoint holds in weights. */
  private readonly pool = new ArrayPool(256 << 20);

  private alloc(shape: Shape, dtype: DType): Tensor {
    return this.wrap(this.pool.take(dtype, numel(shape)), shape, dtype);
  }

  /** For an op that writes every element of its output: a reused array keeps its old values until then
   *  (test/cpu_array_pool.test.ts fills the pool with NaN to hold each such op to that). */
  private allocOverwritten(shape: Shape, dtype: DType): Tensor {
    return this.wrap(this.pool.take(dtype, numel(shape), false), shape, dtype);
  }

  upload(data: HostArray, shape: Shape, dtype: DType): Tensor {
    if (data.length !== numel(shape)) {
      throw new Error(`upload: ${data.length} values do not fill shape ${fmt(shape)} (${numel(shape)} elements)`);
    }
    const out = this.allocOverwritten(shape, dtype);
    const dst = raw(out);
    if ((dtype === 'bf16' || dtype === 'f16') && !(data instanceof Uint16Array)) {
      const f = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      (dtype === 'bf16' ? f32ToBf16 : f32ToF16)(f, dst as Uint16Array);
    } else {
      dst.set(data as ArrayLike<number>);
    }
    return out;
  }

  download(t: Tensor): HostArray {
    const data = raw(t);
    if (t.dtype === 'bf16' || t.dtype === 'f16') return floats(t);
    return data.slice();
  }

  zeros(shape: Shape, dtype: DType): Tensor {
    return this.alloc(shape, dtype);
  }

  /** f32 zeros in the kernels' shared memory when the arena has room (resident.ts), else ordinary zeros. */
  zerosResident(shape: Shape, dtype: DType): Tensor {
    const view = dtype === 'f32' ? residentF32(numel(shape)) : null;
    return view ? this.wrap(view, shape, dtype) : this.zeros(shape, dtype);
  }

  full(shape: Shape, value: number, dtype: DType): Tensor {
    return this.upload(new Float64Array(numel(shape)).fill(value), shape, dtype);
  }

  release(storage: Storage): void {
    const data = storage.handle as HostArray | null;
    if (data) {
      this.bytes.inUse -= data.byteLength;
      freeResident(data);
      this.pool.give(data);
    }
    storage.handle = null; // let the GC reclaim it; a use after release fails loudly in raw()
  }

  cast(t: Tensor, dtype: DType): Tensor {
    if (dtype === t.dtype) return this.upload(raw(t), t.shape, dtype);
    if (dtype === 'i32' || t.dtype === 'i32') {
      const src = t.dtype === 'i32' ? raw(t) : floats(t);
      return this.upload(dtype === 'i32' ? Int32Array.from(src as ArrayLike<number>, Math.trunc) : Float64Array.from(src as ArrayLike<number>), t.shape, dtype);
    }
    return this.upload(floats(t), t.shape, dtype);
  }

  copyInto(dst: Tensor, src: Tensor): void {
    if (!sameShape(dst.shape, src.shape)) throw new Error(`copyInto: shape ${fmt(src.shape)} into ${fmt(dst.shape)}`);
    const tmp = src.dtype === dst.dtype ? null : this.cast(src, dst.dtype);
    raw(dst).set(raw(tmp ?? src) as ArrayLike<number>);
    tmp?.dispose();
    dst.storage.version++;
  }

  // ---- dense math -----------------------------------------------------------------------------------
  matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
    const { m, n, k, batchShape, batch, sharedB } = matmulShape(a, b, transA, transB);
    const out = this.allocOverwritten([...batchShape, m, n], floatType(a, b));
    gemm({
      a: floats(a), b: floats(b), out: raw(out) as FloatArray,
      batch, m, n, k, transA, transB,
      strideA: m * k, strideB: sharedB ? 0 : k * n, strideOut: m * n,
      accumulate: false,
    });
    return out;
  }

  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
    const shape = broadcastShapes(a.shape, b.shape);
    const out = this.allocOverwritten(shape, floatType(a, b));
    ew.binary(op, floats(a), a.shape, floats(b), b.shape, raw(out) as FloatArray, shape);
    return out;
  }

  unary(op: UnaryOp, a: Tensor): Tensor {
    const out = this.alloc(a.shape, floatType(a));
    ew.unary(op, floats(a), raw(out) as FloatArray);
    return out;
  }

  affine(a: Tensor, mul: number, add: number): Tensor {
    const out = this.alloc(a.shape, floatType(a));
    ew.affine(floats(a), mul, add, raw(out) as FloatArray);
    return out;
  }

  sum(a: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
    const kept = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = this.alloc(keepDims ? kept : a.shape.filter((_, i) => !axes.includes(i)), floatType(a));
    ew.sum(floats(a), a.shape, axes, raw(out) as FloatArray);
    return out;
  }

  permute(a: Tensor, perm: readonly number[]): Tensor {
    const out = this.alloc(perm.map((p) => a.shape[p]), a.dtype);
    ew.permute(raw(a), a.shape, perm, raw(out));
    return out;
  }

  slice(a: Tensor, axis: number, start: number, end: number): Tensor {
    const shape = a.shape.slice();
    shape[axis] = end - start;
    const out = this.alloc(shape, a.dtype);
    ew.slice(raw(a), a.shape, axis, start, end, raw(out));
    return out;
  }

  concat(parts: readonly Tensor[], axis: number): Tensor {
    const shape = parts[0].shape.slice();
    shape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
    const out = this.alloc(shape, parts[0].dtype);
    ew.concat(parts.map((p) => ({ data: raw(p), shape: p.shape })), axis, raw(out));
    return out;
  }

  // ---- fused model ops ------------------------------------------------------------------------------
  embedding(weight: Tensor, ids: Tensor): Tensor {
    const [vocab, d] = weight.shape;
    const out = this.alloc([...ids.shape, d], floatType(weight));
    ops.embedding(floats(weight), ints(ids), d, vocab, raw(out) as FloatArray);
    return out;
  }

  embeddingBackward(grad: Tensor, ids: Tensor, vocabSize: number): Tensor {
    const d = grad.shape[grad.rank - 1];
    const out = this.alloc([vocabSize, d], floatType(grad));
    ops.embeddingBackward(floats(grad), ints(ids), d, raw(out) as FloatArray);
    return out;
  }

  rmsnorm(x: Tensor, w: Tensor, eps: number): { y: Tensor; rstd: Tensor } {
    const d = x.shape[x.rank - 1];
    const y = this.allocOverwritten(x.shape, floatType(x, w));
    const rstd = this.allocOverwritten(x.shape.slice(0, -1), floatType(x));
    const args = [floats(x), floats(w), eps, d, raw(y) as FloatArray, raw(rstd) as FloatArray] as const;
    if (!rmsnormWasmF32(...args)) rmsnorm(...args);
    return { y, rstd };
  }

  rmsnormBackward(gy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): { gx: Tensor; gw: Tensor } {
    const gx = this.allocOverwritten(x.shape, floatType(x));
    const gw = this.allocOverwritten(w.shape, floatType(w));
    const args = [floats(gy), floats(x), floats(w), floats(rstd), w.size, raw(gx) as FloatArray, raw(gw) as FloatArray] as const;
    if (!rmsnormBackwardWasmF32(...args)) rmsnormBackward(...args);
    return { gx, gw };
  }

  rope(x: Tensor, positions: Tensor, theta: number, inverse: boolean): Tensor {
    const out = this.allocOverwritten(x.shape, floatType(x));
    const args = [floats(x), ints(positions), x.shape, theta, inverse, raw(out) as FloatArray] as const;
    if (!ropeWasmF32(...args)) rope(...args);
    return out;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): { o: Tensor; lse: Tensor } {
    const dims = attentionDims(q, k, v, opts);
    const o = this.alloc(q.shape, floatType(q, k, v));
    const lse = this.alloc(q.shape.slice(0, 3), floatType(q));
    const args = [floats(q), floats(k), floats(v), dims, raw(o) as FloatArray, raw(lse) as FloatArray] as const;
    if (!attentionWasmF32(...args)) attentionBlocked(...args);
    return { o, lse };
  }

  attentionBackward(
    go: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, opts: AttentionOptions,
  ): { gq: Tensor; gk: Tensor; gv: Tensor } {
    const dims = attentionDims(q, k, v, opts);
    const type = floatType(q, k, v);
    const gq = this.alloc(q.shape, type);
    const gk = this.alloc(k.shape, type);
    const gv = this.alloc(v.shape, type);
    const args = [
      floats(go), floats(q), floats(k), floats(v), floats(o), floats(lse), dims, raw(gq) as FloatArray, raw(gk) as FloatArray, raw(gv) as FloatArray,
    ] as const;
    if (!attentionBackwardWasmF32(...args)) attentionBlockedBackward(...args);
    return { gq, gk, gv };
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    const out = this.allocOverwritten(gate.shape, floatType(gate, up));
    const args = [floats(gate), floats(up), raw(out) as FloatArray] as const;
    if (!swigluWasmF32(...args)) ops.swiglu(...args);
    return out;
  }

  swigluBackward(gy: Tensor, gate: Tensor, up: Tensor): { gGate: Tensor; gUp: Tensor } {
    const gGate = this.allocOverwritten(gate.shape, floatType(gate));
    const gUp = this.allocOverwritten(up.shape, floatType(up));
    const args = [floats(gy), floats(gate), floats(up), raw(gGate) as FloatArray, raw(gUp) as FloatArray] as const;
    if (!swigluBackwardWasmF32(...args)) ops.swigluBackward(...args);
    return { gGate, gUp };
  }

  crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex: number): { loss: Tensor; lse: Tensor } {
    const [n, vocab] = logits.shape;
    const loss = this.alloc([n], floatType(logits));
    const lse = this.alloc([n], floatType(logits));
    ops.crossEntropy(floats(logits), ints(targets), vocab, ignoreIndex, raw(loss) as FloatArray, raw(lse) as FloatArray);
    return { loss, lse };
  }

  crossEntropyBackward(gLoss: Tensor, logits: Tensor, targets: Tensor, lse: Tensor, ignoreIndex: number): Tensor {
    const out = this.alloc(logits.shape, floatType(logits));
    ops.crossEntropyBackward(
      floats(gLoss), floats(logits), ints(targets), floats(lse), logits.shape[1], ignoreIndex, raw(out) as FloatArray,
    );
    return out;
  }

  // ---- generation: slot KV cache and sampling ---------------------------------------------------------
  kvWrite(cache: Tensor, src: Tensor, slots: Tensor, starts: Tensor): void {
    const [b, t] = src.shape;
    const dims = cacheDims(cache, src);
    if (slots.size !== b || starts.size !== b) {
      throw new Error(`kvWrite: src ${fmt(src.shape)} has ${b} rows, slots ${fmt(slots.shape)} and starts ${fmt(starts.shape)} need [${b}]`);
    }
    const data = src.dtype === cache.dtype ? src : this.cast(src, cache.dtype);
    kv.kvWrite(raw(cache), dims, raw(data), t, ints(slots), ints(starts));
    if (data !== src) data.dispose();
    cache.storage.version++;
  }

  kvCopy(cache: Tensor, src: number, dsts: readonly number[], length: number): void {
    kv.kvCopy(raw(cache), cacheDims(cache), src, dsts, length);
    cache.storage.version++;
  }

  slotAttention(q: Tensor, kCache: Tensor, vCache: Tensor, slots: Tensor, kvLens: Tensor, scale: number): Tensor {
    const [b, t, hq, d] = q.shape;
    const [nSlots, maxLen, hkv] = kCache.shape;
    if (q.rank !== 4 || !sameShape(kCache.shape, vCache.shape) || kCache.shape[3] !== d || hq % hkv !== 0) {
      throw new Error(`slotAttention: q ${fmt(q.shape)} needs [B, T, Hq, ${kCache.shape[3]}] with Hq a multiple of ${hkv}; caches ${fmt(kCache.shape)} and ${fmt(vCache.shape)} need equal shapes`);
    }
    if (slots.size !== b || kvLens.size !== b) throw new Error(`slotAttention: slots and kvLens need [${b}], got ${fmt(slots.shape)} and ${fmt(kvLens.shape)}`);
    const o = this.alloc(q.shape, floatType(q));
    const args = [
      floats(q), floats(kCache), floats(vCache), { b, t, hq, hkv, d, maxLen, slots: nSlots, scale }, ints(slots), ints(kvLens), raw(o) as FloatArray,
    ] as const;
    if (!slotAttentionWasmF32(...args)) kv.slotAttention(...args);
    return o;
  }

  sample(logits: Tensor, rows: readonly SampleRow[]): SampledTokens {
    if (logits.rank !== 2 || logits.shape[0] !== rows.length) {
      throw new Error(`sample: logits ${fmt(logits.shape)} need [${rows.length}, V], one row per SampleRow`);
    }
    return sampleTokens(floats(logits), logits.shape[1], rows);
  }

  // ---- inference-only fused ops: the reference compositions themselves ---------------------------------
  fusedLinear(x: Tensor, w: Tensor, opts: FusedLinearOptions): Tensor {
    return fusedLinearReference(this, x, w, opts);
  }

  ropeKvWrite(qkv: Tensor, bias: Tensor | null, positions: Tensor, theta: number, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor): Tensor {
    return ropeKvWriteReference(this, qkv, bias, positions, theta, kCache, vCache, slots, starts);
  }

  qkvRopeKvWrite(
    x: Tensor, w: Tensor, bias: Tensor | null, norm: { weight: Tensor; eps: number } | null, positions: Tensor, theta: number,
    kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor,
  ): Tensor {
    return qkvRopeKvWriteReference(this, x, w, bias, norm, positions, theta, kCache, vCache, slots, starts);
  }

  // ---- optimizer ------------------------------------------------------------------------------------
  adamw(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWHyper): void {
    ops.adamw(raw(p) as FloatArray, floats(g), raw(m) as FloatArray, raw(v) as FloatArray, h);
    for (const t of [p, m, v]) t.storage.version++;
  }

  sumSquares(t: Tensor): number {
    const a = floats(t);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    return s;
  }
}

/** A slot cache [slots, maxLen, Hkv, D], checked against a source [B, T, Hkv, D] when given. */
function cacheDims(cache: Tensor, src?: Tensor): kv.CacheDims {
  const [slots, maxLen, hkv, d] = cache.shape;
  if (cache.rank !== 4 || (src && (src.rank !== 4 || src.shape[2] !== hkv || src.shape[3] !== d))) {
    throw new Error(`kv cache ${fmt(cache.shape)} must be [slots, maxLen, Hkv, D]${src ? ` and src ${fmt(src.shape)} [B, T, ${hkv}, ${d}]` : ''}`);
  }
  return { slots, maxLen, row: hkv * d };
}

function attentionDims(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): attn.AttentionDims {
  const segments = opts.segments ? ints(opts.segments) : undefined;
  return { ...attentionShape(q, k, v, opts), scale: opts.scale, causal: opts.causal, segments };
}

/** The typed array behind a CPU tensor. */
export function raw(t: Tensor): HostArray {
  const h = t.storage.handle as HostArray | null;
  if (!h) throw new Error(`tensor ${fmt(t.shape)} was released`);
  return h;
}

/** A tensor's values as f32/f64 (halves widened to f32). */
export function floats(t: Tensor): FloatArray {
  const h = raw(t);
  if (t.dtype === 'bf16') return bf16ToF32(h as Uint16Array);
  if (t.dtype === 'f16') return f16ToF32(h as Uint16Array);
  if (t.dtype === 'i32') return Float32Array.from(h as Int32Array);
  return h as FloatArray;
}

function ints(t: Tensor): Int32Array {
  if (t.dtype !== 'i32') throw new Error(`expected an i32 tensor of ids, got ${t.dtype} ${fmt(t.shape)}`);
  return raw(t) as Int32Array;
}

/** f64 if any input is f64 (gradient checks), else f32: the CPU computes in f32. */
function floatType(...ts: Tensor[]): DType {
  return ts.some((t) => t.dtype === 'f64') ? 'f64' : 'f32';
}
