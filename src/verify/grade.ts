// The grader's public entry points: gradeAnswer (two answers) and grade (a model output against a gold answer).
//
// Synchronous and cheap on the common path, because the training loop grades every rollout: identical
// strings and plain numbers are settled before any normalisation or parsing, and gold answers are
// normalised once and cached.

import { WorkBudget } from './budget.ts';
import { equalNormalized, type CompareContext } from './equal.ts';
import { boxedAnswer, extractAnswer } from './extract.ts';
import { mentionsPercent, normalizeAnswer } from './normalize.ts';
import { numbersEqual, parsePlainNumber } from './numeric.ts';
import { warmUpSymbolic } from './symbolic.ts';

/**
 * Sets where the Qwen grader's percent leniency (x ≡ 100x) is off unless an answer mentions a percent:
 * integer-answer contests, where 2500 is never a rewriting of 25, and Minerva's physical quantities, where
 * 1e-3 and 1e-5 are different answers. MATH-500, OlympiadBench and unnamed sets keep the leniency.
 */
const NO_PERCENT_LENIENCY_SETS = new Set(['aime24', 'aime25', 'amc23', 'gsm8k', 'minerva', 'minerva_math']);
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
  return compareAnswers(pred, gold, dataset, true);
}

/**
 * gradeAnswer without its identical-strings shortcut: the full normalise-and-compare path, for tests and
 * benchmarks that must exercise it with a gold against itself.
 */
export function gradeAnswerWithoutShortcut(pred: string, gold: string, dataset?: string): boolean {
  return compareAnswers(pred, gold, dataset, false);
}

function compareAnswers(pred: string, gold: string, dataset: string | undefined, shortcut: boolean): boolean {
  const p = pred.trim();
  const g = gold.trim();
  if (p.length === 0 || g.length === 0) return false;
  if (shortcut && p === g) return true;
  const strict = dataset !== undefined && NO_PERCENT_LENIENCY_SETS.has(dataset);
  const percent = !strict || mentionsPercent(p) || mentionsPercent(g);
  // Fast path: "025" vs "25", "27.0" vs "27".
  const pv = parsePlainNumber(p);
  const gv = parsePlainNumber(g);
  if (pv !== null && gv !== null) return numbersEqual(pv, gv, percent);
  const skipUnits = dataset !== undefined && KEEP_UNIT_SETS.has(dataset);
  const ctx: CompareContext = { percent, skipUnits, budget: new WorkBudget() };
  const gn = shortcut ? normalizeGold(g, skipUnits) : normalizeAnswer(g, { skipUnits });
  return equalNormalized(normalizeAnswer(p, { skipUnits }), gn, ctx);
}

/**
 * Grades a model output: extracts its final answer (see extract.ts) and compares it with the gold answer.
 * A gold that still holds a `\boxed{}` (a whole reference solution, or an answer in several boxes) is
 * reduced to its final box or boxes first.
 */
export function grade(outputText: string, goldAnswer: string | number, dataset?: string): GradeResult {
  const goldText = String(goldAnswer);
  const gold = /\\boxed|\\fbox/.test(goldText) ? (boxedAnswer(goldText) ?? goldText) : goldText;
  const pred = extractAnswer(outputText);
  return { correct: pred !== null && gradeAnswer(pred, gold, dataset), pred_answer: pred, gold_answer: gold };
}

/** The math verifier for one eval set, in the shape every task's verifier has. */
export function mathVerifier(dataset?: string): Verifier {
  return (outputText, goldAnswer) => grade(outputText, goldAnswer, dataset);
}

/** Pays the symbolic engine's one-time start-up cost now (call before timing or a tight grading loop). */
export function warmUpGrader(): void {
  warmUpSymbolic();
}

/**
 * A Verifier from an answer check (a synthetic task's exact-integer or Countdown-expression check): the
 * same extraction and result shape as the math grader, so the loop treats every task alike.
 */
export function verifierFromCheck(check: (predAnswer: string, goldAnswer: string) => boolean): Verifier {
  return (outputText, goldAnswer) => {
    const pred = extractAnswer(outputText);
    return { correct: pred !== null && check(pred, goldAnswer), pred_answer: pred, gold_answer: goldAnswer };
  };
}
