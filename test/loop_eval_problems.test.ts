// The toy loop's held-out problems: eval.hardProblems puts more of them at the hardest level, where the
// headline number is read, and leaves the other levels and older configs as they were.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loop/config.ts';
import { drawEvalProblems } from '../src/loop/experiment.ts';
import { ProblemSets } from '../src/loop/problems.ts';
import { getTask } from '../src/tasks/index.ts';

const BASE = {
  name: 'n', seed: 4, task: 'addition', model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
  levels: { distill: [1, 2], scarce: [3], explore: [3], eval: [2, 3, 4] },
  imitate: { examples: 40, scarceExamples: 4, epochs: 1, lr: 0.003, batchSize: 8 },
  improve: { rounds: 1, epochs: 1, lr: 0.002, batchSize: 8 },
  eval: { problemsPerLevel: 12 },
};

function counts(json: object): Record<number, number> {
  const cfg = parseConfig(json, 'n.json');
  const problems = drawEvalProblems(new ProblemSets(getTask('addition'), cfg.seed), cfg);
  const out: Record<number, number> = {};
  for (const p of problems) out[p.level] = (out[p.level] ?? 0) + 1;
  return out;
}

describe('eval.hardProblems', () => {
  it('draws that many problems at the hardest eval level and problemsPerLevel at the others', () => {
    expect(counts({ ...BASE, eval: { problemsPerLevel: 12, hardProblems: 50 } })).toEqual({ 2: 12, 3: 12, 4: 50 });
  });

  it('defaults to problemsPerLevel and is absent from the parsed config unless set (older run folders match)', () => {
    expect(counts(BASE)).toEqual({ 2: 12, 3: 12, 4: 12 });
    expect('hardProblems' in parseConfig(BASE, 'n.json').eval).toBe(false);
  });

  it('keeps the first problems of the hard level: a larger set extends the smaller one', () => {
    const draw = (hard: number) => {
      const cfg = parseConfig({ ...BASE, eval: { problemsPerLevel: 12, hardProblems: hard } }, 'n.json');
      return drawEvalProblems(new ProblemSets(getTask('addition'), cfg.seed), cfg).filter((p) => p.level === 4).map((p) => p.id);
    };
    expect(draw(60).slice(0, 20)).toEqual(draw(20));
  });

  it('is checked like every other field', () => {
    expect(() => parseConfig({ ...BASE, eval: { hardProblems: 0 } }, 'n.json')).toThrow(/eval\.hardProblems/);
  });
});
