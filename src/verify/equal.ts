// Answer equivalence on normalised strings: exact text, plain numbers, structure (tuples, intervals,
// sets, lists, matrices), equations, then symbolic/numeric equality of expressions.
//
// Follows the Qwen2.5-Math grader's math_equal (data/eval/PROVENANCE.md) with deliberate changes:
// interval and tuple brackets must match ("(3,4]" ≠ "(3,4)"); a bare comma list or a set is compared as
// a multiset ("3,5,7" = "7,5,3"), since MATH asks for "all solutions, separated by commas"; a labelled
// answer ("k = 1/3", "(p,q) = (3,2)", "S_1:S_2 = 7:32") equals its bare value; an inequality equals the
// interval it describes; and a multiple-choice letter equals "(C)", "C)" or "(C) 42".

import type { WorkBudget } from './budget.ts';
import { inequalityInterval, inequalityUnion } from './inequality.ts';
import { numbersEqual, parsePlainNumber } from './numeric.ts';
import { shapeOf, splitTopLevel, type AnswerShape } from './structure.ts';
import { symbolicEqual } from './symbolic.ts';
import { normalizeAnswer } from './normalize.ts';

export interface CompareContext {
  /** Allow a factor of 100 between plain numbers (percent leniency). */
  percent: boolean;
  /** The steps this comparison may still spend; once spent, every further check says "different". */
  budget: WorkBudget;
  /** Keep unit words when re-normalising parts (Minerva). */
  skipUnits: boolean;
}

const MAX_DEPTH = 6;
/** Lists longer than this are compared in order only (multiset matching is quadratic). */
const MAX_UNORDERED_ITEMS = 24;

const THOUSANDS = /^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$/;

// A name: x, y_1, m_{\max}, x', AB (a segment), ABC, \alpha, \angle ABC.
const NAME = String.raw`(?:\\angle\s?)?(?:[a-zA-Z]{1,3}|\\[a-zA-Z]+)(?:_[0-9a-zA-Z]|_\{[^{}]*\})?'?`;
// Left-hand sides that just name the answer: a name, f(x), N(n), a tuple of names (p,q), a ratio S_1:S_2.
const SIMPLE_LHS = new RegExp(`^(?:${NAME}(?:\\([a-zA-Z]\\))?|\\(${NAME}(?:,${NAME})+\\)|${NAME}(?::${NAME})+)$`);

// A multiple-choice letter, and a prediction that starts with one and then only names the option's content:
// "(C)", "C)", "C.", "(C)42", "C:\frac{1}{2}" (normalised, so without spaces), but not "(C)+1".
const CHOICE = /^[A-J]$/;
const CHOICE_PREFIX = /^(?:\(([A-J])\)|([A-J])[.:)])(?![+\-*/^=_])/;
// "0,5", "0,111" or "3{,}14": a decimal comma. After 1–999, a comma before exactly three digits is a
// thousands separator instead (1,500).
const DECIMAL_COMMA = /^([+-]?\d+)(?:,|\{,\})(\d+)$/;

/** An English word (three letters or more outside LaTeX commands) marks a text answer: no algebra on it. */
function isTextual(s: string): boolean {
  return /[A-Za-z]{3,}/.test(s.replace(/\\[a-zA-Z]+/g, ' '));
}

function lower(s: string): string {
  return s.toLowerCase();
}

/** Equality of two normalised answers. */
export function equalNormalized(pred: string, gold: string, ctx: CompareContext, depth = 0): boolean {
  let p = pred.trim();
  let g = gold.trim();
  if (lower(p) === lower(g)) return true;
  if (p.length === 0 || g.length === 0) return false;
  if (THOUSANDS.test(p)) p = p.replace(/,/g, '');
  if (THOUSANDS.test(g)) g = g.replace(/,/g, '');
  // Two plain numbers settle it numerically, with nothing further (as in the Qwen grader).
  let pv = parsePlainNumber(p);
  let gv = parsePlainNumber(g);
  if (pv !== null && gv !== null) return numbersEqual(pv, gv, ctx.percent);
  // A decimal comma against a decimal number: "0,5" for 0.5.
  if (gv !== null && pv === null) pv = decimalComma(p);
  if (pv !== null && gv === null) gv = decimalComma(g);
  if (pv !== null && gv !== null) return numbersEqual(pv, gv, ctx.percent);
  if (depth >= MAX_DEPTH || !ctx.budget.spend(1)) return false;

  // A number written in base b ("52_8"): the digits alone are an acceptable answer.
  const base = /^(\d+)_(?:\d+|\{\d+\})$/.exec(g);
  if (base && /^\d+$/.test(p)) return p === base[1];

  const choice = CHOICE.test(g) ? CHOICE_PREFIX.exec(p) : null;
  if (choice) return (choice[1] ?? choice[2]) === g;

  // "k = 1/3" against "1/3" (either way round): compare the value.
  const pl = labelled(p, true);
  const gl = labelled(g, false);
  if (pl && !gl) return equalParts(pl.value, g, ctx, depth);
  if (gl && !pl) return equalParts(p, gl.value, ctx, depth);
  // "x=5+5+1=11" against "x=11": the same name, so compare the values.
  if (pl && gl && lower(pl.label) === lower(gl.label)) return equalParts(pl.value, gl.value, ctx, depth);

  const ps = shapeOf(p);
  const gs = shapeOf(g);
  // An inequality against an interval or a union of them: compare the intervals it describes.
  const pi = intervalsOf(ps);
  const gi = intervalsOf(gs);
  if (pi && gi && (pi.fromInequality || gi.fromInequality)) return equalIntervals(pi.intervals, gi.intervals, ctx, depth);

  if (ps.kind !== 'atom' || gs.kind !== 'atom') return equalShapes(ps, gs, ctx, depth);
  return equalAtoms(ps.text, gs.text, ctx, depth);
}

function decimalComma(s: string): number | null {
  const m = DECIMAL_COMMA.exec(s);
  if (!m || (m[2]!.length === 3 && !/^[+-]?0$/.test(m[1]!))) return null;
  return Number(`${m[1]}.${m[2]}`);
}

/**
 * The value of "label = value" when the label only names the answer (SIMPLE_LHS), or with `computations`
 * (a prediction) the result a computation ends in ("2+2=4", "x=5+5+1=11": the last side), else null. A
 * gold "7 = 11a+c" is an equation, not the value 11a+c.
 */
function labelled(s: string, computations: boolean): { label: string; value: string } | null {
  // "AB=4,CD=5" is a list of labelled values, compared item by item, not one chain.
  if (splitTopLevel(s, ',').length > 1) return null;
  const sides = splitTopLevel(s, '=').map((x) => x.trim());
  if (sides.length < 2 || sides.some((x) => x.length === 0)) return null;
  const lhs = sides[0]!;
  const computation = computations && /[+\-*/^]|\\(?:times|cdot|div|frac)/.test(lhs)
    && !/[a-zA-Z]/.test(lhs.replace(/\\[a-zA-Z]+/g, ''));
  return SIMPLE_LHS.test(lhs) || computation ? { label: lhs, value: sides[sides.length - 1]! } : null;
}

/** The intervals an answer denotes: an interval, a union, an inequality, or a list of inequalities. */
function intervalsOf(shape: AnswerShape): { intervals: string[]; fromInequality: boolean } | null {
  if (shape.kind === 'atom') {
    const i = inequalityInterval(shape.text);
    return i ? { intervals: [i], fromInequality: true } : null;
  }
  if (shape.kind === 'list') {
    const u = inequalityUnion(shape.items);
    return u ? { intervals: u, fromInequality: true } : null;
  }
  if (shape.kind === 'tuple' && shape.items.length === 2) {
    return { intervals: [`${shape.open}${shape.items.join(',')}${shape.close}`], fromInequality: false };
  }
  if (shape.kind === 'union') return { intervals: shape.parts, fromInequality: false };
  return null;
}

function equalIntervals(a: string[], b: string[], ctx: CompareContext, depth: number): boolean {
  if (a.length === 1 && b.length === 1) return equalParts(a[0]!, b[0]!, ctx, depth);
  return equalUnordered(a, b, ctx, depth);
}

/** Re-normalise a part cut out of a larger answer (it may now start with "x=" or carry brackets). */
function part(s: string, ctx: CompareContext): string {
  return normalizeAnswer(s, { skipUnits: ctx.skipUnits });
}

function equalParts(a: string, b: string, ctx: CompareContext, depth: number): boolean {
  return equalNormalized(part(a, ctx), part(b, ctx), ctx, depth + 1);
}

function equalOrdered(a: string[], b: string[], ctx: CompareContext, depth: number): boolean {
  return a.length === b.length && a.every((x, i) => equalParts(x, b[i]!, ctx, depth));
}

/** Multiset equality: every item of `a` pairs with a distinct equal item of `b`. */
function equalUnordered(a: string[], b: string[], ctx: CompareContext, depth: number): boolean {
  if (a.length !== b.length) return false;
  if (equalOrdered(a, b, ctx, depth)) return true;
  if (a.length > MAX_UNORDERED_ITEMS) return false;
  const used = new Array<boolean>(b.length).fill(false);
  for (const x of a) {
    const j = b.findIndex((y, k) => !used[k] && equalParts(x, y, ctx, depth));
    if (j < 0) return false;
    used[j] = true;
  }
  return true;
}

/** A matrix with one row or one column, as a flat list of its cells. */
function vectorCells(shape: AnswerShape): string[] | null {
  if (shape.kind !== 'matrix') return null;
  if (shape.rows.every((r) => r.length === 1)) return shape.rows.map((r) => r[0]!);
  if (shape.rows.length === 1) return shape.rows[0]!;
  return null;
}

function equalShapes(ps: AnswerShape, gs: AnswerShape, ctx: CompareContext, depth: number): boolean {
  if (ps.kind === 'matrix' && gs.kind === 'matrix') {
    return ps.rows.length === gs.rows.length && ps.rows.every((row, i) => equalOrdered(row, gs.rows[i]!, ctx, depth));
  }
  // A column vector written as a tuple: (1,2,3) for \begin{pmatrix}1\\2\\3\end{pmatrix}.
  const pv = vectorCells(ps);
  const gv = vectorCells(gs);
  if (pv && gs.kind === 'tuple' && gs.open === '(' && gs.close === ')') return equalOrdered(pv, gs.items, ctx, depth);
  if (gv && ps.kind === 'tuple' && ps.open === '(' && ps.close === ')') return equalOrdered(ps.items, gv, ctx, depth);
  if (ps.kind === 'union' && gs.kind === 'union') return equalUnordered(ps.parts, gs.parts, ctx, depth);
  if (ps.kind === 'tuple' && gs.kind === 'tuple') {
    return ps.open === gs.open && ps.close === gs.close && equalOrdered(ps.items, gs.items, ctx, depth);
  }
  const unordered = (s: AnswerShape) => (s.kind === 'list' || s.kind === 'set' ? s.items : null);
  const pu = unordered(ps);
  const gu = unordered(gs);
  if (pu && gu) return equalUnordered(pu, gu, ctx, depth);
  // One value that the prediction writes in several forms ("\boxed{15\frac{39}{40}} or \boxed{\frac{639}{40}}"):
  // every form equals the gold. Repeats of one form are not forms (a gold "-2" is not "-2, -2"), and a gold
  // list is always a list.
  if (pu && gs.kind === 'atom' && new Set(pu).size === pu.length) return pu.every((x) => equalParts(x, gs.text, ctx, depth));
  // "2,4" for the point "(2,4)": the Qwen grader drops the parentheses and accepts it, in order.
  if (pu && ps.kind === 'list' && gs.kind === 'tuple' && gs.open === '(' && gs.close === ')') {
    return equalOrdered(pu, gs.items, ctx, depth);
  }
  if (gu && gs.kind === 'list' && ps.kind === 'tuple' && ps.open === '(' && ps.close === ')') {
    return equalOrdered(ps.items, gu, ctx, depth);
  }
  return false;
}

/** Splits "lhs=rhs" at its only top-level "=", or null. */
function equation(s: string): { lhs: string; rhs: string } | null {
  const sides = splitTopLevel(s, '=');
  if (sides.length !== 2) return null;
  const [lhs, rhs] = [sides[0]!.trim(), sides[1]!.trim()];
  if (lhs.length === 0 || rhs.length === 0) return null;
  return { lhs, rhs };
}

function equalAtoms(p: string, g: string, ctx: CompareContext, depth: number): boolean {
  const pe = equation(p);
  const ge = equation(g);
  if (pe && ge) {
    if (lower(pe.lhs) === lower(ge.lhs)) return equalParts(pe.rhs, ge.rhs, ctx, depth);
    if (isTextual(p) || isTextual(g)) return false;
    // The same equation rearranged: lhs − rhs agrees up to sign.
    const pd = `${pe.lhs}-(${pe.rhs})`;
    const gd = `${ge.lhs}-(${ge.rhs})`;
    return symbolicEqual(pd, gd, ctx.budget) || symbolicEqual(`-(${pd})`, gd, ctx.budget);
  }
  // An equation against a value (a labelled one was settled in equalNormalized): different.
  if (pe || ge) return false;
  if (isTextual(p) || isTextual(g)) return false;
  return symbolicEqual(p, g, ctx.budget);
}
