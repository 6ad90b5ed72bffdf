// Near-miss wrong answers built from every gold of the shipped eval sets: a gold's digits inside a wrong
// expression or glued into a word, a wrong or missing member of a list, a tuple with two entries swapped,
// an interval with a bracket flipped. The grader must accept none of them (issue 13: no false accept), and
// must still accept the gold itself written the way a model writes it, so the set is not rejected wholesale.
import { beforeAll, describe, expect, it } from 'vitest';
import { EVAL_SETS, loadEvalSet, type EvalSetName } from '../src/verify/gold.ts';
import { grade } from '../src/verify/grade.ts';
import { parsePlainNumber } from '../src/verify/numeric.ts';
import { normalizeAnswer } from '../src/verify/normalize.ts';
import { shapeOf } from '../src/verify/structure.ts';

interface NearMiss { set: EvalSetName; gold: string; output: string; kind: string }

/** Wrong outputs for a number gold: its digits inside a larger expression or a word. */
function numberMisses(g: string, v: number): [string, string][] {
  const out: [string, string][] = [
    ['digits in a fraction', `The ratio is $\\frac{1+\\sqrt{5}}{${g}}$.`],
    ['digits in a word', `The code is AZYUK${g}A`],
    ['digits as a subscript', `so we need $x_{${g}}$`],
  ];
  // Within the relative tolerance of 1e-4 a changed last digit of a decimal, or 1e33 + 1, is a rounding.
  if (Math.abs(v) < 1e4) out.push(['digits plus one', `Hence \\boxed{${g}+1}`]);
  if (Number.isInteger(v)) out.push(['digits with a digit appended', `\\boxed{${g}1}`]);
  if (v !== 0 && v !== 1 && v !== -1) out.push(['digits as a power', `it grows like $(${g})^{2}$`], ['digits under a root', `\\boxed{\\sqrt{${g}}}`]);
  if (v !== 0) out.push(['digits times pi', `\\boxed{${g}\\pi}`], ['negated', `\\boxed{-${g}}`], ['digits in a sum', `we get ${g} + 4 = x`]);
  return out;
}

/** Wrong outputs for a list, tuple or interval gold. */
function structureMisses(gold: string, normal: string): [string, string][] {
  const shape = shapeOf(normal);
  const out: [string, string][] = [];
  if (shape.kind === 'tuple' && shape.items.length >= 2) {
    const [a, b] = shape.items as [string, string];
    if (a !== b) out.push(['tuple swapped', `\\boxed{${shape.open}${[b, a, ...shape.items.slice(2)].join(',')}${shape.close}}`]);
    if (shape.items.length === 2 && (shape.open === '(' || shape.close === ')')) {
      const flipped = `${shape.open === '(' ? '[' : '('}${a},${b}${shape.close}`;
      out.push(['interval bracket flipped', `\\boxed{${flipped}}`]);
    }
  }
  if (shape.kind === 'list' || shape.kind === 'set') {
    const items = shape.items;
    out.push(['member missing', `\\boxed{${items.slice(1).join(', ')}}`]);
    out.push(['member changed', `\\boxed{${[...items.slice(0, -1), `${items[items.length - 1]}+1`].join(', ')}}`]);
    out.push(['members in separate boxes, one wrong', `${items.slice(0, -1).map((i) => `$\\boxed{${i}}$`).join(' and ')} and $\\boxed{${items[items.length - 1]}+7}$`]);
  }
  return out;
}

function nearMisses(): NearMiss[] {
  const misses: NearMiss[] = [];
  for (const set of EVAL_SETS) {
    const skipUnits = set === 'minerva';
    for (const { gold } of loadEvalSet(set).items) {
      const normal = normalizeAnswer(gold, { skipUnits });
      const v = parsePlainNumber(normal);
      const found = v !== null && Number.isFinite(v) ? numberMisses(normal, v) : structureMisses(gold, normal);
      for (const [kind, output] of found) misses.push({ set, gold, output, kind });
    }
  }
  return misses;
}

describe('near-miss wrong answers built from every shipped gold', () => {
  let misses: NearMiss[];
  beforeAll(() => { misses = nearMisses(); });

  it('covers every kind of near miss, thousands of cases', () => {
    const kinds = new Set(misses.map((m) => m.kind));
    expect(misses.length).toBeGreaterThan(10_000);
    for (const k of ['digits in a fraction', 'digits in a word', 'tuple swapped', 'interval bracket flipped', 'member missing', 'member changed', 'members in separate boxes, one wrong']) {
      expect(kinds, k).toContain(k);
    }
  });

  it('accepts none of them', () => {
    const accepted = misses.filter((m) => grade(m.output, m.gold, m.set).correct).map((m) => `${m.set} ${m.kind}: ${m.output} → ${m.gold}`);
    expect(accepted).toEqual([]);
  });

  it('accepts the golds themselves written as a model writes them (the set is not rejected wholesale)', () => {
    const golds = new Map(misses.map((m) => [`${m.set}\u0000${m.gold}`, m] as const));
    const rejected = [...golds.values()]
      .filter((m) => !grade(`So the final answer is $\\boxed{${m.gold}}$.`, m.gold, m.set).correct)
      .map((m) => `${m.set}: ${m.gold}`);
    expect(golds.size).toBeGreaterThan(1000);
    expect(rejected).toEqual([]);
  });
});
