// One STILL-2 round on an HF checkpoint, written out with still-ts as a library: the template for a script
// of your own. It imitates (SFT on distilled long-thought rows), explores (k rollouts per problem, graded
// against the gold answer, the correct ones refined into a pool), improves (retrains the base on distilled
// + pool, the paper's recipe) and evaluates before and after. `still run --config examples/still2-tiny.json`
// runs the same stages for several rounds, with resume and a report (src/loop/hf/experiment.ts).
//
//   npx tsx examples/still2_round.ts [OUT_DIR]    # the tiny math model on the CPU, about two minutes
import { join } from 'node:path';
import { openBackend } from '../src/backends/select.ts';
import { discardJournal } from '../src/io/journal.ts';
import { runEval } from '../src/eval/run.ts';
import { exploreText, loadExploreData } from '../src/loop/explore_text.ts';
import { stageLog } from '../src/loop/progress.ts';
import { TextPool } from '../src/loop/text_pool.ts';
import { setBackend } from '../src/tensor/context.ts';
import { IMITATE_RECIPE } from '../src/train/sft_recipe.ts';
import { runSft, type SftOptions } from '../src/train/sft_run.ts';

const out = process.argv[2] ?? 'checkpoints/still2-round';
const data = new URL('tiny-math/', import.meta.url).pathname;
const base = join(data, 'model');
setBackend(openBackend('auto')); // CUDA when there is a GPU, else the CPU (with a one-line notice why)
const log = stageLog();

// The tiny model's context is short: problems are asked bare, not behind the paper's 1.8 kB instruction.
const prompt = 'plain';
const train: Partial<SftOptions> = { mode: { kind: 'full' }, epochs: 3, lr: 1e-3, batchSize: 8, gradAccum: 1, warmup: 0.05, still2Template: '', seed: 1 };
const evaluate = async (label: string, model: string) => {
  const { summary } = await runEval({
    model, bench: join(data, 'test.jsonl'), prompt, out: join(out, `eval-${label}`),
    sampling: { maxNewTokens: 180, n: 1, temperature: 0, stop: [], maxBatch: 64 },
  });
  const byLevel = Object.entries(summary.by_level ?? {}).map(([level, s]) => `L${level} ${(100 * s.pass1).toFixed(1)}%`).join(', ');
  log.line(`${label}: greedy accuracy ${byLevel}`);
};

// Imitate: full fine-tuning of the base on the distilled rows (plenty at easy levels, few at the hard one).
const distilled = join(data, 'distilled.jsonl');
await runSft({ ...train, model: base, data: distilled, out: join(out, 'imitate') }, IMITATE_RECIPE, { note: (l) => log.line(`imitate: ${l}`) });
await evaluate('imitate', join(out, 'imitate'));

// Explore: 8 rollouts per hard problem with the imitated model; the grader checks each boxed answer, and
// the correct ones in the long-thought format enter the pool (the shortest per problem).
const problems = loadExploreData(join(data, 'explore.jsonl'), null, 64);
const pool = new TextPool(1, 'shortest');
const journal = join(out, 'explore.jsonl');
const found = await exploreText({
  model: join(out, 'imitate'), problems, prompt, pool, round: 1, journal, log,
  sampling: { k: 8, temperature: 0.7, topP: 1, maxNewTokens: 180, seed: 1, maxBatch: 64 },
});
pool.save(join(out, 'pool.jsonl'));
discardJournal(journal);
log.line(`explore: ${found.correct} of ${found.rollouts} rollouts correct, ${found.solved.toFixed(0)}% of problems solved; pool ${pool.size}`);

// Improve: retrain the base on distilled + pool.
await runSft({ ...train, model: base, data: [distilled, join(out, 'pool.jsonl')], out: join(out, 'improve') }, IMITATE_RECIPE, { note: (l) => log.line(`improve: ${l}`) });
await evaluate('improve', join(out, 'improve'));
