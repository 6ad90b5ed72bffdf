// Numeric evaluation of a MathJSON tree (from the Compute Engine's LaTeX parser) with mathjs complex arithmetic.
//
// Everything here runs in bounded time: factorials go through the gamma function (Infinity past 171),
// powers overflow to Infinity, and constructs that could loop (sums, integrals, limits) are refused.

import * as math from 'mathjs';

/** A MathJSON expression as the Compute Engine emits it (non-canonical form). */
export type MathJson = number | string | { num: string } | MathJson[];

/** Thrown for a construct we do not evaluate; the caller treats the comparison as inconclusive. */
export class Unsupported extends Error {}

type Value = number | math.Complex;
type Scope = ReadonlyMap<string, number>;

const CONSTANTS: Record<string, Value> = {
  Pi: Math.PI, ExponentialE: Math.E, e: Math.E, GoldenRatio: (1 + Math.sqrt(5)) / 2, EulerGamma: 0.5772156649015329,
  PositiveInfinity: Infinity, NegativeInfinity: -Infinity, Half: 0.5,
};
const IMAGINARY = new Set(['ImaginaryUnit', 'i']);

// Heads whose presence means the answer is about integers (floor, factorial…): sample integer points.
export const INTEGER_HEADS = new Set(['Floor', 'Ceil', 'Factorial', 'Factorial2', 'Mod', 'Round', 'Binomial']);

const UNARY: Record<string, (x: Value) => Value> = {
  Sin: (x) => math.sin(x as number), Cos: (x) => math.cos(x as number), Tan: (x) => math.tan(x as number),
  Cot: (x) => math.cot(x as number), Sec: (x) => math.sec(x as number), Csc: (x) => math.csc(x as number),
  Arcsin: (x) => math.asin(x as number), Arccos: (x) => math.acos(x as number), Arctan: (x) => math.atan(x as number),
  Arccot: (x) => math.acot(x as number), Arcsec: (x) => math.asec(x as number), Arccsc: (x) => math.acsc(x as number),
  Sinh: (x) => math.sinh(x as number), Cosh: (x) => math.cosh(x as number), Tanh: (x) => math.tanh(x as number),
  Coth: (x) => math.coth(x as number), Sech: (x) => math.sech(x as number), Csch: (x) => math.csch(x as number),
  Arsinh: (x) => math.asinh(x as number), Arcosh: (x) => math.acosh(x as number), Artanh: (x) => math.atanh(x as number),
  Ln: (x) => math.log(x as number), Exp: (x) => math.exp(x as number), Sqrt: (x) => math.sqrt(x as number),
  Abs: (x) => math.abs(x as number), Floor: (x) => math.floor(x as number), Ceil: (x) => math.ceil(x as number),
  Round: (x) => math.round(x as number), Sign: (x) => math.sign(x as number), Negate: (x) => math.unaryMinus(x),
  Square: (x) => math.multiply(x, x) as Value,
  Gamma: (x) => gamma(x), Factorial: (x) => gamma(math.add(x, 1) as Value),
  Lb: (x) => log(x, 2), Lg: (x) => log(x, 10),
};
// The inverse of a named function, as in \sin^{-1}.
const INVERSE: Record<string, string> = { Sin: 'Arcsin', Cos: 'Arccos', Tan: 'Arctan', Cot: 'Arccot', Sec: 'Arcsec', Csc: 'Arccsc' };

function gamma(x: Value): Value {
  if (typeof x === 'number') return x > 171.6 ? Infinity : math.gamma(x);
  if (x.re > 171.6) return Infinity;
  return math.gamma(x);
}

/** Logarithm to a base; exact binary/decimal logs for positive reals so that floor(log2 8) is 3. */
function log(x: Value, base: Value): Value {
  if (typeof x === 'number' && x > 0) {
    if (base === 2) return Math.log2(x);
    if (base === 10) return Math.log10(x);
  }
  return math.divide(math.log(x as number), math.log(base as number)) as Value;
}

/** Real odd roots of negative numbers (∛−8 = −2); the principal complex root otherwise. */
function root(x: Value, n: Value): Value {
  if (typeof x === 'number' && typeof n === 'number' && x < 0 && Number.isInteger(n) && n % 2 === 1) {
    return -Math.pow(-x, 1 / n);
  }
  return math.pow(x, math.divide(1, n) as Value) as Value;
}

/** A variable name for a symbol, a subscripted symbol (`x_0`) or a primed one (`y'`). */
export function symbolName(node: MathJson): string | null {
  if (typeof node === 'string') return node.startsWith("'") ? null : node;
  if (Array.isArray(node) && (node[0] === 'At' || node[0] === 'Subscript') && node.length === 3) {
    const base = symbolName(node[1]!);
    const sub = node[2]!;
    const subName = typeof sub === 'number' ? String(sub) : typeof sub === 'string' ? sub.replace(/'/g, '') : null;
    if (base !== null && subName !== null && typeof node[1] === 'string') return `${base}_${subName}`;
  }
  if (Array.isArray(node) && node[0] === 'Prime' && node.length === 2) {
    const base = symbolName(node[1]!);
    if (base !== null) return `${base}'`;
  }
  return null;
}

function isFunctionSymbol(node: MathJson): boolean {
  return typeof node === 'string' && node in UNARY;
}

/** The free variables of an expression (constants and the unknown functions in `functions` excluded). */
export function freeVariables(node: MathJson, functions: ReadonlySet<string>, out = new Set<string>()): Set<string> {
  if (typeof node === 'number' || (typeof node === 'object' && !Array.isArray(node))) return out;
  if (typeof node === 'string') {
    const constant = node in CONSTANTS || IMAGINARY.has(node) || isFunctionSymbol(node) || functions.has(node);
    if (!constant && !node.startsWith("'")) out.add(node);
    return out;
  }
  if (node[0] === 'At' || node[0] === 'Subscript' || node[0] === 'Prime') {
    const name = symbolName(node);
    if (name !== null) { out.add(name); return out; }
  }
  for (let i = 1; i < node.length; i++) freeVariables(node[i]!, functions, out);
  return out;
}

/** Whether any node has one of the given heads. */
export function hasHead(node: MathJson, heads: ReadonlySet<string>): boolean {
  if (!Array.isArray(node)) return false;
  if (typeof node[0] === 'string' && heads.has(node[0])) return true;
  return node.some((child, i) => i > 0 && hasHead(child, heads));
}

/** Number of nodes, a measure of how much work evaluating or simplifying costs. */
export function nodeCount(node: MathJson): number {
  if (!Array.isArray(node)) return 1;
  let n = 1;
  for (let i = 1; i < node.length; i++) n += nodeCount(node[i]!);
  return n;
}

function isIntegerLiteral(node: MathJson | undefined): node is number {
  return typeof node === 'number' && Number.isInteger(node);
}

/** `1\frac{4}{5}` is the mixed number 1 + 4/5, not 1 × 4/5. */
function mixedNumber(args: MathJson[]): number | null {
  if (args.length !== 2 || !isIntegerLiteral(args[0]) || args[0] < 0) return null;
  const frac = args[1];
  if (!Array.isArray(frac) || (frac[0] !== 'Divide' && frac[0] !== 'Rational')) return null;
  const [, num, den] = frac;
  if (!isIntegerLiteral(num) || !isIntegerLiteral(den) || num <= 0 || den <= num) return null;
  return args[0] + num / den;
}

/**
 * Symbols used only as `f(...)` — never on their own — are unknown functions (I(0), u(t), x(t)); a symbol
 * that also appears alone is a variable times a bracket: n(n+1). Computed over both sides of a comparison.
 */
export function functionSymbols(nodes: MathJson[]): Set<string> {
  const applied = new Set<string>();
  const alone = new Set<string>();
  const walk = (node: MathJson): void => {
    if (typeof node === 'string') { alone.add(node); return; }
    if (!Array.isArray(node)) return;
    const juxtaposed = node[0] === 'InvisibleOperator';
    for (let i = 1; i < node.length; i++) {
      const child = node[i]!;
      const next = node[i + 1];
      if (juxtaposed && typeof child === 'string' && Array.isArray(next) && next[0] === 'Delimiter' && !isFunctionSymbol(child)) {
        applied.add(child);
        walk(next);
        i++;
      } else {
        walk(child);
      }
    }
  };
  nodes.forEach(walk);
  return new Set([...applied].filter((s) => !alone.has(s) && !(s in CONSTANTS) && !IMAGINARY.has(s)));
}

/** A fixed smooth, non-zero function standing in for an unknown f: the same name gives the same function. */
function opaque(name: string, x: Value): Value {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  const freq = 0.7 + (h % 97) / 97;
  const phase = (h % 13) / 3;
  return math.add(1.5, math.sin(math.add(math.multiply(freq, x), phase) as number)) as Value;
}

/**
 * Evaluates `node` with the variables in `scope`; `functions` names unknown functions (see
 * functionSymbols). Throws Unsupported for anything outside arithmetic.
 */
export function evaluate(node: MathJson, scope: Scope, functions: ReadonlySet<string> = new Set()): Value {
  if (typeof node === 'number') return node;
  if (typeof node === 'string') {
    if (IMAGINARY.has(node)) return math.complex(0, 1);
    const c = CONSTANTS[node];
    if (c !== undefined) return c;
    const v = scope.get(node);
    if (v !== undefined) return v;
    throw new Unsupported(`symbol ${node}`);
  }
  if (!Array.isArray(node)) return Number(node.num.replace(/\.\.\.$/, ''));
  const head = node[0];
  const args = node.slice(1) as MathJson[];
  const name = symbolName(node);
  if (name !== null && scope.has(name)) return scope.get(name)!;
  if (typeof head !== 'string') throw new Unsupported('compound head');
  const ev = (x: MathJson) => evaluate(x, scope, functions);
  switch (head) {
    case 'Add': return args.reduce<Value>((acc, a) => math.add(acc, ev(a)) as Value, 0);
    case 'Subtract': return math.subtract(ev(args[0]!), ev(args[1]!)) as Value;
    case 'Multiply': return args.reduce<Value>((acc, a) => math.multiply(acc, ev(a)) as Value, 1);
    case 'Divide': case 'Rational': return math.divide(ev(args[0]!), ev(args[1]!)) as Value;
    case 'Power': return math.pow(ev(args[0]!), ev(args[1]!)) as Value;
    case 'Root': return root(ev(args[0]!), ev(args[1]!));
    case 'Log': return args.length === 1 ? log(ev(args[0]!), 10) : log(ev(args[0]!), ev(args[1]!));
    case 'Complex': return math.complex(ev(args[0]!) as number, ev(args[1]!) as number);
    case 'Max': return math.max(...args.map(ev as (x: MathJson) => number));
    case 'Min': return math.min(...args.map(ev as (x: MathJson) => number));
    case 'Mod': return math.mod(ev(args[0]!) as number, ev(args[1]!) as number);
    case 'Delimiter':
      if (args.length >= 1 && !(Array.isArray(args[0]) && args[0][0] === 'Sequence' && args[0].length > 2)) {
        return ev(args[0]!);
      }
      throw new Unsupported('tuple');
    case 'Sequence':
      if (args.length === 1) return ev(args[0]!);
      throw new Unsupported('sequence');
    case 'Apply': {
      // \sin^{-1}(x) parses as Apply(InverseFunction(Sin), x).
      const fn = args[0];
      if (Array.isArray(fn) && fn[0] === 'InverseFunction' && typeof fn[1] === 'string' && INVERSE[fn[1]]) {
        return UNARY[INVERSE[fn[1]]!]!(ev(args[1]!));
      }
      throw new Unsupported('apply');
    }
    case 'InvisibleOperator': {
      const mixed = mixedNumber(args);
      if (mixed !== null) return mixed;
      // Juxtaposition: a function name applies to what follows it (\exp{x}); anything else multiplies.
      let acc: Value = 1;
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        if (isFunctionSymbol(a) && i + 1 < args.length) {
          acc = math.multiply(acc, UNARY[a as string]!(ev(args[++i]!))) as Value;
        } else if (typeof a === 'string' && functions.has(a) && i + 1 < args.length) {
          acc = math.multiply(acc, opaque(a, ev(args[++i]!))) as Value;
        } else {
          acc = math.multiply(acc, ev(a)) as Value;
        }
      }
      return acc;
    }
  }
  const unary = UNARY[head];
  if (unary && args.length === 1) return unary(ev(args[0]!));
  throw new Unsupported(head);
}

/** A finite complex value as {re, im}, or null for NaN/Infinity/anything else. */
export function asFiniteComplex(v: Value): { re: number; im: number } | null {
  const re = typeof v === 'number' ? v : v.re;
  const im = typeof v === 'number' ? 0 : v.im;
  return Number.isFinite(re) && Number.isFinite(im) ? { re, im } : null;
}
