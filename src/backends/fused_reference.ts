// The inference-only fused ops (Backend.fusedLinear, ropeKvWrite, qkvRopeKvWrite) written as compositions of the plain
// Backend ops, in the unfused forward's order. This is their definition: the CPU backend runs it (so its fused
// forward gives the unfused forward's numbers), and every GPU kernel for these ops is checked against it.
import { fmt, numel } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Backend, FusedLinearOptions } from './backend.ts';

/** Shapes of a fusedLinear call, checked: rows M (all leading dims), K, N (output columns), and the output shape. */
export function fusedLinearShape(x: Tensor, w: Tensor, opts: FusedLinearOptions): { m: number; k: number; n: number; outShape: number[] } {
  const k = x.shape[x.rank - 1];
  if (w.rank !== 2 || w.shape[1] !== k) throw new Error(`fusedLinear: input ${fmt(x.shape)} does not match weight ${fmt(w.shape)} ([out, in])`);
  if (opts.swiglu && w.shape[0] % 2 !== 0) throw new Error(`fusedLinear: swiglu needs a stacked [gate; up] weight with an even row count, got ${fmt(w.shape)}`);
  const n = opts.swiglu ? w.shape[0] / 2 : w.shape[0];
  const m = numel(x.shape.slice(0, -1));
  const outShape = [...x.shape.slice(0, -1), n];
  if (opts.bias && opts.bias.size !== w.shape[0]) throw new Error(`fusedLinear: bias ${fmt(opts.bias.shape)} needs ${w.shape[0]} values (one per weight row)`);
  if (opts.norm && opts.norm.weight.size !== k) throw new Error(`fusedLinear: norm weight ${fmt(opts.norm.weight.shape)} needs ${k} values`);
  if (opts.residual && opts.residual.size !== m * n) throw new Error(`fusedLinear: residual ${fmt(opts.residual.shape)} needs the output's shape ${fmt(outShape)}`);
  return { m, k, n, outShape };
}

/** norm → x·wᵀ → + bias → swiglu → + residual, one plain op at a time. */
export function fusedLinearReference(be: Backend, x: Tensor, w: Tensor, opts: FusedLinearOptions): Tensor {
  const { m, k, n, outShape } = fusedLinearShape(x, w, opts);
  const temps: Tensor[] = [];
  const keep = (t: Tensor) => (temps.push(t), t);
  try {
    let h = keep(x.view([m, k]));
    if (opts.norm) {
      const { y, rstd } = be.rmsnorm(h, opts.norm.weight, opts.norm.eps);
      rstd.dispose();
      h = keep(y);
    }
    let y = keep(be.matmul(h, w, false, true));
    if (opts.bias) y = keep(be.binary('add', y, opts.bias));
    if (opts.swiglu) {
      const gate = keep(be.slice(y, 1, 0, n));
      const up = keep(be.slice(y, 1, n, 2 * n));
      y = keep(be.swiglu(gate, up));
    }
    if (opts.residual) {
      const r = keep(opts.residual.view([m, n]));
      y = keep(be.binary('add', r, y));
    }
    return y.view(outShape);
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** Heads of a stacked qkv [B, T, Hq + 2·Hkv, D] against caches [slots, maxLen, Hkv, D], checked. */
export function ropeKvShape(qkv: Tensor, bias: Tensor | null, positions: Tensor, kCache: Tensor, vCache: Tensor): { b: number; t: number; hq: number; hkv: number; d: number } {
  const [b, t, heads, d] = qkv.shape;
  const hkv = kCache.shape[2];
  if (qkv.rank !== 4 || kCache.rank !== 4 || kCache.shape[3] !== d || vCache.shape.join() !== kCache.shape.join() || heads <= 2 * hkv || d % 2 !== 0) {
    throw new Error(`ropeKvWrite: qkv ${fmt(qkv.shape)} must be [B, T, Hq + 2·Hkv, D] (D even) over caches ${fmt(kCache.shape)} and ${fmt(vCache.shape)} ([slots, maxLen, Hkv, D])`);
  }
  if (bias && bias.size !== heads * d) throw new Error(`ropeKvWrite: bias ${fmt(bias.shape)} needs ${heads * d} values`);
  if (positions.size !== b * t) throw new Error(`ropeKvWrite: positions ${fmt(positions.shape)} do not match qkv ${fmt(qkv.shape)} ([B, T])`);
  return { b, t, hq: heads - 2 * hkv, hkv, d };
}

/** + bias, split into q/k/v heads, RoPE on q and k, kvWrite k and v; returns q. */
export function ropeKvWriteReference(
  be: Backend, qkv: Tensor, bias: Tensor | null, positions: Tensor, theta: number, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor,
): Tensor {
  const { b, t, hq, hkv, d } = ropeKvShape(qkv, bias, positions, kCache, vCache);
  const heads = hq + 2 * hkv;
  const temps: Tensor[] = [];
  const keep = (x: Tensor) => (temps.push(x), x);
  try {
    let x = qkv;
    if (bias) {
      // As the unfused forward adds it: to the [B·T, heads·D] projection output.
      const flat = keep(qkv.view([b * t, heads * d]));
      x = keep(keep(be.binary('add', flat, bias)).view([b, t, heads, d]));
    }
    const q = keep(be.slice(x, 2, 0, hq));
    const k = keep(be.slice(x, 2, hq, hq + hkv));
    const v = keep(be.slice(x, 2, hq + hkv, heads));
    be.kvWrite(kCache, keep(be.rope(k, positions, theta, false)), slots, starts);
    be.kvWrite(vCache, v, slots, starts);
    return be.rope(q, positions, theta, false);
  } finally {
    for (const x of temps) x.dispose();
  }
}

/** Heads of the stacked q/k/v weight w [(Hq + 2·Hkv)·D, K] for x [B, T, K] over caches [slots, maxLen, Hkv, D], checked. */
export function qkvShape(x: Tensor, w: Tensor, kCache: Tensor): { b: number; t: number; k: number; heads: number; d: number } {
  const [b, t, k] = x.shape;
  const d = kCache.shape[3];
  if (x.rank !== 3 || kCache.rank !== 4 || w.rank !== 2 || w.shape[1] !== k || w.shape[0] % d !== 0) {
    throw new Error(`qkvRopeKvWrite: x ${fmt(x.shape)} must be [B, T, K] and the weight ${fmt(w.shape)} [heads·${d}, K] for caches ${fmt(kCache.shape)}`);
  }
  return { b, t, k, heads: w.shape[0] / d, d };
}

/** fusedLinear (with the norm) then ropeKvWrite. */
export function qkvRopeKvWriteReference(
  be: Backend, x: Tensor, w: Tensor, bias: Tensor | null, norm: { weight: Tensor; eps: number } | null, positions: Tensor, theta: number,
  kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor,
): Tensor {
  const { b, t, heads, d } = qkvShape(x, w, kCache);
  const qkv = be.fusedLinear ? be.fusedLinear(x, w, { norm }) : fusedLinearReference(be, x, w, { norm });
  const qkv4 = qkv.view([b, t, heads, d]);
  try {
    return be.ropeKvWrite
      ? be.ropeKvWrite(qkv4, bias, positions, theta, kCache, vCache, slots, starts)
      : ropeKvWriteReference(be, qkv4, bias, positions, theta, kCache, vCache, slots, starts);
  } finally {
    qkv.dispose();
    qkv4.dispose();
  }
}
