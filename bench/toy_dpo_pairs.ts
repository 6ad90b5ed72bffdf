// Preference pairs from a toy model's own rollouts, for `still dpo` measurements: k rollouts per fresh
// problem at the config's explore levels (drawn apart from its eval problems), paired per problem as the
// loop pairs them (loop/dpo_stage.ts: correct vs incorrect, by RULE), written as token rows.
//
//   npx tsx bench/toy_dpo_pairs.ts CONFIG.json MODEL_DIR PROBLEMS_PER_LEVEL PAIRS_PER_PROBLEM OUT.jsonl [STREAM] [RULE] [TEMPERATURE]
//
// STREAM (default dpo-pairs) names the problem stream: another name draws other problems. RULE: perplexity
// (default), confident, random or shortest (loop/pairs.ts). TEMPERATURE (default the config's explore
// temperature) samples the rollouts.
import { writeFileSync } from 'node:fs';
import { loadConfig } from '../src/loop/config.ts';
import { drawEvalProblems } from '../src/loop/experiment.ts';
import { toyPairRows } from '../src/loop/dpo_stage.ts';
import { pairRule } from '../src/loop/pairs.ts';
import { ProblemSets } from '../src/loop/problems.ts';
import { sampleRollouts } from '../src/loop/rollouts.ts';
import { contextFor } from '../src/loop/toy.ts';
import { loadModel } from '../src/nn/load.ts';
import { getTask } from '../src/tasks/index.ts';

const [configFile, modelDir, perLevel, perProblem, out, stream = 'dpo-pairs', rule = 'perplexity', temperature] = process.argv.slice(2);
if (!out) throw new Error('usage: npx tsx bench/toy_dpo_pairs.ts CONFIG.json MODEL_DIR PROBLEMS_PER_LEVEL PAIRS_PER_PROBLEM OUT.jsonl');
const cfg = loadConfig(configFile);
const task = getTask(cfg.task);
const maxLen = contextFor(task, [...cfg.levels.eval, ...cfg.levels.explore, ...cfg.levels.distill], cfg.seed, cfg.imitate.stepStyle);
const sets = new ProblemSets(task, cfg.seed);
drawEvalProblems(sets, cfg); // drawn first, so the pair problems stay apart from them
const problems = sets.draw(stream, cfg.levels.explore, Number(perLevel));
const started = performance.now();
const sampling = temperature === undefined ? cfg.explore : { ...cfg.explore, temperature: Number(temperature) };
if (!(sampling.temperature >= 0)) throw new Error(`TEMPERATURE must be a number ≥ 0, got '${temperature}'`);
const { rollouts } = sampleRollouts(loadModel(modelDir, { quiet: true }), task, problems, sampling, { seed: cfg.seed + 7000 + stream.length, maxBatch: cfg.maxBatch, maxLen });
const { rows, mixed } = toyPairRows(rollouts, { pairs: pairRule(rule), pairsPerProblem: Number(perProblem) }, cfg.seed);
writeFileSync(out, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
process.stdout.write(`${JSON.stringify({ problems: problems.length, rollouts: rollouts.length, correct: rollouts.filter((r) => r.correct).length, mixed, pairs: rows.length, seconds: (performance.now() - started) / 1000 })}\n`);
