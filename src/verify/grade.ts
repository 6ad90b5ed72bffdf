// The grader's public entry points: gradeAnswer (two answers) and grade (a model output against a gold answer).
//
// Synchronous and cheap on the common path, because the training loop grades every rollout: identical
// strings and plain numbers are settled before any normalisation or parsing, and gold answers are
// normalised once and cached.

import { equalNormalized, type CompareContext } from './equal.ts';
import { extractAnswer, lastBoxed } from './extract.ts';
import { mentionsPercent, normalizeAnswer } from './normalize.ts';
import { numbersEqual, parsePlainNumber } from './numeric.ts';

/** Time one comparison may spend in symbolic/numeric checks before it counts as "different". */
export const COMPARE_BUDGET_MS = 250;

/** Eval sets whose answers are integers: there a factor of 100 is never a percent rewriting. */
const INTEGER_ANSWER_SETS = new Set(['aime24', 'aime25', 'amc23', 'gsm8k']);
/** Sets whose answers carry physical symbols (m, s, c…) that unit stripping would delete. */
const KEEP_UNIT_SETS = new Set(['minerva', 'minerva_math']);

export interface GradeResult {
  correct: boolean;
  /** The answer extracted from the output, or null when the output has none. */
  pred_answer: string | null;
  gold_answer: string;
}

/** A verifier judges one model output against one gold answer; every task (math or synthetic) has one. */
export type Verifier = (outputText: string, goldAnswer: string) => GradeResult;

const goldCache = new Map<string, string>();
const GOLD_CACHE_LIMIT = 10_000;

function normalizeGold(gold: string, skipUnits: boolean): string {
  const key = `${skipUnits ? 1 : 0}\u0000${gold}`;
  let n = goldCache.get(key);
  if (n === undefined) {
    n = normalizeAnswer(gold, { skipUnits });
    if (goldCache.size >= GOLD_CACHE_LIMIT) goldCache.clear();
    goldCache.set(key, n);
  }
  return n;
}

/** Whether the answer `pred` equals the gold answer `gold` (both bare answers, not whole outputs). */
export function gradeAnswer(pred: string, gold: string, dataset?: string): boolean {
  const p = pred.trim();
  const g = gold.trim();
  if (p === g) return p.length > 0;
  const integerSet = dataset !== undefined && INTEGER_ANSWER_SETS.has(dataset);
  const percent = !integerSet || mentionsPercent(p) || mentionsPercent(g);
  // Fast path: "025" vs "25", "27.0" vs "27".
  const pv = parsePlainNumber(p);
  const gv = parsePlainNumber(g);
  if (pv !== null && gv !== null) return numbersEqual(pv, gv, percent);
  const skipUnits = dataset !== undefined && KEEP_UNIT_SETS.has(dataset);
  const ctx: CompareContext = { percent, skipUnits, deadline: performance.now() + COMPARE_BUDGET_MS };
  return equalNormalized(normalizeAnswer(p, { skipUnits }), normalizeGold(g, skipUnits), ctx);
}

/**
 * Grades a model output: extracts its final answer (see extract.ts) and compares it with the gold answer.
 * A gold that still holds a `\boxed{}` (a whole reference solution) is reduced to its last box first.
 */
export function grade(outputText: string, goldAnswer: string | number, dataset?: string): GradeResult {
  const goldText = String(goldAnswer);
  const gold = /\\boxed|\\fbox/.test(goldText) ? (lastBoxed(goldText) ?? goldText) : goldText;
  const pred = extractAnswer(outputText);
  return { correct: pred !== null && gradeAnswer(pred, gold, dataset), pred_answer: pred, gold_answer: gold };
}

/** The math verifier for one eval set, in the shape every task's verifier has. */
export function mathVerifier(dataset?: string): Verifier {
  return (outputText, goldAnswer) => grade(outputText, goldAnswer, dataset);
}
