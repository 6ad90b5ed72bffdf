// Greedy held-out accuracy of toy model directories on a toy config's eval problems (the same problems
// `still run` evaluates a round on), to compare an SFT round with `still dpo` runs trained from it.
//
//   npx tsx bench/toy_dpo_eval.ts CONFIG.json RUN/round-1/sft RUN/round-1/dpo other/dpo ...
//
// Prints one JSON line per model: greedy accuracy (%) by level. Measured numbers are in bench/NOTES.md.
import { loadConfig } from '../src/loop/config.ts';
import { drawEvalProblems } from '../src/loop/experiment.ts';
import { ProblemSets } from '../src/loop/problems.ts';
import { stageLog } from '../src/loop/progress.ts';
import { evaluate } from '../src/loop/stages.ts';
import { contextFor } from '../src/loop/toy.ts';
import { loadModel } from '../src/nn/load.ts';
import { getTask } from '../src/tasks/index.ts';

const [configFile, ...models] = process.argv.slice(2);
if (!configFile || models.length === 0) throw new Error('usage: npx tsx bench/toy_dpo_eval.ts CONFIG.json MODEL_DIR...');
const cfg = loadConfig(configFile);
const task = getTask(cfg.task);
const maxLen = contextFor(task, [...cfg.levels.eval, ...cfg.levels.explore, ...cfg.levels.distill], cfg.seed, cfg.imitate.stepStyle);
const problems = drawEvalProblems(new ProblemSets(task, cfg.seed), cfg);
for (const dir of models) {
  const e = evaluate(loadModel(dir, { quiet: true }), task, problems, { ...cfg.eval, k: 1 }, { seed: cfg.seed, maxBatch: cfg.maxBatch, maxLen, log: stageLog(true) });
  process.stdout.write(`${JSON.stringify({ model: dir, greedy: Object.fromEntries(e.levels.map((l) => [l.level, l.greedy])) })}\n`);
}
