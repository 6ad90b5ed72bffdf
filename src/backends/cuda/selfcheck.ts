// Every CUDA kernel against the CPU reference on fresh random inputs, with error limits suited to each
// dtype. One list of checks serves the emulator tests (size 'small'), the GPU tests and bench/gpu.ts
// (size 'large'). Each check reports the worst error relative to the reference's largest magnitude.
import { hasDeviceSampler, hasFusedInference, type AttentionOptions, type Backend, type BinaryOp, type FusedLinearOptions, type SampleRow, type UnaryOp } from '../backend.ts';
import { sampleTokens } from '../sampler.ts';
import type { AttentionShape } from '../attention_shape.ts';
import { CpuBackend } from '../cpu/index.ts';
import type { DType } from '../../tensor/dtype.ts';
import { numel } from '../../tensor/shape.ts';
import { signedStream } from '../../tensor/rng.ts';
import type { Tensor } from '../../tensor/tensor.ts';

export type CheckSize = 'small' | 'large';

export interface CheckResult {
  name: string;
  /** max |got − want| / max |want| (0 when both are exactly equal). */
  maxErr: number;
  tol: number;
  pass: boolean;
  ms: number;
  error?: string;
}

interface Ctx {
  cuda: Backend;
  cpu: Backend;
  size: CheckSize;
  rand: () => number;
  /** Tensors to dispose when the check ends. */
  made: Tensor[];
}

interface Check {
  name: string;
  run(c: Ctx): number | Promise<number>;
  tol: number;
}

function values(c: Ctx, shape: number[], scale = 1): Float32Array {
  return Float32Array.from({ length: numel(shape) }, () => c.rand() * scale);
}

/** The same values on both backends. */
function both(c: Ctx, data: Float32Array | Int32Array, shape: number[], dtype: DType): [Tensor, Tensor] {
  const g = c.cuda.upload(data, shape, dtype);
  const r = c.cpu.upload(data, shape, dtype);
  c.made.push(g, r);
  return [g, r];
}

function randBoth(c: Ctx, shape: number[], dtype: DType, scale = 1): [Tensor, Tensor] {
  return both(c, values(c, shape, scale), shape, dtype);
}

function idsBoth(c: Ctx, shape: number[], below: number, ignore?: { value: number; every: number }): [Tensor, Tensor] {
  const ids = Int32Array.from({ length: numel(shape) }, (_, i) =>
    ignore && i % ignore.every === 0 ? ignore.value : Math.floor(((c.rand() + 1) / 2) * below) % below);
  return both(c, ids, shape, 'i32');
}

/** Normalised max error of a CUDA result against the CPU one (shapes must agree). */
function err(c: Ctx, got: Tensor, want: Tensor): number {
  c.made.push(got, want);
  if (got.shape.join() !== want.shape.join()) throw new Error(`shape [${got.shape}] vs reference [${want.shape}]`);
  const g = got.toArray();
  const w = want.toArray();
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < w.length; i++) {
    const d = g[i] === w[i] ? 0 : Math.abs(g[i] - w[i]); // equal infinities agree
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d; // NaN on either side fails the check
    if (Number.isFinite(w[i])) maxRef = Math.max(maxRef, Math.abs(w[i]));
  }
  return maxDiff === 0 ? 0 : maxDiff / Math.max(maxRef, 1e-30);
}

const worst = (...xs: number[]) => Math.max(...xs);
const L = (c: Ctx, small: number, large: number) => (c.size === 'small' ? small : large);

type Float = 'f32' | 'bf16' | 'f16';

const F32 = 2e-5;
// Half types: a few roundings of the storage type on inputs, the result and any intermediate the kernel stores.
// bf16 keeps 8 significant bits (a rounding moves a value by up to 2^-9 ≈ 2e-3 of it), f16 11 (4.9e-4). On the
// emulator's small sizes (seeds 1, 2, 3 and the default) the worst errors are 7.7e-3 (bf16) and 7.4e-4 (f16);
// bf16's limit has held at the GPU's large sizes (f16's is not yet measured there). f16's limit is below what
// one bf16 rounding costs, so an f16 kernel that loses precision through a bf16 intermediate fails it.
const BF16 = 2e-2;
const F16 = 1.5e-3;

/** The limit for a check: `f32` for f32 tensors, the half type's own for bf16 and f16. */
function tolFor(dtype: Float, f32: number): number {
  return dtype === 'f32' ? f32 : dtype === 'bf16' ? BF16 : F16;
}

function binaryChecks(): Check[] {
  const out: Check[] = [];
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    out.push({
      name: `binary add/sub/mul/div, broadcast (${dtype})`,
      tol: tolFor(dtype, 1e-6),
      run: (c) => {
        const n = L(c, 5, 67);
        const shapes: [number[], number[]][] = [[[3, n, 4], [3, n, 4]], [[3, n, 4], [4]], [[3, n, 4], [1]], [[3, 1, 4], [n, 1]], [[2, 3, n, 4], [3, 1, 4]]];
        let e = 0;
        for (const op of ['add', 'sub', 'mul', 'div'] as BinaryOp[]) {
          for (const [sa, sb] of shapes) {
            const [ga, ra] = randBoth(c, sa, dtype);
            // Divisors kept away from 0 so the relative error means something.
            const bData = Float32Array.from(values(c, sb), (x) => (op === 'div' ? 0.5 + Math.abs(x) : x));
            const [gb, rb] = both(c, bData, sb, dtype);
            e = worst(e, err(c, c.cuda.binary(op, ga, gb), c.cpu.binary(op, ra, rb)));
          }
        }
        return e;
      },
    });
    out.push({
      name: `unary ops and affine (${dtype})`,
      tol: tolFor(dtype, 1e-6),
      run: (c) => {
        const shape = [L(c, 7, 300), 33];
        let e = 0;
        for (const op of ['neg', 'exp', 'log', 'sqrt', 'silu', 'square', 'abs'] as UnaryOp[]) {
          const data = Float32Array.from(values(c, shape, 2), (x) => (op === 'log' || op === 'sqrt' ? 0.1 + Math.abs(x) : x));
          const [g, r] = both(c, data, shape, dtype);
          e = worst(e, err(c, c.cuda.unary(op, g), c.cpu.unary(op, r)));
        }
        const [g, r] = randBoth(c, shape, dtype);
        return worst(e, err(c, c.cuda.affine(g, -1.5, 0.25), c.cpu.affine(r, -1.5, 0.25)));
      },
    });
  }
  return out;
}

const layoutChecks: Check[] = [
  {
    name: 'casts between f32, bf16, f16, i32 (bit-exact)',
    tol: 0,
    run: (c) => {
      const shape = [L(c, 9, 1000), 7];
      const data = Float32Array.from(values(c, shape, 300), (x, i) => (i % 17 === 0 ? 65504 * 4 : x)); // includes f16 overflow
      let e = 0;
      for (const from of ['f32', 'bf16', 'f16', 'i32'] as DType[]) {
        const src = from === 'i32' ? Int32Array.from(data, Math.trunc) : data;
        const [g, r] = both(c, src, shape, from);
        for (const to of ['f32', 'bf16', 'f16', 'i32'] as DType[]) {
          if (from === 'f16' && to === 'i32') continue; // ±inf → i32 differs by design (CUDA saturates, JS gives 0)
          e = worst(e, err(c, c.cuda.cast(g, to), c.cpu.cast(r, to)));
        }
      }
      return e;
    },
  },
  {
    name: 'permute, slice, concat (f32, bf16, i32)',
    tol: 0,
    run: (c) => {
      let e = 0;
      for (const dtype of ['f32', 'bf16', 'i32'] as DType[]) {
        const shape = [2, 3, L(c, 4, 40), 5];
        const data = values(c, shape, 100);
        const [g, r] = both(c, dtype === 'i32' ? Int32Array.from(data, Math.trunc) : data, shape, dtype);
        for (const perm of [[0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]]) e = worst(e, err(c, c.cuda.permute(g, perm), c.cpu.permute(r, perm)));
        e = worst(e, err(c, c.cuda.slice(g, 2, 1, 3), c.cpu.slice(r, 2, 1, 3)));
        e = worst(e, err(c, c.cuda.slice(g, 0, 1, 2), c.cpu.slice(r, 0, 1, 2)));
        const [g2, r2] = both(c, Float32Array.from(values(c, [2, 3, 2, 5], 100), Math.trunc), [2, 3, 2, 5], dtype);
        e = worst(e, err(c, c.cuda.concat([g, g2, g], 2), c.cpu.concat([r, r2, r], 2)));
      }
      return e;
    },
  },
];

function matmulChecks(): Check[] {
  const out: Check[] = [];
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    out.push({
      name: `matmul: transposes, batched, shared weight (${dtype})`,
      tol: tolFor(dtype, F32),
      run: (c) => {
        const [m, k, n] = c.size === 'small' ? [5, 7, 6] : [192, 320, 256];
        let e = 0;
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const [ga, ra] = randBoth(c, transA ? [3, k, m] : [3, m, k], dtype);
            const [gb, rb] = randBoth(c, transB ? [3, n, k] : [3, k, n], dtype);
            e = worst(e, err(c, c.cuda.matmul(ga, gb, transA, transB), c.cpu.matmul(ra, rb, transA, transB)));
            const [gw, rw] = randBoth(c, transB ? [n, k] : [k, n], dtype); // 2-D weight shared by the batch
            e = worst(e, err(c, c.cuda.matmul(ga, gw, transA, transB), c.cpu.matmul(ra, rw, transA, transB)));
          }
        }
        return e;
      },
    });
  }
  return out;
}

/** Sums over axes, on the one-thread-per-output and the block-per-output kernels; the result has x's dtype. */
function sumCheck(dtype: Float): Check {
  return {
    name: `sum over axes (thread and block kernels, ${dtype})`,
    tol: tolFor(dtype, F32),
    run: (c) => {
      let e = 0;
      const cases: [number[], number[]][] = [
        [[4, 5, 6], [0]], [[4, 5, 6], [1]], [[4, 5, 6], [2]], [[4, 5, 6], [0, 2]], [[4, 5, 6], [0, 1, 2]],
        [[3, L(c, 1100, 5000)], [1]], [[L(c, 1100, 8192), 3], [0]], [[2, 1, 3], [1]],
      ];
      for (const [shape, axes] of cases) {
        const [g, r] = randBoth(c, shape, dtype);
        e = worst(e, err(c, c.cuda.sum(g, axes, true), c.cpu.sum(r, axes, true)));
        e = worst(e, err(c, c.cuda.sum(g, axes, false), c.cpu.sum(r, axes, false)));
      }
      return e;
    },
  };
}

/** Embedding gather (exact in any dtype) and its scatter-add backward (an f32 gradient, summed over repeated ids). */
function embeddingCheck(dtype: Float): Check {
  return {
    name: `embedding gather + scatter-add backward, repeated ids (${dtype})`,
    tol: F32,
    run: (c) => {
      const [v, d, n] = c.size === 'small' ? [11, 6, 20] : [5000, 896, 4096];
      const [gw, rw] = randBoth(c, [v, d], dtype);
      const [gi, ri] = idsBoth(c, [2, n / 2], v);
      const [gg, rg] = randBoth(c, [2, n / 2, d], dtype);
      return worst(err(c, c.cuda.embedding(gw, gi), c.cpu.embedding(rw, ri)), err(c, c.cuda.embeddingBackward(gg, gi, v), c.cpu.embeddingBackward(rg, ri, v)));
    },
  };
}

/** One AdamW step on f32 master weights and moments, with a gradient in `grad`'s dtype, and sumSquares of it. */
function adamwCheck(grad: Float): Check {
  return {
    name: `adamw step (f32 master, ${grad} grad) and sumSquares`,
    tol: 1e-5,
    run: (c) => {
      const n = L(c, 300, 1 << 20);
      const [gp, rp] = randBoth(c, [n], 'f32');
      const [gm, rm] = randBoth(c, [n], 'f32', 0.1);
      const vData = Float32Array.from(values(c, [n], 0.01), Math.abs);
      const [gv, rv] = both(c, vData, [n], 'f32');
      const [gg, rg] = randBoth(c, [n], grad);
      const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 3 };
      c.cuda.adamw(gp, gg, gm, gv, h);
      c.cpu.adamw(rp, rg, rm, rv, h);
      const ss = Math.abs(c.cuda.sumSquares(gg) - c.cpu.sumSquares(rg)) / c.cpu.sumSquares(rg);
      return worst(err(c, gp, rp), err(c, gm, rm), err(c, gv, rv), ss);
    },
  };
}

/**
 * RMSNorm, SwiGLU and cross-entropy, forward and backward, in one dtype, each with that dtype's limit (small
 * sizes on the emulator measured 1.3e-7, 1.0e-7, 1.5e-7 in f32; 2.1e-3 to 2.8e-3 in bf16; 2.8e-4 to 3.5e-4 in f16).
 */
function modelOpDtypeChecks(dtype: Float): Check[] {
  return [
    {
      name: `rmsnorm forward + backward (${dtype})`,
      tol: tolFor(dtype, F32), // a sum of squares per row, like the sum check
      run: (c) => {
        const [rows, d] = c.size === 'small' ? [6, 40] : [2048, 896];
        const [gx, rx] = randBoth(c, [2, rows / 2, d], dtype, 3);
        const [gw, rw] = randBoth(c, [d], dtype);
        const [gy, ry] = randBoth(c, [2, rows / 2, d], dtype);
        const g = c.cuda.rmsnorm(gx, gw, 1e-6);
        const r = c.cpu.rmsnorm(rx, rw, 1e-6);
        const gb = c.cuda.rmsnormBackward(gy, gx, gw, g.rstd);
        const rb = c.cpu.rmsnormBackward(ry, rx, rw, r.rstd);
        return worst(err(c, g.y, r.y), err(c, g.rstd, r.rstd), err(c, gb.gx, rb.gx), err(c, gb.gw, rb.gw));
      },
    },
    {
      name: `swiglu forward + backward (${dtype})`,
      tol: tolFor(dtype, 1e-6), // elementwise, like the unary ops
      run: (c) => {
        const shape = [L(c, 3, 64), L(c, 10, 4864)];
        const [gg, rg] = randBoth(c, shape, dtype, 4);
        const [gu, ru] = randBoth(c, shape, dtype);
        const [gy, ry] = randBoth(c, shape, dtype);
        const gb = c.cuda.swigluBackward(gy, gg, gu);
        const rb = c.cpu.swigluBackward(ry, rg, ru);
        return worst(err(c, c.cuda.swiglu(gg, gu), c.cpu.swiglu(rg, ru)), err(c, gb.gGate, rb.gGate), err(c, gb.gUp, rb.gUp));
      },
    },
    {
      name: `cross-entropy forward + backward, ignore_index (${dtype} logits)`,
      tol: tolFor(dtype, F32), // a log-sum-exp per row
      run: (c) => {
        const [n, v] = c.size === 'small' ? [7, 50] : [256, 151936];
        const [gl, rl] = randBoth(c, [n, v], dtype, 8);
        const [gt, rt] = idsBoth(c, [n], v, { value: -100, every: 3 });
        const g = c.cuda.crossEntropy(gl, gt, -100);
        const r = c.cpu.crossEntropy(rl, rt, -100);
        const [gg, rg] = randBoth(c, [n], 'f32');
        const back = err(c, c.cuda.crossEntropyBackward(gg, gl, gt, g.lse, -100), c.cpu.crossEntropyBackward(rg, rl, rt, r.lse, -100));
        return worst(err(c, g.loss, r.loss), err(c, g.lse, r.lse), back);
      },
    },
  ];
}

function ropeCheck(dtype: Float): Check {
  return {
    name: `rope forward + inverse at long positions (${dtype})`,
    tol: tolFor(dtype, 1e-5),
    run: (c) => {
      const [b, t, h, d] = c.size === 'small' ? [2, 5, 3, 8] : [2, 2048, 14, 64];
      const [gx, rx] = randBoth(c, [b, t, h, d], dtype);
      const pos = Int32Array.from({ length: b * t }, (_, i) => (i % t) * (c.size === 'small' ? 997 : 16) + 3);
      const [gp, rp] = both(c, pos, [b, t], 'i32');
      return worst(err(c, c.cuda.rope(gx, gp, 1e6, false), c.cpu.rope(rx, rp, 1e6, false)), err(c, c.cuda.rope(gx, gp, 1e4, true), c.cpu.rope(rx, rp, 1e4, true)));
    },
  };
}

function slotCacheCheck(dtype: Float): Check {
  return {
    name: `slot KV cache: kvWrite, kvCopy, slotAttention prefill + decode (${dtype})`,
    tol: tolFor(dtype, 1e-5),
    run: (c) => {
      // [slots, maxLen, Hkv, D, Hq, rows, prefill T]: a toy shape, then Qwen2.5-0.5B's heads (GQA 7) over a
      // cache long enough that decode attention splits each row into several blocks and merges them.
      const shapes = c.size === 'small'
        ? [[5, 40, 2, 16, 6, 3, 7], [4, 300, 2, 64, 14, 3, 30]]
        : [[64, 1024, 2, 64, 14, 48, 100], [4, 4096, 2, 128, 16, 2, 50]];
      let e = 0;
      for (const [slots, maxLen, hkv, d, hq, rows, t] of shapes) e = worst(e, slotCacheCase(c, dtype, slots, maxLen, hkv, d, hq, rows, t));
      return e;
    },
  };
}

function slotCacheCase(c: Ctx, dtype: Float, slots: number, maxLen: number, hkv: number, d: number, hq: number, rows: number, t: number): number {
  const [gk, rk] = both(c, new Float32Array(slots * maxLen * hkv * d), [slots, maxLen, hkv, d], dtype);
  const [gv, rv] = both(c, new Float32Array(slots * maxLen * hkv * d), [slots, maxLen, hkv, d], dtype);
  // Prefill T positions into `rows` distinct slots at staggered starts, then copy one slot's prefix.
  const slotIds = Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % slots); // distinct: 7 is coprime with every size here
  const starts = Int32Array.from({ length: rows }, (_, i) => (i === rows - 1 ? maxLen - t : (i * 13) % (maxLen - t)));
  const [gs, rs] = both(c, slotIds, [rows], 'i32');
  const [gst, rst] = both(c, starts, [rows], 'i32');
  for (const [g, r] of [[gk, rk], [gv, rv]]) {
    const [gsrc, rsrc] = randBoth(c, [rows, t, hkv, d], dtype);
    c.cuda.kvWrite(g, gsrc, gs, gst);
    c.cpu.kvWrite(r, rsrc, rs, rst);
  }
  const spare = [...Array(slots).keys()].filter((x) => !slotIds.includes(x)).slice(0, 1);
  if (spare.length > 0) {
    c.cuda.kvCopy(gk, slotIds[0], spare, t);
    c.cpu.kvCopy(rk, slotIds[0], spare, t);
  }
  let e = worst(err(c, c.cuda.cast(gk, 'f32'), c.cpu.cast(rk, 'f32')), err(c, c.cuda.cast(gv, 'f32'), c.cpu.cast(rv, 'f32')));
  // Attention at kvLen = start + T for each row (prefill, 3 queries) and then one decode query; the last row
  // runs to the end of its slot.
  const lens = Int32Array.from(starts, (s) => s + t);
  const [gl, rl] = both(c, lens, [rows], 'i32');
  for (const tq of [3, 1]) {
    const [gq, rq] = randBoth(c, [rows, tq, hq, d], dtype);
    e = worst(e, err(c, c.cuda.slotAttention(gq, gk, gv, gs, gl, 1 / Math.sqrt(d)), c.cpu.slotAttention(rq, rk, rv, rs, rl, 1 / Math.sqrt(d))));
  }
  return e;
}

/** Rows covering every sampler stage and their combinations, with fixed seeds. */
function sampleRows(n: number, vocab: number, r: () => number): SampleRow[] {
  const base = { temperature: 0.8, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, penalized: new Int32Array(0) };
  const variants: Partial<SampleRow>[] = [
    { temperature: 0 },
    {},
    { topK: 5 },
    { topP: 0.9 },
    { minP: 0.05 },
    { topK: 40, topP: 0.95, minP: 0.01, temperature: 0.6 },
    { repetitionPenalty: 1.3, penalized: Int32Array.from({ length: 20 }, (_, i) => (i * 37) % vocab) },
    { temperature: 1.5, topP: 0.5, repetitionPenalty: 0.9, penalized: Int32Array.from([1, 2, 3, 5, 8]) },
    { temperature: 0, repetitionPenalty: 2, penalized: Int32Array.from([0, 7]) },
    { topK: 1 },
    { topP: 0.3, topK: 1000 },
    // Near-uniform draws over a small kept set, so a cut one token off changes the tokens drawn.
    { topK: 2, temperature: 50 },
    { topP: 0.001, temperature: 20 },
    { topK: 3, topP: 0.9, temperature: 30 },
  ];
  return Array.from({ length: n }, (_, i) => ({
    ...base,
    ...variants[i % variants.length],
    key: [(i * 2654435761) >>> 0, 7] as [number, number],
    counter: [i, i % 3, Math.floor((r() + 1) * 1000)] as [number, number, number],
  }));
}

function samplerCheck(dtype: Float): Check {
  return {
    name: `fused sampler: same tokens and log-probs as the CPU sampler (${dtype} logits)`,
    tol: 1e-6,
    run: (c) => {
      if (!hasDeviceSampler(c.cuda)) throw new Error('the backend does not declare deviceSampler');
      // Uniform logits (a flat head: top-p cuts deep, many bf16 ties), then shaped ones: peaked like a trained
      // model's, all equal (every token ties at the cuts), and with -inf entries (masked ids); then flat ones,
      // whose cut bins and sub-bins hold thousands of tokens (more than the select keeps in shared memory) spread
      // over every block of the row. The vocabularies span one block per row and several, the last block partial;
      // 42 shaped and 56 flat rows meet every sampler setting on every row kind.
      const cases: [number, number, LogitShape][] = c.size === 'small'
        ? [[28, 300, 'uniform'], [14, 5003, 'uniform'], [42, 2500, 'shaped'], [56, 5003, 'flat']]
        : [[64, 151936, 'uniform'], [42, 151936, 'shaped'], [3, 32000, 'uniform'], [28, 151936, 'flat']];
      let e = 0;
      for (const [n, vocab, shape] of cases) {
        const data = shape === 'uniform' ? values(c, [n, vocab], 6) : shape === 'shaped' ? shapedLogits(c, n, vocab) : flatLogits(c, n, vocab);
        const [g] = both(c, data, [n, vocab], dtype);
        const rows = sampleRows(n, vocab, c.rand);
        const got = c.cuda.sample(g, rows);
        const want = sampleTokens(g.toArray() as Float32Array, vocab, rows);
        const mismatched = [...got.tokens].map((t, i) => (t !== want.tokens[i] ? i : -1)).filter((i) => i >= 0);
        if (mismatched.length > 0) {
          throw new Error(`${shape} ${n}×${vocab}: ${mismatched.length} of ${n} tokens differ (rows ${mismatched.slice(0, 6)}): got [${mismatched.slice(0, 6).map((i) => got.tokens[i])}], want [${mismatched.slice(0, 6).map((i) => want.tokens[i])}]`);
        }
        for (let i = 0; i < n; i++) e = Math.max(e, Math.abs(got.logprobs[i] - want.logprobs[i]) / Math.max(1, Math.abs(want.logprobs[i])));
      }
      return e;
    },
  };
}

type LogitShape = 'uniform' | 'shaped' | 'flat';

/** Rows cycling through: peaked (a few large logits over a long low tail), all equal, and some -inf. */
function shapedLogits(c: Ctx, n: number, vocab: number): Float32Array {
  const out = new Float32Array(n * vocab);
  for (let r = 0; r < n; r++) {
    const row = out.subarray(r * vocab, (r + 1) * vocab);
    const kind = r % 3;
    for (let i = 0; i < vocab; i++) {
      const u = c.rand();
      if (kind === 0) row[i] = i % 97 === 5 ? 12 + 4 * u : -4 + 3 * u;
      else if (kind === 1) row[i] = 1.5;
      else row[i] = i % 7 === 0 ? -Infinity : 5 * u;
    }
  }
  return out;
}

/**
 * Rows cycling through: one level plus f32 noise far below a histogram bin (every token in one bin and a few
 * sub-bins, ~170 distinct f32 values; all equal in bf16), a narrow spread over a few bins (hundreds of tokens per
 * sub-bin in bf16), a small raised head over such a flat tail (top-p and top-k cut deep inside the tail), and
 * consecutive f32 values in shuffled order (all distinct, all in one sub-bin: the k-th score and the top-p cut
 * sit between two distinct neighbours, so a cut one rank off keeps another token).
 */
function flatLogits(c: Ctx, n: number, vocab: number): Float32Array {
  const out = new Float32Array(n * vocab);
  const base = Math.fround(0.01);
  const ulp = 2 ** -30; // of f32 values in [2^-7, 2^-6), where base + vocab ulps stay
  for (let r = 0; r < n; r++) {
    const row = out.subarray(r * vocab, (r + 1) * vocab);
    const kind = r % 4;
    for (let i = 0; i < vocab; i++) {
      const u = c.rand();
      if (kind === 0) row[i] = 1.5 + 1e-5 * u;
      else if (kind === 1) row[i] = 2 + 0.05 * u;
      else if (kind === 2) row[i] = i % 211 === 3 ? 3.5 + u : 1.5 + 1e-5 * u;
      else row[i] = base + ((i * 7919) % vocab) * ulp;
    }
  }
  return out;
}

interface AttnCase extends AttentionShape {
  label: string;
  causal: boolean;
  segments?: boolean;
}

function attentionCases(size: CheckSize, d: number): AttnCase[] {
  if (size === 'small') {
    return [
      { label: 'causal GQA', b: 2, t: 70, s: 70, hq: 4, hkv: 2, d, causal: true },
      { label: 'kv cache S>T', b: 1, t: 5, s: 67, hq: 2, hkv: 1, d, causal: true },
      { label: 'packed segments', b: 1, t: 72, s: 72, hq: 2, hkv: 2, d, causal: true, segments: true },
      { label: 'non-causal segments', b: 1, t: 20, s: 20, hq: 2, hkv: 1, d, causal: false, segments: true },
    ];
  }
  return [
    { label: 'causal GQA', b: 2, t: 300, s: 300, hq: 14, hkv: 2, d, causal: true },
    { label: 'kv cache S>T', b: 2, t: 17, s: 400, hq: 8, hkv: 2, d, causal: true },
    { label: 'packed segments', b: 2, t: 256, s: 256, hq: 4, hkv: 2, d, causal: true, segments: true },
  ];
}

function attentionCheck(dtype: Float, d: number, backward: boolean): Check {
  const kernel = dtype !== 'f32' && (d === 64 || d === 128) ? 'flash' : 'generic';
  return {
    name: `attention ${backward ? 'fwd+bwd' : 'forward'} ${kernel} (${dtype}, D=${d})`,
    tol: tolFor(dtype, 1e-4),
    run: (c) => {
      let e = 0;
      for (const k of attentionCases(c.size, d)) {
        const [gq, rq] = randBoth(c, [k.b, k.t, k.hq, k.d], dtype);
        const [gk, rk] = randBoth(c, [k.b, k.s, k.hkv, k.d], dtype);
        const [gv, rv] = randBoth(c, [k.b, k.s, k.hkv, k.d], dtype);
        const optsFor = (seg: Tensor | undefined): AttentionOptions => ({ scale: 1 / Math.sqrt(k.d), causal: k.causal, segments: seg });
        let gs: Tensor | undefined;
        let rs: Tensor | undefined;
        if (k.segments) {
          // Three packed examples per row, of uneven lengths; id 3 comes back, and a new run is a new segment.
          const seg = Int32Array.from({ length: k.b * k.t }, (_, i) => {
            const pos = (i % k.t) / k.t;
            return pos < 0.2 ? 3 : pos < 0.55 ? 9 : 3;
          });
          [gs, rs] = both(c, seg, [k.b, k.t], 'i32');
        }
        const g = c.cuda.attention(gq, gk, gv, optsFor(gs));
        const r = c.cpu.attention(rq, rk, rv, optsFor(rs));
        c.made.push(g.o, g.lse, r.o, r.lse);
        e = worst(e, err(c, g.o, r.o), err(c, g.lse, r.lse));
        if (backward) {
          const [ggo, rgo] = randBoth(c, [k.b, k.t, k.hq, k.d], dtype);
          const gb = c.cuda.attentionBackward(ggo, gq, gk, gv, g.o, g.lse, optsFor(gs));
          // The reference backward reads the CUDA forward's o (rounded like the GPU's) so both use the same delta.
          const ro = c.cpu.upload(g.o.toArray(), g.o.shape, dtype);
          c.made.push(ro);
          const rb = c.cpu.attentionBackward(rgo, rq, rk, rv, ro, r.lse, optsFor(rs));
          e = worst(e, err(c, gb.gq, rb.gq), err(c, gb.gk, rb.gk), err(c, gb.gv, rb.gv));
        }
      }
      return e;
    },
  };
}

/** The same check with the CUDA backend's 64-query flash forward (the default takes 128 queries a block at D 64). */
function queryTilesCheck(check: Check): Check {
  return {
    ...check,
    name: `${check.name.replace('forward flash', 'forward flash, 64 queries a block')}`,
    run: (c) => {
      const be = c.cuda as Backend & { flashQueryTiles?: 1 | 2 };
      const saved = be.flashQueryTiles;
      if (saved === undefined) return check.run(c);
      be.flashQueryTiles = 1;
      try {
        return check.run(c);
      } finally {
        be.flashQueryTiles = saved;
      }
    },
  };
}

/** The inference-only fusedLinear: every prologue/epilogue combination, on the GEMV path (≤ 8 rows) and the GEMM one. */
function fusedLinearCheck(dtype: 'f32' | 'bf16'): Check {
  return {
    name: `fused linear: rmsnorm, bias, swiglu, residual around the GEMV and GEMM paths (${dtype})`,
    tol: dtype === 'f32' ? F32 : BF16,
    run: (c) => {
      if (!hasFusedInference(c.cuda) || !hasFusedInference(c.cpu)) throw new Error('the backend does not declare fusedInference');
      // [rows, K, N]: K of whole 16-byte chunks or not (then the GEMM path); narrow N over long K splits each
      // column over 2, 4 and 8 warps (the emulator has 4 SMs).
      const shapes = c.size === 'small'
        ? [[1, 40, 24], [3, 40, 24], [8, 40, 9], [11, 40, 24], [2, 512, 20], [2, 1024, 8], [3, 2048, 3], [1, 36, 12]]
        : [[1, 896, 1152], [1, 896, 4864], [1, 4864, 896], [4, 896, 896], [8, 4864, 896], [64, 896, 1152], [64, 896, 4864]];
      const combos: (keyof FusedLinearOptions)[][] = [[], ['bias'], ['norm', 'bias'], ['swiglu'], ['norm', 'swiglu', 'bias'], ['residual'], ['bias', 'residual']];
      let e = 0;
      for (const [m, k, n] of shapes) {
        // The large shapes run the combinations the model uses; the small ones all of them.
        const use = c.size === 'small' ? combos : k === 4864 || n === 896 ? [['residual']] : n === 1152 ? [['norm', 'bias'], []] : [['norm', 'swiglu']];
        for (const combo of use as (keyof FusedLinearOptions)[][]) {
          const swiglu = combo.includes('swiglu');
          const rowsW = swiglu ? 2 * n : n;
          const [gx, rx] = randBoth(c, [m, k], dtype, 2);
          const [gw, rw] = randBoth(c, [rowsW, k], dtype, 1 / Math.sqrt(k));
          const [gb, rb] = randBoth(c, [rowsW], dtype);
          const [gn, rn] = randBoth(c, [k], dtype);
          const [gr, rr] = randBoth(c, [m, n], dtype, 2);
          const opts = (w: Tensor, b: Tensor, nw: Tensor, r: Tensor): FusedLinearOptions => ({
            bias: combo.includes('bias') ? b : null, norm: combo.includes('norm') ? { weight: nw, eps: 1e-6 } : null, swiglu, residual: combo.includes('residual') ? r : null,
          });
          e = worst(e, err(c, c.cuda.fusedLinear(gx, gw, opts(gw, gb, gn, gr)), c.cpu.fusedLinear(rx, rw, opts(rw, rb, rn, rr))));
        }
      }
      return e;
    },
  };
}

/** ropeKvWrite: q with RoPE, and k (RoPE) and v written into slot caches, with and without the bias. */
function ropeKvCheck(dtype: Float): Check {
  return {
    name: `rope + KV write from the stacked qkv projection (${dtype})`,
    tol: tolFor(dtype, 1e-5),
    run: (c) => {
      if (!hasFusedInference(c.cuda) || !hasFusedInference(c.cpu)) throw new Error('the backend does not declare fusedInference');
      // [rows, T, Hq, Hkv, D, slots, maxLen]
      const shapes = c.size === 'small' ? [[3, 1, 4, 2, 16, 5, 40], [2, 6, 6, 2, 8, 3, 9]] : [[64, 1, 14, 2, 64, 64, 160], [2, 100, 14, 2, 64, 4, 1024]];
      let e = 0;
      for (const [b, t, hq, hkv, d, slots, maxLen] of shapes) {
        for (const withBias of [true, false]) {
          const heads = hq + 2 * hkv;
          const [gqkv, rqkv] = randBoth(c, [b, t, heads, d], dtype);
          const [gb, rb] = randBoth(c, [heads * d], dtype);
          const [gk, rk] = randBoth(c, [slots, maxLen, hkv, d], dtype);
          const [gv, rv] = randBoth(c, [slots, maxLen, hkv, d], dtype);
          const slotIds = Int32Array.from({ length: b }, (_, i) => (i * 7 + 1) % slots);
          const starts = Int32Array.from({ length: b }, (_, i) => (i * 13 + 5) % (maxLen - t + 1));
          const pos = Int32Array.from({ length: b * t }, (_, i) => starts[Math.floor(i / t)] + (i % t) + 1000 * (i % 3));
          const [gs, rs] = both(c, slotIds, [b], 'i32');
          const [gst, rst] = both(c, starts, [b], 'i32');
          const [gp, rp] = both(c, pos, [b, t], 'i32');
          const gq = c.cuda.ropeKvWrite(gqkv, withBias ? gb : null, gp, 1e6, gk, gv, gs, gst);
          const rq = c.cpu.ropeKvWrite(rqkv, withBias ? rb : null, rp, 1e6, rk, rv, rs, rst);
          e = worst(e, err(c, gq, rq), err(c, c.cuda.cast(gk, 'f32'), c.cpu.cast(rk, 'f32')), err(c, c.cuda.cast(gv, 'f32'), c.cpu.cast(rv, 'f32')));
        }
      }
      return e;
    },
  };
}

/** qkvRopeKvWrite: the stacked projection (norm, bias) with RoPE and the cache writes, on the GEMV path and not. */
function qkvRopeKvCheck(dtype: 'f32' | 'bf16'): Check {
  return {
    name: `q/k/v projection + rope + KV write in one op (${dtype})`,
    tol: dtype === 'f32' ? F32 : BF16,
    run: (c) => {
      if (!hasFusedInference(c.cuda) || !hasFusedInference(c.cpu)) throw new Error('the backend does not declare fusedInference');
      // [rows, T, K, Hq, Hkv, D, slots, maxLen]: decode and short prefills (≤ 8 tokens: one kernel), then more rows.
      const shapes = c.size === 'small'
        ? [[1, 1, 64, 4, 2, 16, 3, 20], [3, 2, 64, 6, 2, 16, 4, 20], [2, 7, 32, 4, 2, 8, 3, 16]]
        : [[1, 1, 896, 14, 2, 64, 2, 512], [8, 1, 896, 14, 2, 64, 8, 160], [64, 1, 896, 14, 2, 64, 64, 160], [2, 4, 896, 14, 2, 64, 4, 512]];
      let e = 0;
      for (const [b, t, k, hq, hkv, d, slots, maxLen] of shapes) {
        for (const [withBias, withNorm] of [[true, true], [false, false]]) {
          const heads = hq + 2 * hkv;
          const [gx, rx] = randBoth(c, [b, t, k], dtype, 2);
          const [gw, rw] = randBoth(c, [heads * d, k], dtype, 1 / Math.sqrt(k));
          const [gb, rb] = randBoth(c, [heads * d], dtype);
          const [gn, rn] = randBoth(c, [k], dtype);
          const [gk, rk] = randBoth(c, [slots, maxLen, hkv, d], dtype);
          const [gv, rv] = randBoth(c, [slots, maxLen, hkv, d], dtype);
          const slotIds = Int32Array.from({ length: b }, (_, i) => (i * 5 + 2) % slots);
          const starts = Int32Array.from({ length: b }, (_, i) => (i * 11 + 3) % (maxLen - t + 1));
          const pos = Int32Array.from({ length: b * t }, (_, i) => starts[Math.floor(i / t)] + (i % t) + 517 * (i % 2));
          const [gs, rs] = both(c, slotIds, [b], 'i32');
          const [gst, rst] = both(c, starts, [b], 'i32');
          const [gp, rp] = both(c, pos, [b, t], 'i32');
          const gq = c.cuda.qkvRopeKvWrite(gx, gw, withBias ? gb : null, withNorm ? { weight: gn, eps: 1e-6 } : null, gp, 1e6, gk, gv, gs, gst);
          const rq = c.cpu.qkvRopeKvWrite(rx, rw, withBias ? rb : null, withNorm ? { weight: rn, eps: 1e-6 } : null, rp, 1e6, rk, rv, rs, rst);
          e = worst(e, err(c, gq, rq), err(c, c.cuda.cast(gk, 'f32'), c.cpu.cast(rk, 'f32')), err(c, c.cuda.cast(gv, 'f32'), c.cpu.cast(rv, 'f32')));
        }
      }
      return e;
    },
  };
}

export function allChecks(): Check[] {
  return [
    ...layoutChecks,
    sumCheck('f32'),
    sumCheck('bf16'),
    sumCheck('f16'),
    ...binaryChecks(),
    ...matmulChecks(),
    embeddingCheck('f32'),
    embeddingCheck('bf16'),
    embeddingCheck('f16'),
    adamwCheck('f32'),
    adamwCheck('bf16'),
    adamwCheck('f16'),
    ropeCheck('f32'),
    ropeCheck('bf16'),
    ropeCheck('f16'),
    ...modelOpDtypeChecks('f32'),
    ...modelOpDtypeChecks('bf16'),
    ...modelOpDtypeChecks('f16'),
    samplerCheck('f32'),
    samplerCheck('bf16'),
    samplerCheck('f16'),
    slotCacheCheck('f32'),
    slotCacheCheck('bf16'),
    slotCacheCheck('f16'),
    attentionCheck('f32', 16, true),
    attentionCheck('f32', 64, true),
    attentionCheck('bf16', 24, true),
    attentionCheck('bf16', 64, true),
    attentionCheck('bf16', 128, true),
    attentionCheck('f16', 24, true),
    attentionCheck('f16', 64, true),
    queryTilesCheck(attentionCheck('bf16', 64, false)),
    fusedLinearCheck('f32'),
    fusedLinearCheck('bf16'),
    ropeKvCheck('f32'),
    ropeKvCheck('bf16'),
    ropeKvCheck('f16'),
    qkvRopeKvCheck('f32'),
    qkvRopeKvCheck('bf16'),
  ];
}

/** Run the checks (all, or those whose name matches `filter`); each in its own try/catch, so one failure never stops the rest. */
export async function runChecks(
  cuda: Backend, size: CheckSize, opts: { filter?: { test(name: string): boolean }; seed?: number; onResult?: (r: CheckResult) => void } = {},
): Promise<CheckResult[]> {
  const cpu = new CpuBackend();
  const results: CheckResult[] = [];
  const checks = allChecks();
  for (const [index, check] of checks.entries()) {
    if (opts.filter && !opts.filter.test(check.name)) continue;
    // The seed depends on the check's place in the full list, so a filtered run sees the same inputs.
    const c: Ctx = { cuda, cpu, size, rand: signedStream((opts.seed ?? 1234) + index), made: [] };
    const t0 = performance.now();
    let r: CheckResult;
    try {
      const maxErr = await check.run(c);
      r = { name: check.name, maxErr, tol: check.tol, pass: maxErr <= check.tol, ms: performance.now() - t0 };
    } catch (e) {
      r = { name: check.name, maxErr: Infinity, tol: check.tol, pass: false, ms: performance.now() - t0, error: (e as Error).message.split('\n')[0] };
    } finally {
      for (const t of c.made) if (!t.isDisposed) t.dispose();
    }
    results.push(r);
    opts.onResult?.(r);
  }
  return results;
}
