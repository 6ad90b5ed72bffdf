// bf16/f16 <-> f32: exhaustive round trips over all 65536 patterns, and rounding checked against an f64 oracle.
import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  bf16ToNumber,
  f16ToF32,
  f16ToNumber,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  numberToBf16,
  numberToF16,
} from '../src/tensor/half.ts';

const allPatterns = (): Uint16Array => Uint16Array.from({ length: 65536 }, (_, i) => i);
const isNaNHalf = (h: number, expMask: number, mantMask: number): boolean => (h & expMask) === expMask && (h & mantMask) !== 0;

// Deterministic xorshift so failures reproduce.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

// Oracle: round x (exactly representable in f64) to the nearest f16 value by brute force over the
// two neighbours, ties to the even pattern. Independent of the bit tricks in half.ts.
function f16Oracle(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // halfway between max (65504) and 2^16 rounds to Inf
  // Find the largest positive pattern with value <= a.
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (f16ToNumber(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  const below = f16ToNumber(lo);
  if (below === a) return sign | lo;
  const above = f16ToNumber(lo + 1);
  const dBelow = a - below;
  const dAbove = above - a;
  if (dBelow < dAbove) return sign | lo;
  if (dAbove < dBelow) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

describe('f16', () => {
  it('round-trips all 65536 patterns through f32 (NaNs stay NaN)', () => {
    const h = allPatterns();
    const back = f32ToF16(f16ToF32(h));
    for (let i = 0; i < 65536; i++) {
      if (isNaNHalf(i, 0x7c00, 0x3ff)) expect(isNaNHalf(back[i]!, 0x7c00, 0x3ff)).toBe(true);
      else if (back[i] !== i) expect.fail(`f16 pattern 0x${i.toString(16)} came back as 0x${back[i]!.toString(16)}`);
    }
  });

  it('decodes special values exactly', () => {
    expect(f16ToNumber(0x3c00)).toBe(1);
    expect(f16ToNumber(0xc000)).toBe(-2);
    expect(f16ToNumber(0x7bff)).toBe(65504);
    expect(f16ToNumber(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToNumber(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToNumber(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToNumber(0x7c00)).toBe(Infinity);
    expect(f16ToNumber(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToNumber(0x8000), -0)).toBe(true);
    expect(Number.isNaN(f16ToNumber(0x7e00))).toBe(true);
  });

  it('rounds to nearest even, overflows to Inf and underflows gradually', () => {
    expect(numberToF16(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10 -> even (1)
    expect(numberToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (1+2^-9)
    expect(numberToF16(65504)).toBe(0x7bff);
    expect(numberToF16(65519.99)).toBe(0x7bff);
    expect(numberToF16(65520)).toBe(0x7c00);
    expect(numberToF16(1e10)).toBe(0x7c00);
    expect(numberToF16(-1e10)).toBe(0xfc00);
    expect(numberToF16(2 ** -25)).toBe(0x0000); // tie between 0 and smallest subnormal -> 0
    expect(numberToF16(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(numberToF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 subnormal units -> 2
    expect(numberToF16(-(2 ** -30))).toBe(0x8000);
    expect(numberToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up from subnormal into the first normal
    expect(numberToF16(1e-45)).toBe(0); // f32 subnormal input
    const nan = numberToF16(NaN);
    expect(isNaNHalf(nan, 0x7c00, 0x3ff)).toBe(true);
  });

  it('matches a brute-force oracle on 20000 random f32 values', () => {
    const next = rng(1234);
    const src = new Float32Array(20000);
    for (let i = 0; i < src.length; i++) {
      // Exponents concentrated around the f16 range, including subnormals and overflow.
      const bits = ((next() & 0x80000000) | (((next() % 50) + 97) << 23) | (next() & 0x7fffff)) >>> 0;
      src[i] = f32FromBits(bits);
    }
    const out = f32ToF16(src);
    for (let i = 0; i < src.length; i++) {
      const want = f16Oracle(src[i]!);
      if (out[i] !== want) expect.fail(`f32 ${src[i]} -> 0x${out[i]!.toString(16)}, oracle 0x${want.toString(16)}`);
    }
  });
});

describe('bf16', () => {
  it('round-trips all 65536 patterns through f32 (NaNs stay NaN)', () => {
    const h = allPatterns();
    const back = f32ToBf16(bf16ToF32(h));
    for (let i = 0; i < 65536; i++) {
      if (isNaNHalf(i, 0x7f80, 0x7f)) expect(isNaNHalf(back[i]!, 0x7f80, 0x7f)).toBe(true);
      else if (back[i] !== i) expect.fail(`bf16 pattern 0x${i.toString(16)} came back as 0x${back[i]!.toString(16)}`);
    }
  });

  it('widens exactly: value is the f32 with the pattern in the top 16 bits', () => {
    expect(bf16ToNumber(0x3f80)).toBe(1);
    expect(bf16ToNumber(0xc040)).toBe(-3);
    expect(bf16ToNumber(0x7f80)).toBe(Infinity);
    expect(bf16ToNumber(0x0001)).toBe(f32FromBits(0x00010000)); // subnormal
    expect(Object.is(bf16ToNumber(0x8000), -0)).toBe(true);
  });

  it('rounds to nearest even and never turns NaN into Inf', () => {
    expect(numberToBf16(f32FromBits(0x3f808000))).toBe(0x3f80); // tie, 0x3f80 even
    expect(numberToBf16(f32FromBits(0x3f818000))).toBe(0x3f82); // tie, round up to even
    expect(numberToBf16(f32FromBits(0x3f808001))).toBe(0x3f81); // above the tie
    expect(numberToBf16(f32FromBits(0x7f7fffff))).toBe(0x7f80); // max f32 rounds to Inf, as IEEE says
    expect(numberToBf16(f32FromBits(0x00008000))).toBe(0x0000); // subnormal tie to even zero
    const nan = numberToBf16(f32FromBits(0x7f800001)); // NaN whose payload lives only in the low bits
    expect(isNaNHalf(nan, 0x7f80, 0x7f)).toBe(true);
    expect(numberToBf16(f32FromBits(0xff800001)) & 0x8000).toBe(0x8000); // sign kept
  });

  it('matches an f64 oracle on 20000 random f32 values', () => {
    const next = rng(99);
    const src = new Float32Array(20000);
    for (let i = 0; i < src.length; i++) src[i] = f32FromBits(next() & 0x7f7fffff | (next() & 0x80000000));
    const out = f32ToBf16(src);
    for (let i = 0; i < src.length; i++) {
      const x = src[i]!;
      const lo = f32Bits(x) >>> 16; // truncated pattern (toward zero)
      const a = bf16ToNumber(lo);
      const b = bf16ToNumber(lo + 1);
      const da = Math.abs(x - a);
      const db = Math.abs(b - x);
      const want = da < db ? lo : db < da ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
      if (out[i] !== want) expect.fail(`f32 ${x} -> 0x${out[i]!.toString(16)}, oracle 0x${want.toString(16)}`);
    }
  });
});
