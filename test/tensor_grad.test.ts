// Every differentiable op's backward against float64 central differences.
import { describe, expect, it } from 'vitest';
import * as ops from '../src/tensor/ops.ts';
import * as nn from '../src/tensor/nn_ops.ts';
import { signedStream } from '../src/tensor/rng.ts';
import { gradCheck, randF64 } from './gradcheck.ts';

const TOL = 1e-6;

describe('gradients match finite differences (f64)', () => {
  const r = signedStream(1);
  it('add / sub / mul / div with broadcasting', () => {
    for (const op of [ops.add, ops.sub, ops.mul]) {
      expect(gradCheck(op, [randF64([2, 3, 4], r), randF64([4], r)])).toBeLessThan(TOL);
      expect(gradCheck(op, [randF64([2, 1, 4], r), randF64([3, 1], r)])).toBeLessThan(TOL);
    }
    const denom = randF64([3, 1], r).backend.affine(randF64([3, 1], r), 0.3, 2);
    expect(gradCheck(ops.div, [randF64([2, 3, 4], r), denom])).toBeLessThan(TOL);
  });

  it('unary ops, scale, sum, mean', () => {
    expect(gradCheck(ops.exp, [randF64([5, 3], r)])).toBeLessThan(TOL);
    expect(gradCheck(ops.square, [randF64([5, 3], r)])).toBeLessThan(TOL);
    expect(gradCheck(ops.silu, [randF64([5, 3], r, 3)])).toBeLessThan(TOL);
    const pos = randF64([4], r).backend.affine(randF64([4], r), 0.5, 1.5);
    expect(gradCheck(ops.log, [pos])).toBeLessThan(TOL);
    expect(gradCheck(ops.sqrt, [pos])).toBeLessThan(TOL);
    expect(gradCheck((x) => ops.scale(x, -2.5), [randF64([3, 2], r)])).toBeLessThan(TOL);
    expect(gradCheck((x) => ops.sum(x, [1], true), [randF64([3, 4, 2], r)])).toBeLessThan(TOL);
    expect(gradCheck((x) => ops.mean(x, [0, 2]), [randF64([3, 4, 2], r)])).toBeLessThan(TOL);
  });

  it('reshape, permute, slice, concat', () => {
    expect(gradCheck((x) => ops.permute(ops.reshape(x, [2, 3, 4]), [2, 0, 1]), [randF64([6, 4], r)])).toBeLessThan(TOL);
    expect(gradCheck((x) => ops.slice(x, 1, 1, 3), [randF64([2, 4, 3], r)])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => ops.concat([a, b], 1), [randF64([2, 2, 3], r), randF64([2, 1, 3], r)])).toBeLessThan(TOL);
  });

  it('matmul with every transpose and a broadcast weight', () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = randF64(transA ? [2, 4, 3] : [2, 3, 4], r);
        const b = randF64(transB ? [2, 5, 4] : [2, 4, 5], r);
        expect(gradCheck((x, y) => ops.matmul(x, y, { transA, transB }), [a, b])).toBeLessThan(TOL);
      }
    }
    expect(gradCheck((x, w, bias) => ops.linear(x, w, bias), [randF64([2, 3, 4], r), randF64([5, 4], r), randF64([5], r)])).toBeLessThan(TOL);
  });

  it('embedding (scatter-add backward, repeated ids)', () => {
    const idx = ops.ids([1, 3, 1, 0, 3, 3], [2, 3]);
    expect(gradCheck((w) => nn.embedding(w, idx), [randF64([5, 4], r)])).toBeLessThan(TOL);
  });

  it('rmsnorm', () => {
    expect(gradCheck((x, w) => nn.rmsnorm(x, w, 1e-6), [randF64([3, 8], r), randF64([8], r)])).toBeLessThan(TOL);
  });

  it('rope', () => {
    const pos = ops.ids([0, 1, 2, 7, 3, 4, 5, 100], [2, 4]);
    expect(gradCheck((x) => nn.rope(x, pos, 10000), [randF64([2, 4, 2, 8], r)])).toBeLessThan(TOL);
  });

  it('causal GQA attention, with a KV prefix and with packed segments', () => {
    const opts = { scale: 0.4, causal: true };
    expect(gradCheck((q, k, v) => nn.attention(q, k, v, opts), [randF64([2, 5, 4, 3], r), randF64([2, 5, 2, 3], r), randF64([2, 5, 2, 3], r)])).toBeLessThan(TOL);
    // 3 queries at the end of 6 keys (a KV-cache step).
    expect(gradCheck((q, k, v) => nn.attention(q, k, v, opts), [randF64([1, 3, 2, 4], r), randF64([1, 6, 1, 4], r), randF64([1, 6, 1, 4], r)])).toBeLessThan(TOL);
    const segments = ops.ids([0, 0, 1, 1, 1, 2], [1, 6]);
    const seg = { ...opts, segments };
    expect(gradCheck((q, k, v) => nn.attention(q, k, v, seg), [randF64([1, 6, 2, 4], r), randF64([1, 6, 2, 4], r), randF64([1, 6, 2, 4], r)])).toBeLessThan(TOL);
  });

  it('swiglu', () => {
    expect(gradCheck(nn.swiglu, [randF64([4, 6], r, 3), randF64([4, 6], r)])).toBeLessThan(TOL);
  });

  it('cross-entropy with ignore_index', () => {
    const targets = ops.ids([2, -100, 0, 4]);
    expect(gradCheck((l) => nn.crossEntropy(l, targets), [randF64([4, 5], r, 3)])).toBeLessThan(TOL);
    expect(gradCheck((l) => nn.crossEntropy(l, targets, { normalizer: 7 }), [randF64([4, 5], r, 3)])).toBeLessThan(TOL);
  });
});
