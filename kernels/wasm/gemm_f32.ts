// AssemblyScript f32 WASM SIMD GEMM (packing + 4×8 micro-kernel), compiled into the CPU kernel module
// (kernels/wasm/cpu_kernels.ts, `npm run build:wasm`).
//
// Every pointer is a byte offset into the shared memory, every stride is in elements: C (+)= A·B where
// A(i,p) = a[i*ars + p*acs] and B(p,j) = b[p*brs + j*bcs], so transposed operands only change strides
// and, after packing, cost nothing extra.
// The blocking follows GotoBLAS/BLIS: a KC×NC panel of B and an MC×KC block of A are packed into
// contiguous micro-panels so that the micro-kernel reads both operands sequentially.
//
// Measured on the 2-core EPYC dev box (bench/NOTES.md): a 4×8 tile (8 accumulators, 2 B vectors, 1 A splat)
// runs at ~40 GFLOP/s per core with separate mul+add; 5×8, 6×8, 4×12 and 4×16 spill registers in V8 and
// run at 24–30. The accumulation is madd4 (simd.ts): a fused multiply-add in the relaxed-SIMD build, which
// src/backends/cpu/kernel_module.ts loads where the runtime allows it.
import { Q, field, taskRecord } from './queue';
import { hsum, madd4 } from './simd';

const MR: i32 = 4;
const NR: i32 = 8;

/** Runs GEMM task t of the queue at q (a record [item, count, i0, rows, j0, cols]): `count` batch items of a
 *  block of C, packing into `work`. */
export function gemmTask(q: usize, t: i32, work: usize): void {
  const k = field(q, Q.K), ars = field(q, Q.ARS), acs = field(q, Q.ACS), brs = field(q, Q.BRS), bcs = field(q, Q.BCS);
  const ldc = field(q, Q.LDC), accumulate = field(q, Q.ACC);
  const sa = <usize>field(q, Q.SA), sb = <usize>field(q, Q.SB), sc = <usize>field(q, Q.SC);
  const kc = field(q, Q.KC), mc = field(q, Q.MC), nc = field(q, Q.NC);
  const rec = taskRecord(q, t);
  const item = field(rec, 0), count = field(rec, 1), i0 = field(rec, 2), rows = field(rec, 3);
  const j0 = field(rec, 4), cols = field(rec, 5);
  let a = <usize>field(q, Q.A) + <usize>item * sa + (<usize>(i0 * ars) << 2);
  let b = <usize>field(q, Q.B) + <usize>item * sb + (<usize>(j0 * bcs) << 2);
  let c = <usize>field(q, Q.C) + <usize>item * sc + (<usize>(i0 * ldc + j0) << 2);
  for (let it = 0; it < count; it++) {
    gemm(a, b, c, rows, cols, k, ars, acs, brs, bcs, ldc, accumulate, work, kc, mc, nc);
    a += sa; b += sb; c += sc;
  }
}

/** C (+)= A·B for one item. `work` holds the packed A block (mc·kc floats), the packed B panel (kc·nc floats
 *  rounded up to NR columns) and one MR×NR edge tile, in that order. */
export function gemm(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, ars: i32, acs: i32, brs: i32, bcs: i32,
  ldc: i32, accumulate: i32, work: usize, kcMax: i32, mcMax: i32, ncMax: i32): void {
  const ap = work;
  const bp = ap + (<usize>(mcMax * kcMax) << 2);
  const tile = bp + (<usize>(kcMax * ncMax) << 2);
  const ldcBytes = <usize>ldc << 2;
  if (k == 0) {
    if (!accumulate) for (let i = 0; i < m; i++) memory.fill(c + <usize>i * ldcBytes, 0, <usize>n << 2);
    return;
  }
  // A few rows (decode steps) would waste most of a 4-row tile, and packing B would cost as much as
  // using it once: read the operands in place instead when their layout allows.
  if (m < MR && acs == 1 && (brs == 1 || bcs == 1)) {
    for (let i = 0; i < m; i++) {
      const arow = a + (<usize>(i * ars) << 2), crow = c + <usize>i * ldcBytes;
      if (brs == 1) rowTimesBt(arow, b, bcs, crow, n, k, accumulate);
      else rowTimesB(arow, b, brs, crow, n, k, accumulate);
    }
    return;
  }
  for (let j0 = 0; j0 < n; j0 += ncMax) {
    const nc = min(ncMax, n - j0);
    for (let p0 = 0; p0 < k; p0 += kcMax) {
      const kc = min(kcMax, k - p0);
      // The first k-block overwrites C unless the caller accumulates; later blocks always add.
      const beta = p0 > 0 || accumulate != 0 ? 1 : 0;
      packB(b, brs, bcs, p0, kc, j0, nc, bp);
      for (let i0 = 0; i0 < m; i0 += mcMax) {
        const mc = min(mcMax, m - i0);
        packA(a, ars, acs, i0, mc, p0, kc, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bpanel = bp + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const apanel = ap + (<usize>(ir * kc) << 2);
            const cij = c + <usize>(i0 + ir) * ldcBytes + (<usize>(j0 + jr) << 2);
            if (mr == MR && nr == NR) {
              kernel4x8(apanel, bpanel, cij, ldcBytes, kc, beta);
            } else {
              kernel4x8(apanel, bpanel, tile, <usize>NR << 2, kc, 0);
              for (let r = 0; r < mr; r++) {
                for (let q = 0; q < nr; q++) {
                  const dst = cij + <usize>r * ldcBytes + (<usize>q << 2);
                  const v = load<f32>(tile + (<usize>(r * NR + q) << 2));
                  store<f32>(dst, beta ? load<f32>(dst) + v : v);
                }
              }
            }
          }
        }
      }
    }
  }
}

/** Stores the transpose of the 4×4 block with rows r0..r3: column q of the block goes to d + q·step bytes. */
@inline function storeTransposed4(r0: v128, r1: v128, r2: v128, r3: v128, d: usize, step: usize): void {
  const lo01 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const lo23 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const hi01 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const hi23 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(d, f32x4.shuffle(lo01, lo23, 0, 1, 4, 5));
  v128.store(d + step, f32x4.shuffle(lo01, lo23, 2, 3, 6, 7));
  v128.store(d + 2 * step, f32x4.shuffle(hi01, hi23, 0, 1, 4, 5));
  v128.store(d + 3 * step, f32x4.shuffle(hi01, hi23, 2, 3, 6, 7));
}

/** Packs rows i0..i0+mc, columns p0..p0+kc of A into MR-row micro-panels laid out [kc][MR], zero-padded. */
function packA(a: usize, ars: i32, acs: i32, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const src = a + (<usize>((i0 + ir) * ars + p0 * acs) << 2);
    let p = 0;
    if (rows == MR && ars == 1) {
      // A is stored [k,m] (transA): the MR values of one p are adjacent.
      const step = <usize>acs << 2;
      for (; p < kc; p++) v128.store(dst + (<usize>p << 4), v128.load(src + <usize>p * step));
    } else if (rows == MR && acs == 1) {
      // A is stored [m,k]: each row is contiguous in p; transpose 4×4 blocks into the panel.
      const row = <usize>ars << 2;
      for (; p + 4 <= kc; p += 4) {
        const s = src + (<usize>p << 2);
        storeTransposed4(v128.load(s), v128.load(s + row), v128.load(s + 2 * row), v128.load(s + 3 * row),
          dst + (<usize>p << 4), 16);
      }
    }
    for (; p < kc; p++) {
      for (let r = 0; r < MR; r++) {
        const v = r < rows ? load<f32>(src + (<usize>(r * ars + p * acs) << 2)) : 0;
        store<f32>(dst + (<usize>(p * MR + r) << 2), v);
      }
    }
    dst += <usize>(kc * MR) << 2;
  }
}

/** Packs rows p0..p0+kc, columns j0..j0+nc of B into NR-column micro-panels laid out [kc][NR], zero-padded. */
function packB(b: usize, brs: i32, bcs: i32, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const src = b + (<usize>(p0 * brs + (j0 + jr) * bcs) << 2);
    let p = 0;
    if (cols == NR && bcs == 1) {
      // B is stored [k,n]: the NR values of one p are adjacent.
      const step = <usize>brs << 2;
      for (; p < kc; p++) {
        const s = src + <usize>p * step;
        const d = dst + (<usize>p << 5);
        v128.store(d, v128.load(s), 0);
        v128.store(d, v128.load(s, 16), 16);
      }
    } else if (cols == NR && brs == 1) {
      // B is stored [n,k] (transB): each column is contiguous in p; transpose 4×4 blocks.
      const col = <usize>bcs << 2;
      for (; p + 4 <= kc; p += 4) {
        const s = src + (<usize>p << 2);
        const d = dst + (<usize>p << 5);
        storeTransposed4(v128.load(s), v128.load(s + col), v128.load(s + 2 * col), v128.load(s + 3 * col), d, 32);
        const s4 = s + 4 * col;
        storeTransposed4(v128.load(s4), v128.load(s4 + col), v128.load(s4 + 2 * col), v128.load(s4 + 3 * col), d + 16, 32);
      }
    }
    for (; p < kc; p++) {
      for (let q = 0; q < NR; q++) {
        const v = q < cols ? load<f32>(src + (<usize>(p * brs + q * bcs) << 2)) : 0;
        store<f32>(dst + (<usize>(p * NR + q) << 2), v);
      }
    }
    dst += <usize>(kc * NR) << 2;
  }
}

/** C[4×8] at c (row stride ldc bytes) = (beta ? C : 0) + Ap·Bp over kc steps; Ap is [kc][4], Bp is [kc][8]. */
function kernel4x8(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, beta: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp, 0);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load32_splat(ap, 0);
    c00 = madd4(a0, b0, c00);
    c01 = madd4(a0, b1, c01);
    const a1 = v128.load32_splat(ap, 4);
    c10 = madd4(a1, b0, c10);
    c11 = madd4(a1, b1, c11);
    const a2 = v128.load32_splat(ap, 8);
    c20 = madd4(a2, b0, c20);
    c21 = madd4(a2, b1, c21);
    const a3 = v128.load32_splat(ap, 12);
    c30 = madd4(a3, b0, c30);
    c31 = madd4(a3, b1, c31);
    ap += 16;
    bp += 32;
  }
  const c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
  if (beta) {
    c00 = f32x4.add(c00, v128.load(c, 0)); c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c1, 0)); c11 = f32x4.add(c11, v128.load(c1, 16));
    c20 = f32x4.add(c20, v128.load(c2, 0)); c21 = f32x4.add(c21, v128.load(c2, 16));
    c30 = f32x4.add(c30, v128.load(c3, 0)); c31 = f32x4.add(c31, v128.load(c3, 16));
  }
  v128.store(c, c00, 0); v128.store(c, c01, 16);
  v128.store(c1, c10, 0); v128.store(c1, c11, 16);
  v128.store(c2, c20, 0); v128.store(c2, c21, 16);
  v128.store(c3, c30, 0); v128.store(c3, c31, 16);
}

/** c[j] (+)= Σ_p a[p]·b[j*ldb + p] for j < n: one row times Bᵀ, four dot products at a time. */
function rowTimesBt(a: usize, b: usize, ldb: i32, c: usize, n: i32, k: i32, accumulate: i32): void {
  const col = <usize>ldb << 2;
  const k4 = k & ~3;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const b0 = b + <usize>j * col, b1 = b0 + col, b2 = b1 + col, b3 = b2 + col;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    for (let p = 0; p < k4; p += 4) {
      const off = <usize>p << 2;
      const av = v128.load(a + off);
      s0 = madd4(av, v128.load(b0 + off), s0);
      s1 = madd4(av, v128.load(b1 + off), s1);
      s2 = madd4(av, v128.load(b2 + off), s2);
      s3 = madd4(av, v128.load(b3 + off), s3);
    }
    let r0 = hsum(s0), r1 = hsum(s1), r2 = hsum(s2), r3 = hsum(s3);
    for (let p = k4; p < k; p++) {
      const off = <usize>p << 2;
      const x = load<f32>(a + off);
      r0 += x * load<f32>(b0 + off);
      r1 += x * load<f32>(b1 + off);
      r2 += x * load<f32>(b2 + off);
      r3 += x * load<f32>(b3 + off);
    }
    const d = c + (<usize>j << 2);
    if (accumulate) {
      r0 += load<f32>(d, 0); r1 += load<f32>(d, 4); r2 += load<f32>(d, 8); r3 += load<f32>(d, 12);
    }
    store<f32>(d, r0, 0); store<f32>(d, r1, 4); store<f32>(d, r2, 8); store<f32>(d, r3, 12);
  }
  for (; j < n; j++) {
    const bj = b + <usize>j * col;
    let r: f32 = 0;
    for (let p = 0; p < k; p++) r += load<f32>(a + (<usize>p << 2)) * load<f32>(bj + (<usize>p << 2));
    const d = c + (<usize>j << 2);
    store<f32>(d, accumulate ? load<f32>(d) + r : r);
  }
}

/** c[j] (+)= Σ_p a[p]·b[p*ldb + j] for j < n: one row times B, 16 columns of C held in registers at a time. */
function rowTimesB(a: usize, b: usize, ldb: i32, c: usize, n: i32, k: i32, accumulate: i32): void {
  const row = <usize>ldb << 2;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let bp = b + (<usize>j << 2);
    for (let p = 0; p < k; p++) {
      const x = v128.load32_splat(a + (<usize>p << 2));
      s0 = madd4(x, v128.load(bp, 0), s0);
      s1 = madd4(x, v128.load(bp, 16), s1);
      s2 = madd4(x, v128.load(bp, 32), s2);
      s3 = madd4(x, v128.load(bp, 48), s3);
      bp += row;
    }
    const d = c + (<usize>j << 2);
    if (accumulate) {
      s0 = f32x4.add(s0, v128.load(d, 0)); s1 = f32x4.add(s1, v128.load(d, 16));
      s2 = f32x4.add(s2, v128.load(d, 32)); s3 = f32x4.add(s3, v128.load(d, 48));
    }
    v128.store(d, s0, 0); v128.store(d, s1, 16); v128.store(d, s2, 32); v128.store(d, s3, 48);
  }
  for (; j < n; j++) {
    let r: f32 = 0;
    for (let p = 0; p < k; p++) r += load<f32>(a + (<usize>p << 2)) * load<f32>(b + <usize>p * row + (<usize>j << 2));
    const d = c + (<usize>j << 2);
    store<f32>(d, accumulate ? load<f32>(d) + r : r);
  }
}
