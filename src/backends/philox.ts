// Philox4x32-10 (Salmon et al., SC'11; Random123): a counter-based RNG. Each draw is a pure function of
// (counter, key), so a GPU thread per vocabulary entry can reproduce the CPU's numbers without shared state.
// Checked against the Random123 known-answer vectors in test/sample_philox.test.ts.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9; // golden ratio
const W1 = 0xbb67ae85; // sqrt(3) - 1
const TWO_32 = 4294967296;

/**
 * High 32 bits of the 64-bit product of two uint32s, exactly: a·b / 2^32 = (a·bh + a·bl / 2^16) / 2^16 with
 * b = bh·2^16 + bl, where both partial products stay below 2^48 (exact in a double) and the inner floor does
 * not change the outer one.
 */
function mulhi32(a: number, b: number): number {
  return Math.floor((a * (b >>> 16) + Math.floor((a * (b & 0xffff)) / 65536)) / 65536) >>> 0;
}

/**
 * Philox4x32 with 10 rounds: counter words c0..c3 and key words k0, k1 (uint32 each) → 4 uint32s in `out`.
 * The key is bumped by the Weyl constants between rounds, as Random123 does.
 */
export function philox4x32(
  c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let x0 = c0 >>> 0, x1 = c1 >>> 0, x2 = c2 >>> 0, x3 = c3 >>> 0;
  let key0 = k0 >>> 0, key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      key0 = (key0 + W0) >>> 0;
      key1 = (key1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/** A uint32 as a uniform in the open interval (0, 1): (x + 0.5) / 2^32, exact in f64 (never 0 or 1). */
export function uniformOpen(x: number): number {
  return (x + 0.5) / TWO_32;
}

/** The two Philox key words for a seed: its low and high 32 bits. Seeds are integers in [0, 2^53). */
export function seedKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be an integer in [0, 2^53), got ${seed}`);
  return [seed % TWO_32 >>> 0, Math.floor(seed / TWO_32) >>> 0];
}
