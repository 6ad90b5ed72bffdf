// Inequalities as the intervals they describe: "-793 < a < 10" is (-793,10), "x \ge 2" is [2,\infty),
// "x<1, x>3" (from "x < 1 or x > 3") is (-\infty,1)\cup(3,\infty). An interval equals the inequality it
// describes, so the comparison step turns one into the other. Works on normalised strings (\le, \ge).

/** One side of a comparison chain and the relation after it. */
const RELATION = /<|>|\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\lt(?![a-zA-Z])|\\gt(?![a-zA-Z])/g;

type Rel = '<' | '>' | '<=' | '>=';

function relOf(token: string): Rel {
  if (token === '<' || token === '\\lt') return '<';
  if (token === '>' || token === '\\gt') return '>';
  return token === '\\le' ? '<=' : '>=';
}

/** A variable name: x, a, x_1, x_{12}. */
const VARIABLE = /^[a-zA-Z](?:_\{?[0-9a-zA-Z]+\}?)?$/;

/** A bound must not be a variable name itself (then "a < b" says nothing about one unknown). */
function isBound(s: string): boolean {
  return s.length > 0 && !VARIABLE.test(s) && !/[<>=]/.test(s);
}

/**
 * The interval a single inequality describes ("a<x<b", "x\ge 2", "3>x"), as a normalised interval string,
 * or null when `s` is not such an inequality in one variable with explicit bounds.
 */
export function inequalityInterval(s: string): string | null {
  const tokens = s.match(RELATION);
  if (!tokens || tokens.length > 2) return null;
  const sides = s.split(RELATION).map((t) => t.trim());
  const rels = tokens.map(relOf);
  if (sides.length === 2) {
    const [l, r] = sides as [string, string];
    const rel = rels[0]!;
    if (VARIABLE.test(l) && isBound(r)) return oneSided(rel, r);
    if (VARIABLE.test(r) && isBound(l)) return oneSided(flip(rel), l);
    return null;
  }
  const [a, x, b] = sides as [string, string, string];
  if (!VARIABLE.test(x) || !isBound(a) || !isBound(b)) return null;
  const [r1, r2] = rels as [Rel, Rel];
  const up = (r: Rel) => r === '<' || r === '<=';
  if (up(r1) !== up(r2)) return null;
  // a < x < b, or b > x > a written downwards.
  const [lo, loRel, hi, hiRel] = up(r1) ? [a, r1, b, r2] : [b, r2, a, r1];
  const open = loRel === '<' || loRel === '>' ? '(' : '[';
  const close = hiRel === '<' || hiRel === '>' ? ')' : ']';
  return `${open}${lo},${hi}${close}`;
}

function flip(r: Rel): Rel {
  return ({ '<': '>', '>': '<', '<=': '>=', '>=': '<=' } as const)[r];
}

/** x REL bound as an interval. */
function oneSided(rel: Rel, bound: string): string {
  switch (rel) {
    case '<': return `(-\\infty,${bound})`;
    case '<=': return `(-\\infty,${bound}]`;
    case '>': return `(${bound},\\infty)`;
    case '>=': return `[${bound},\\infty)`;
  }
}

/** Intervals for a list of inequalities ("x<1" or "x>3"), or null when any item is not one. */
export function inequalityUnion(items: string[]): string[] | null {
  const intervals = items.map(inequalityInterval);
  return intervals.every((i) => i !== null) ? (intervals as string[]) : null;
}
