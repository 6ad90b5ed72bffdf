// Symbolic equivalence of two LaTeX expressions: Compute Engine parsing and simplification, then numeric
// evaluation at seeded random points (mathjs) when simplification is inconclusive.
//
// Everything is synchronous and bounded: inputs are capped in length, simplification only runs on small
// expressions free of factorials and huge literals (the Compute Engine evaluates those exactly and can run
// for minutes), and each check is paid for from the caller's WorkBudget (steps, never the clock).

import { ComputeEngine } from '@cortex-js/compute-engine';
import {
  asFiniteComplex, evaluate, freeVariables, functionSymbols, hasHead, INTEGER_HEADS, nodeCount, Unsupported, type MathJson,
} from './mathjson_eval.ts';
import { uniformStream } from '../tensor/rng.ts';
import { WorkBudget } from './budget.ts';
import { matchingBrace } from './normalize.ts';

/** Longest expression we hand to the parser; longer answers are compared as strings only. */
const MAX_LATEX_CHARS = 400;
/** Largest expression (in MathJSON nodes) we let the Compute Engine simplify. */
const MAX_SIMPLIFY_NODES = 60;
/** Relative tolerance for constants: the Qwen grader's 1e-4, for answers given as rounded decimals. */
const NUMERIC_TOL = 1e-4;
/**
 * Relative tolerance for functions at sample points. Both sides are evaluated exactly in doubles there, so
 * only rounding separates equal expressions; 1e-4 let a polynomial that takes values near 4·10^4 equal
 * itself plus 1.
 */
const FUNCTION_TOL = 1e-9;
const SAMPLE_TRIES = 12;
const SAMPLES_NEEDED = 4;
/**
 * Steps charged for each piece of work, about one per microsecond of it on the development machine (2 cores,
 * shared; bench/NOTES.md "Grader speed"): the Compute Engine parses ~150 µs per character on first sight,
 * simplifies at up to ~500 µs per node, and one node costs ~1.4 µs to evaluate at one point.
 */
const PARSE_STEPS_PER_CHAR = 100;
const SIMPLIFY_STEPS_PER_NODE = 300;
const EVAL_STEPS_PER_NODE = 1;

let engine: ComputeEngine | null = null;
function ce(): ComputeEngine {
  engine ??= new ComputeEngine();
  return engine;
}

// Parsed MathJSON per LaTeX string. Golds repeat across rollouts, so this saves most parses.
const parseCache = new Map<string, MathJson | null>();
const PARSE_CACHE_LIMIT = 20_000;

/** `\binom{a}{b}` (and `\dbinom`, `{a \choose b}`) rewritten as factorials, which the parser knows. */
function rewriteBinomials(latex: string): string {
  let s = latex.replace(/\{([^{}]*)\\choose([^{}]*)\}/g, '\\binom{$1}{$2}');
  for (let guard = 0; guard < 20; guard++) {
    const m = /\\[dt]?binom\s*\{/.exec(s);
    if (!m) break;
    const open1 = m.index + m[0].length - 1;
    const close1 = matchingBrace(s, open1);
    if (close1 < 0 || s[close1 + 1] !== '{') break;
    const close2 = matchingBrace(s, close1 + 1);
    if (close2 < 0) break;
    const a = s.slice(open1 + 1, close1);
    const b = s.slice(close1 + 2, close2);
    s = `${s.slice(0, m.index)}\\frac{(${a})!}{(${b})!((${a})-(${b}))!}${s.slice(close2 + 1)}`;
  }
  return s;
}

/**
 * Scientific notation in a form the parser keeps. It reads `7.4e-12` as 0 and folds `7.4\\times10^{-12}` and
 * `0.0000000000074` into a literal that its tolerance chops to 0, which made `\\sqrt{7.4e-12}` equal 7.4e-12;
 * `{10}^{-12}` stays a power. e-notation is rewritten only in unambiguous shapes (a decimal point or a
 * two-digit exponent), since `2e-1` may be 2e − 1.
 */
function rewriteNumbers(latex: string): string {
  return latex
    .replace(/(?<![\w.])(\d+\.\d+|\d+(?=e[+-]?\d{2}))e([+-]?\d+)(?![\w.])/g, '$1\\times{10}^{$2}')
    .replace(/(\d)\s*(\\times|\\cdot)\s*10\s*\^/g, '$1$2{10}^')
    .replace(/(?<![\w.])0\.(0{6,})(\d+)/g, (_, zeros: string, digits: string) => `${digits}\\times{10}^{-${zeros.length + digits.length}}`);
}

function containsError(node: MathJson): boolean {
  if (!Array.isArray(node)) return false;
  if (node[0] === 'Error' || node[0] === 'ErrorCode') return true;
  return node.some((c) => containsError(c));
}

/** MathJSON for a LaTeX expression, or null when the parser reports an error. */
export function parseLatex(latex: string): MathJson | null {
  const cached = parseCache.get(latex);
  if (cached !== undefined) return cached;
  let json: MathJson | null = null;
  if (latex.length <= MAX_LATEX_CHARS) {
    try {
      // Non-canonical: canonicalisation folds exact arithmetic, which is unbounded on inputs like 99^(99^99).
      json = ce().parse(rewriteNumbers(rewriteBinomials(latex)), { canonical: false }).json as MathJson;
      if (containsError(json)) json = null;
    } catch {
      json = null;
    }
  }
  if (parseCache.size >= PARSE_CACHE_LIMIT) parseCache.clear();
  parseCache.set(latex, json);
  return json;
}

// Heads the Compute Engine may evaluate exactly for a long time, or that are not arithmetic at all.
const UNSAFE_FOR_SIMPLIFY = new Set([
  'Factorial', 'Factorial2', 'Gamma', 'Binomial', 'Sum', 'Product', 'Integrate', 'Limit', 'D', 'Derivative',
  'Delimiter', 'Sequence', 'Tuple', 'List', 'Set', 'Equal', 'Less', 'Greater', 'LessEqual', 'GreaterEqual',
  'PlusMinus', 'Apply', 'At', 'Subscript', 'Prime',
]);

function literalsSmall(node: MathJson): boolean {
  if (typeof node === 'number') return Math.abs(node) <= 1e6;
  if (typeof node === 'string') return true;
  if (!Array.isArray(node)) return false; // {num: "..."}: long decimals or big numbers
  return node.every((c, i) => i === 0 || literalsSmall(c));
}

/** Whether the Compute Engine may simplify this expression within a few milliseconds. */
function safeToSimplify(node: MathJson): boolean {
  return nodeCount(node) <= MAX_SIMPLIFY_NODES && !hasHead(node, UNSAFE_FOR_SIMPLIFY) && literalsSmall(node);
}

/** Compute Engine: equal canonical forms, or (with `simplify`) a difference that simplifies to 0. */
function casEqual(a: MathJson, b: MathJson, simplify: boolean): boolean {
  if (!safeToSimplify(a) || !safeToSimplify(b)) return false;
  try {
    const ea = ce().box(a as never);
    const eb = ce().box(b as never);
    if (ea.isSame(eb)) return true;
    if (!simplify) return false;
    const diff = ce().box(['Subtract', ea, eb]).simplify();
    return diff.is(0);
  } catch {
    return false;
  }
}

/**
 * Relative closeness of complex values. `absFloor` is 0 for constants (a physical 1.3e-27 is not 0) and tiny
 * for values at random points, where an identity such as x − x yields rounding noise around 0.
 */
function closeComplex(a: { re: number; im: number }, b: { re: number; im: number }, absFloor: number, tol = NUMERIC_TOL): boolean {
  const diff = Math.hypot(a.re - b.re, a.im - b.im);
  const scale = Math.max(Math.hypot(a.re, a.im), Math.hypot(b.re, b.im));
  return diff <= tol * scale + absFloor;
}

type Verdict = boolean | 'inconclusive';

const INFINITIES = new Set(['PositiveInfinity', 'NegativeInfinity', 'ComplexInfinity']);

function hasSymbol(node: MathJson, names: ReadonlySet<string>): boolean {
  if (typeof node === 'string') return names.has(node);
  return Array.isArray(node) && node.some((c) => hasSymbol(c, names));
}

/** ∞ against ∞ (interval ends): equal when both evaluate to the same real infinity; null if neither is infinite. */
function sameInfinity(a: MathJson, b: MathJson): boolean | null {
  const value = (x: MathJson) => {
    try {
      const v = evaluate(x, new Map());
      return typeof v === 'number' ? v : v.im === 0 ? v.re : NaN;
    } catch {
      return NaN;
    }
  };
  // Only a written ∞ counts: 10^(10^10) overflows to Infinity too, but it is not infinite.
  if (!hasSymbol(a, INFINITIES) && !hasSymbol(b, INFINITIES)) return null;
  const va = value(a);
  const vb = value(b);
  const infinite = (v: number) => v === Infinity || v === -Infinity;
  return infinite(va) && va === vb;
}

/** Equality by evaluation: at constants directly, with variables at seeded random points. */
function numericEqual(a: MathJson, b: MathJson, vars: string[], functions: ReadonlySet<string>): Verdict {
  const evalAt = (scope: Map<string, number>) => {
    try {
      return [asFiniteComplex(evaluate(a, scope, functions)), asFiniteComplex(evaluate(b, scope, functions))] as const;
    } catch (err) {
      if (err instanceof Unsupported) return null;
      return [null, null] as const; // a math error at this point (e.g. mathjs domain error): try another
    }
  };
  if (vars.length === 0) {
    const inf = sameInfinity(a, b);
    if (inf !== null) return inf;
    const r = evalAt(new Map());
    if (r === null) return 'inconclusive';
    const [va, vb] = r;
    if (!va || !vb) return 'inconclusive';
    // Integer values compare exactly, as plain integers do (see numbersEqual).
    if (va.im === 0 && vb.im === 0 && Number.isSafeInteger(va.re) && Number.isSafeInteger(vb.re)) return va.re === vb.re;
    if (closeComplex(va, vb, 0)) return true;
    // Both within rounding noise of 0 (sin π against 0): floats cannot tell; let the CAS decide.
    return Math.max(Math.hypot(va.re, va.im), Math.hypot(vb.re, vb.im)) < 1e-12 ? 'inconclusive' : false;
  }
  const integerPoints = hasHead(a, INTEGER_HEADS) || hasHead(b, INTEGER_HEADS);
  const random = uniformStream(0x5713_2a2d); // seeded: grading never depends on Math.random
  let agreed = 0;
  for (let t = 0; t < SAMPLE_TRIES && agreed < SAMPLES_NEEDED; t++) {
    const scope = new Map<string, number>();
    // Positive points keep logs and roots real; integers for floor/factorial answers (defined on ℕ).
    for (const v of vars) scope.set(v, integerPoints ? 2 + Math.floor(random() * 12) : 0.25 + random() * 2.5);
    const r = evalAt(scope);
    if (r === null) return 'inconclusive';
    const [va, vb] = r;
    if (!va || !vb) continue;
    if (!closeComplex(va, vb, 1e-12, FUNCTION_TOL)) return false;
    agreed++;
  }
  return agreed >= 2 ? true : 'inconclusive';
}

/**
 * Whether two LaTeX expressions denote the same value (or the same function of their variables).
 * False when either cannot be parsed, or when `budget` runs out before a check could say "equal".
 * Evaluation comes first because it is cheap and decides nearly every pair (a wrong member of a list is
 * told apart at the first sample point); the Compute Engine simplifies only what evaluation cannot decide.
 */
export function symbolicEqual(predLatex: string, goldLatex: string, budget: WorkBudget): boolean {
  const parseCost = (s: string) => 1 + Math.ceil(s.length * PARSE_STEPS_PER_CHAR);
  if (!budget.spendOnce(predLatex, parseCost(predLatex)) || !budget.spendOnce(goldLatex, parseCost(goldLatex))) return false;
  const a = parseLatex(predLatex);
  const b = parseLatex(goldLatex);
  if (a === null || b === null) return false;
  const functions = functionSymbols([a, b]);
  const vars = [...freeVariables(a, functions, freeVariables(b, functions))].sort();
  const nodes = nodeCount(a) + nodeCount(b);
  // Equal canonical forms settle it without evaluating; boxing costs about what evaluating at one point does.
  if (!budget.spend(nodes * EVAL_STEPS_PER_NODE)) return false;
  if (casEqual(a, b, false)) return true;
  if (!budget.spend(nodes * EVAL_STEPS_PER_NODE * (vars.length === 0 ? 1 : SAMPLE_TRIES))) return false;
  const verdict = numericEqual(a, b, vars, functions);
  if (verdict !== 'inconclusive') return verdict;
  return budget.spend(nodes * SIMPLIFY_STEPS_PER_NODE) && casEqual(a, b, true);
}

/**
 * Initialises the Compute Engine and its simplification rules (about 0.3 s on first use), so that the first
 * real comparison is not the one that pays for it. Optional: verdicts are the same without it.
 */
export function warmUpSymbolic(): void {
  symbolicEqual('\\sin(x)^2+\\cos(x)^2', '1', new WorkBudget(Infinity));
  symbolicEqual('\\sin(\\pi)', '0', new WorkBudget(Infinity));
}
