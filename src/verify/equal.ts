// Answer equivalence on normalised strings: exact text, plain numbers, structure (tuples, intervals,
// sets, lists, matrices), equations, then symbolic/numeric equality of expressions.
//
// Follows the Qwen2.5-Math grader's math_equal (data/eval/PROVENANCE.md) with two deliberate changes:
// interval and tuple brackets must match ("(3,4]" ≠ "(3,4)"), and a bare comma list or a set is
// compared as a multiset ("3,5,7" = "7,5,3"), since MATH asks for "all solutions, separated by commas".

import { numbersEqual, parsePlainNumber } from './numeric.ts';
import { shapeOf, splitTopLevel, type AnswerShape } from './structure.ts';
import { symbolicEqual } from './symbolic.ts';
import { normalizeAnswer } from './normalize.ts';

export interface CompareContext {
  /** Allow a factor of 100 between plain numbers (percent leniency). */
  percent: boolean;
  /** performance.now() time after which expensive steps give up (the answer counts as different). */
  deadline: number;
  /** Keep unit words when re-normalising parts (Minerva). */
  skipUnits: boolean;
}

const MAX_DEPTH = 6;
/** Lists longer than this are compared in order only (multiset matching is quadratic). */
const MAX_UNORDERED_ITEMS = 24;

const THOUSANDS = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;

// Left-hand sides that just name the answer: x, y_1, m_{\max}, ab, f(x), N(n).
const SIMPLE_LHS = /^(?:[a-zA-Z](?:_[0-9a-zA-Z]|_\{[^{}]*\})?|[a-zA-Z]{2}|[a-zA-Z](?:_[0-9a-zA-Z]|_\{[^{}]*\})?\([a-zA-Z]\))$/;

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
  const pv = parsePlainNumber(p);
  const gv = parsePlainNumber(g);
  if (pv !== null && gv !== null) return numbersEqual(pv, gv, ctx.percent);
  if (depth >= MAX_DEPTH || performance.now() > ctx.deadline) return false;

  // A number written in base b ("52_8"): the digits alone are an acceptable answer.
  const base = /^(\d+)_(?:\d+|\{\d+\})$/.exec(g);
  if (base && /^\d+$/.test(p)) return p === base[1];

  const ps = shapeOf(p);
  const gs = shapeOf(g);
  if (ps.kind !== 'atom' || gs.kind !== 'atom') return equalShapes(ps, gs, ctx, depth);
  return equalAtoms(ps.text, gs.text, ctx, depth);
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
    return symbolicEqual(pd, gd, ctx.deadline) || symbolicEqual(`-(${pd})`, gd, ctx.deadline);
  }
  // "x=5" against "5" (either way round): compare the value.
  if (pe && !ge && SIMPLE_LHS.test(pe.lhs)) return equalParts(pe.rhs, g, ctx, depth);
  if (ge && !pe && SIMPLE_LHS.test(ge.lhs)) return equalParts(p, ge.rhs, ctx, depth);
  if (pe || ge) return false;
  if (isTextual(p) || isTextual(g)) return false;
  return symbolicEqual(p, g, ctx.deadline);
}
