// AssemblyScript f32 attention for the CPU backend: causal / segment-masked grouped-query attention, forward
// and backward, one task per (batch row, KV head), compiled into kernels/wasm/cpu_kernels.ts.
//
// The math is src/backends/cpu/attention.ts (the plain reference) in the blocked form of
// src/backends/cpu/attention_blocked.ts: query rows in blocks of BLOCK, each multiplied only against the key
// window some row of the block may see, every product a call of the SIMD GEMM on strided heads in place
// (q, k, v stay in their [B, T, H, D] layout), and the softmax in SIMD with a polynomial exp. Keeping the
// whole layer in WASM is what pays: in JS the softmax's Math.exp alone was 16% of a toy training step.
import { Q, field, taskRecord } from './queue';
import { gemm } from './gemm_f32';
import { dot, exp1, exp4 } from './simd';

/** Parameter block fields (i32 indices; the block's byte offset is the queue's Q.A). SUM receives each row's
 *  softmax denominator in the forward (the JS side makes lse = max + log(sum), kept out of WASM so the module
 *  needs no log tables); LSE receives the row max there and is read as lse in the backward. */
export enum P { Q = 0, K = 1, V = 2, O = 3, LSE = 4, SUM = 5, GO = 6, GQ = 7, GK = 8, GV = 9, LO = 10, HI = 11,
  B = 12, T = 13, S = 14, HQ = 15, HKV = 16, D = 17, SCALE = 18, SCRATCH = 19, KC = 20, MC = 21, NC = 22, BLOCK = 23 }

@inline function ptr(p: usize, i: i32): usize {
  return <usize>field(p, i);
}

/** Zeroes row entries [0, a) and (z, width): keys this query may not see. */
@inline function zeroOutside(row: usize, a: i32, z: i32, width: i32): void {
  if (a > 0) memory.fill(row, 0, <usize>a << 2);
  if (z + 1 < width) memory.fill(row + (<usize>(z + 1) << 2), 0, <usize>(width - z - 1) << 2);
}

/** Scores → probabilities in place on [a, z] of one row (scaled by `scale`); returns the row max and writes
 *  the denominator to `sumOut`. */
function softmaxRow(row: usize, a: i32, z: i32, scale: f32, sumOut: usize): f32 {
  const sv = f32x4.splat(scale);
  let j = a;
  let mv = f32x4.splat(-Infinity);
  for (; j + 4 <= z + 1; j += 4) mv = f32x4.max(mv, f32x4.mul(v128.load(row + (<usize>j << 2)), sv));
  let top = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; j <= z; j++) top = max<f32>(top, load<f32>(row + (<usize>j << 2)) * scale);
  const m4 = f32x4.splat(top);
  let s4 = f32x4.splat(0);
  j = a;
  for (; j + 4 <= z + 1; j += 4) {
    const at = row + (<usize>j << 2);
    const e = exp4(f32x4.sub(f32x4.mul(v128.load(at), sv), m4));
    v128.store(at, e);
    s4 = f32x4.add(s4, e);
  }
  let sum = f32x4.extract_lane(s4, 0) + f32x4.extract_lane(s4, 1) + f32x4.extract_lane(s4, 2) + f32x4.extract_lane(s4, 3);
  for (; j <= z; j++) {
    const at = row + (<usize>j << 2);
    const e = exp1(load<f32>(at) * scale - top);
    store<f32>(at, e);
    sum += e;
  }
  const inv = f32x4.splat(1 / sum);
  j = a;
  for (; j + 4 <= z + 1; j += 4) {
    const at = row + (<usize>j << 2);
    v128.store(at, f32x4.mul(v128.load(at), inv));
  }
  for (; j <= z; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) / sum);
  store<f32>(sumOut, sum);
  return top;
}

/** Probabilities exp(s·scale − lse) in place on [a, z] of one row, from the forward's log-sum-exp. */
function probabilitiesRow(row: usize, a: i32, z: i32, scale: f32, lse: f32): void {
  const sv = f32x4.splat(scale), l4 = f32x4.splat(lse);
  let j = a;
  for (; j + 4 <= z + 1; j += 4) {
    const at = row + (<usize>j << 2);
    v128.store(at, exp4(f32x4.sub(f32x4.mul(v128.load(at), sv), l4)));
  }
  for (; j <= z; j++) {
    const at = row + (<usize>j << 2);
    store<f32>(at, exp1(load<f32>(at) * scale - lse));
  }
}

// The task this thread is running. WASM globals belong to the instance, so each thread has its own; a heap
// object would need a runtime whose heap sits in the shared memory's first page, which the queue uses.
let P_: usize = 0;
let B_: i32 = 0, G_: i32 = 0, T_: i32 = 0, S_: i32 = 0, HQ_: i32 = 0, HKV_: i32 = 0, D_: i32 = 0, BLOCK_: i32 = 0;
let SCALE_: f32 = 0;
let QS_: i32 = 0, KS_: i32 = 0;
let KBASE_: usize = 0, VBASE_: usize = 0, LO_: usize = 0, HI_: usize = 0;
let KC_: i32 = 0, MC_: i32 = 0, NC_: i32 = 0;

/** Loads task t of the queue at q (batch row b, KV head g) into the globals above. */
function begin(q: usize, t: i32): void {
  const p = ptr(q, Q.A);
  const index = field(taskRecord(q, t), 0);
  P_ = p;
  HKV_ = field(p, P.HKV);
  B_ = index / HKV_;
  G_ = index % HKV_;
  T_ = field(p, P.T); S_ = field(p, P.S); HQ_ = field(p, P.HQ); D_ = field(p, P.D);
  BLOCK_ = field(p, P.BLOCK);
  SCALE_ = load<f32>(p + (<usize>P.SCALE << 2));
  QS_ = HQ_ * D_;
  KS_ = HKV_ * D_;
  const kvOffset = <usize>((B_ * S_ * HKV_ + G_) * D_) << 2;
  KBASE_ = ptr(p, P.K) + kvOffset;
  VBASE_ = ptr(p, P.V) + kvOffset;
  LO_ = ptr(p, P.LO) + (<usize>(B_ * T_) << 2);
  HI_ = ptr(p, P.HI) + (<usize>(B_ * T_) << 2);
  KC_ = field(p, P.KC); MC_ = field(p, P.MC); NC_ = field(p, P.NC);
}

/** Byte offset of row t of query head h (of this task's batch row) in a [B, T, HQ, D] tensor. */
@inline function qRow(h: i32, t: i32): usize {
  return <usize>(((B_ * T_ + t) * HQ_ + h) * D_) << 2;
}

/** Byte offset of (row t, head h) in a [B, T, HQ] statistic (lse, sum). */
@inline function statAt(h: i32, t: i32): usize {
  return <usize>((B_ * T_ + t) * HQ_ + h) << 2;
}

/** The key window [kLo, kLo + width) that some row of the block t0..t0+rows may see. */
let KLO_: i32 = 0, WIDTH_: i32 = 0;
function window(t0: i32, rows: i32): void {
  let lo = i32.MAX_VALUE, hi = -1;
  for (let r = 0; r < rows; r++) {
    lo = min(lo, load<i32>(LO_ + (<usize>(t0 + r) << 2)));
    hi = max(hi, load<i32>(HI_ + (<usize>(t0 + r) << 2)));
  }
  KLO_ = lo;
  WIDTH_ = hi - lo + 1;
}

export function attentionTask(q: usize, t: i32, work: usize): void {
  begin(q, t);
  const p = P_;
  const sc = work + ptr(p, P.SCRATCH);
  const group = HQ_ / HKV_;
  for (let h = G_ * group; h < (G_ + 1) * group; h++) {
    for (let t0 = 0; t0 < T_; t0 += BLOCK_) {
      const rows = min(BLOCK_, T_ - t0);
      window(t0, rows);
      const kLo = KLO_, width = WIDTH_;
      const kOff = <usize>(kLo * KS_) << 2;
      gemm(ptr(p, P.Q) + qRow(h, t0), KBASE_ + kOff, sc, rows, width, D_, QS_, 1, 1, KS_, width, 0, work, KC_, MC_, NC_);
      for (let r = 0; r < rows; r++) {
        const tt = t0 + r;
        const row = sc + (<usize>(r * width) << 2);
        const a = load<i32>(LO_ + (<usize>tt << 2)) - kLo, z = load<i32>(HI_ + (<usize>tt << 2)) - kLo;
        zeroOutside(row, a, z, width);
        store<f32>(ptr(p, P.LSE) + statAt(h, tt), softmaxRow(row, a, z, SCALE_, ptr(p, P.SUM) + statAt(h, tt)));
      }
      gemm(sc, VBASE_ + kOff, ptr(p, P.O) + qRow(h, t0), rows, D_, width, width, 1, KS_, 1, QS_, 0, work, KC_, MC_, NC_);
    }
  }
}

/** Gradients of one (batch row, KV head): gq for its query heads, and gk, gv accumulated over them (the JS
 *  side zeroes gk and gv first). Probabilities are recomputed from lse; dS = P ∘ (dP − rowDot) · scale. */
export function attentionBackwardTask(q: usize, t: i32, work: usize): void {
  begin(q, t);
  const p = P_;
  const pr = work + ptr(p, P.SCRATCH);
  const dp = pr + (<usize>(BLOCK_ * S_) << 2);
  const rowDot = dp + (<usize>(BLOCK_ * S_) << 2);
  const group = HQ_ / HKV_;
  const gkBase = ptr(p, P.GK) + (KBASE_ - ptr(p, P.K));
  const gvBase = ptr(p, P.GV) + (KBASE_ - ptr(p, P.K));
  const sv = f32x4.splat(SCALE_);
  for (let h = G_ * group; h < (G_ + 1) * group; h++) {
    for (let tt = 0; tt < T_; tt++) {
      const off = qRow(h, tt);
      store<f32>(rowDot + (<usize>tt << 2), dot(ptr(p, P.GO) + off, ptr(p, P.O) + off, D_));
    }
    for (let t0 = 0; t0 < T_; t0 += BLOCK_) {
      const rows = min(BLOCK_, T_ - t0);
      window(t0, rows);
      const kLo = KLO_, width = WIDTH_;
      const kOff = <usize>(kLo * KS_) << 2;
      const qBlock = ptr(p, P.Q) + qRow(h, t0);
      const goBlock = ptr(p, P.GO) + qRow(h, t0);
      gemm(qBlock, KBASE_ + kOff, pr, rows, width, D_, QS_, 1, 1, KS_, width, 0, work, KC_, MC_, NC_);
      gemm(goBlock, VBASE_ + kOff, dp, rows, width, D_, QS_, 1, 1, KS_, width, 0, work, KC_, MC_, NC_);
      for (let r = 0; r < rows; r++) {
        const tt = t0 + r;
        const row = pr + (<usize>(r * width) << 2);
        const a = load<i32>(LO_ + (<usize>tt << 2)) - kLo, z = load<i32>(HI_ + (<usize>tt << 2)) - kLo;
        zeroOutside(row, a, z, width);
        probabilitiesRow(row, a, z, SCALE_, load<f32>(ptr(p, P.LSE) + statAt(h, tt)));
        const rd = load<f32>(rowDot + (<usize>tt << 2));
        const rd4 = f32x4.splat(rd);
        const drow = dp + (<usize>(r * width) << 2);
        let j = 0;
        for (; j + 4 <= width; j += 4) {
          const o = <usize>j << 2;
          v128.store(drow + o, f32x4.mul(f32x4.mul(v128.load(row + o), f32x4.sub(v128.load(drow + o), rd4)), sv));
        }
        for (; j < width; j++) {
          const o = <usize>j << 2;
          store<f32>(drow + o, load<f32>(row + o) * (load<f32>(drow + o) - rd) * SCALE_);
        }
      }
      gemm(dp, KBASE_ + kOff, ptr(p, P.GQ) + qRow(h, t0), rows, D_, width, width, 1, KS_, 1, QS_, 0, work, KC_, MC_, NC_);
      gemm(dp, qBlock, gkBase + kOff, width, D_, rows, 1, width, QS_, 1, KS_, 1, work, KC_, MC_, NC_);
      gemm(pr, goBlock, gvBase + kOff, width, D_, rows, 1, width, QS_, 1, KS_, 1, work, KC_, MC_, NC_);
    }
  }
}
