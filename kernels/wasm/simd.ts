// SIMD helpers the CPU kernels share (kernels/wasm/cpu_kernels.ts): multiply-add, a polynomial exp, horizontal
// sums, dot products.

/** c + a·b on four lanes. The module is built twice (kernels/wasm/build.ts): with relaxed SIMD this is one fused
 *  multiply-add where the CPU has FMA (rounded once, so results differ from the plain build in the last bits),
 *  without it a multiply and an add. */
@inline export function madd4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** e^x for four lanes (Cephes expf: n = round(x·log2 e), a degree-6 polynomial on the remainder, 2^n by the
 *  exponent bits); about 1 ulp for x in [-87.3, 88], and inputs below that flush to ~1e-38. */
@inline export function exp4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.33654)), f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, f32x4.mul(r, r)), r), f32x4.splat(1));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2);
}

/** e^x for one value, through lane 0 of exp4 (the same rounding as the vector path). */
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** The four lanes of v added. */
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Σ_j x[j]·y[j] over n floats. */
@inline export function dot(x: usize, y: usize, n: i32): f32 {
  let s4 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) s4 = madd4(v128.load(x + (<usize>i << 2)), v128.load(y + (<usize>i << 2)), s4);
  let s = hsum(s4);
  for (; i < n; i++) s += load<f32>(x + (<usize>i << 2)) * load<f32>(y + (<usize>i << 2));
  return s;
}
