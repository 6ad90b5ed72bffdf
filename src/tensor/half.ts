// bf16 and f16 <-> f32 conversions over raw 16-bit patterns (round-to-nearest-even, IEEE NaN/Inf/subnormals).
//
// Half values travel as Uint16Array bit patterns: JS has no 16-bit float type on Node 20, and
// safetensors stores them as little-endian u16 words, which is what a Uint16Array view gives us on
// the little-endian hosts we run on (checked once below).
import { endianness } from 'node:os';

if (endianness() !== 'LE') {
  // Every typed-array view in src/io assumes host order == file order (safetensors is little-endian).
  throw new Error(`src/tensor/half.ts: big-endian hosts are not supported (os.endianness() is ${endianness()})`);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Bit pattern of the f32 nearest to x (x is first rounded to f32, as a Float32Array store does). */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0]!;
}

/** The f32 value with the given 32-bit pattern. */
export function f32FromBits(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0]!;
}

// ---------------------------------------------------------------- bf16

/** f32 bit pattern -> bf16 bit pattern, round-to-nearest-even; NaN stays NaN (quieted, sign kept). */
export function bf16BitsFromF32Bits(bits: number): number {
  bits >>>= 0;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff; // NaN: truncation could give Inf
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; overflow carries into the exponent
  // and yields Inf exactly when it should. The sum stays below 2^32 because NaNs are excluded.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bit pattern -> f32 value (exact). */
export function bf16ToNumber(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** number -> bf16 bit pattern (rounds to f32 first, then to bf16 with ties-to-even). */
export function numberToBf16(x: number): number {
  return bf16BitsFromF32Bits(f32Bits(x));
}

/** Widen bf16 patterns to f32 (exact). */
export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, out.length);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) outBits[i] = src[i]! << 16;
  return out;
}

/** Narrow f32 to bf16 patterns with round-to-nearest-even. */
export function f32ToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, out.length);
  const srcBits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = bf16BitsFromF32Bits(srcBits[i]!);
  return out;
}

// ---------------------------------------------------------------- f16

/** f32 bit pattern -> f16 bit pattern, round-to-nearest-even, with overflow to Inf and gradual underflow. */
export function f16BitsFromF32Bits(bits: number): number {
  bits >>>= 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and is forced quiet so it cannot become Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // re-biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large even before rounding
  if (e <= 0) {
    // Result is subnormal (or zero): value = m * 2^(e-14) units of 2^-24, m with the implicit bit.
    if (e < -10) return sign; // below half the smallest subnormal (2^-25): rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++; // may carry into the smallest normal: correct
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++; // carry into exponent; 0x7bff+1 = Inf
  return sign | half;
}

/** f16 bit pattern -> f32 bit pattern (exact: every f16 is an f32). */
export function f32BitsFromF16Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf / NaN with payload
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // signed zero
  // Subnormal: normalise the mantissa so the f32 gets an implicit leading one.
  let m = mant;
  let e = -14;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** f16 bit pattern -> f32 value (exact). */
export function f16ToNumber(h: number): number {
  return f32FromBits(f32BitsFromF16Bits(h & 0xffff));
}

/** number -> f16 bit pattern (rounds to f32 first, then to f16 with ties-to-even). */
export function numberToF16(x: number): number {
  return f16BitsFromF32Bits(f32Bits(x));
}

// A 256 KiB table makes widening a multi-GB f16 checkpoint a single load per element.
let f16Table: Uint32Array | null = null;
function f16ToF32Table(): Uint32Array {
  if (f16Table === null) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f32BitsFromF16Bits(h);
  }
  return f16Table;
}

/** Widen f16 patterns to f32 (exact). */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, out.length);
  const table = f16ToF32Table();
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) outBits[i] = table[src[i]!]!;
  return out;
}

/** Narrow f32 to f16 patterns with round-to-nearest-even. */
export function f32ToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, out.length);
  const srcBits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16BitsFromF32Bits(srcBits[i]!);
  return out;
}

function checkLengths(src: number, out: number): void {
  if (src !== out) throw new Error(`half conversion: output has ${out} elements, input has ${src}`);
}
