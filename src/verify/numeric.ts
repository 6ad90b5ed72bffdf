// Plain-number parsing and tolerant numeric equality (relative 1e-4, optional percent leniency).

/** Relative tolerance of the Qwen2.5-Math grader (math.isclose(rel_tol=1e-4)). */
export const REL_TOL = 1e-4;

// 12, -3.5, +2, .5, 1,234,567.25 (groups of three only), 4.5e33, 4.5\times10^{33}, 3\cdot10^8.
const PLAIN = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const THOUSANDS = /^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$/;
const E_NOTATION = /^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$/;
const TIMES_TEN = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:\\times|\\cdot|\*|x)10\^(?:\{([+-]?\d+)\}|([+-]?\d))$/;

/** The value of an answer that is a plain number in one of the forms above, else null. */
export function parsePlainNumber(s: string): number | null {
  const t = s.trim();
  if (t.length === 0 || t.length > 40) return null;
  if (PLAIN.test(t) || E_NOTATION.test(t)) return Number(t);
  if (THOUSANDS.test(t)) return Number(t.replace(/,/g, ''));
  const m = TIMES_TEN.exec(t);
  if (m) return Number(`${m[1]}e${m[2] ?? m[3]}`);
  return null;
}

/** |a − b| ≤ tol · max(|a|, |b|), the symmetric test of Python's math.isclose. */
export function isClose(a: number, b: number, tol = REL_TOL): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * Numeric equality of a prediction with a reference. With `percent`, the reference may also be read as a
 * percentage either way (r/100 or r·100), as the Qwen grader does: "50%" and "0.5" grade equal.
 * Two integers must match exactly: the relative tolerance is for rounded decimals, and would otherwise
 * accept 1450001 for 1450000 (the Qwen grader does).
 */
export function numbersEqual(pred: number, ref: number, percent: boolean): boolean {
  if (Number.isSafeInteger(pred) && Number.isSafeInteger(ref)) {
    return pred === ref || (percent && (pred === ref * 100 || pred * 100 === ref));
  }
  if (isClose(pred, ref)) return true;
  return percent && (isClose(pred, ref / 100) || isClose(pred, ref * 100));
}
