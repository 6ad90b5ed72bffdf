// Stable string hashes for seeds and problem ids (FNV-1a, 32-bit), identical on every run and platform.

/** FNV-1a over the UTF-16 code units of `text`, starting from `basis`; an unsigned 32-bit integer. */
export function hash32(text: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * 64 bits of hash as 16 hex digits: FNV-1a of the text and of the text reversed (so the halves
 * don't collide together), with different bases. Problem ids use it, so
 * two different questions share an id with odds of about n^2 / 2^65 (negligible for any data set here).
 */
export function hash64Hex(text: string): string {
  const hi = hash32(text, 0x811c9dc5);
  const lo = hash32(Array.from(text).reverse().join(''), 0x050c5d1f);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
