// The STILL loop written out with still-ts as a library: a template for scripts of your own. It follows
// examples/demo.json's recipe, which `still run` executes with resume, an ablation and reports
// (src/loop/experiment.ts): a tiny student imitates a teacher's slow-thinking traces (plenty at the easy
// levels, few at the hard one), then each round explores hard problems, keeps the rollouts whose answers
// check out, and trains on them; greedy accuracy on held-out problems is printed after every round.
//
//   npx tsx examples/still_loop.ts [CONFIG.json]   # demo.json: a few minutes on a 2-core CPU, and the same
//                                                  # accuracies and pool sizes as rounds 0–2 of `npm run demo`
//   npx tsx examples/still_loop.ts --quick         # seconds, tiny sizes: checks the script runs, learns nothing
import { openBackend } from '../src/backends/select.ts';
import type { Example } from '../src/data/example.ts';
import { loadConfig } from '../src/loop/config.ts';
import { drawEvalProblems } from '../src/loop/experiment.ts';
import { Pool } from '../src/loop/pool.ts';
import { ProblemSets } from '../src/loop/problems.ts';
import { stageLog } from '../src/loop/progress.ts';
import { evaluate, explore, imitate, type SampleContext } from '../src/loop/stages.ts';
import { contextFor, newStudent, traceExample } from '../src/loop/toy.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import { getTask } from '../src/tasks/index.ts';
import { Rng } from '../src/tasks/rng.ts';
import type { Problem } from '../src/tasks/task.ts';
import { setBackend } from '../src/tensor/context.ts';

const quick = process.argv.includes('--quick');
const cfg = loadConfig(process.argv.slice(2).find((a) => a.endsWith('.json')) ?? 'examples/demo.json');
const size = (n: number) => (quick ? Math.max(2, Math.round(n / 20)) : n);
const ROUNDS = quick ? 1 : 2; // demo.json runs 3; two show the loop repeating

setBackend(openBackend('auto')); // CUDA when there is a GPU, else the CPU (with a one-line notice why)
const task = getTask(cfg.task);
const log = stageLog();
const { levels, seed } = cfg;

// Teacher traces: step-by-step thoughts, a self-check, and in some traces a slip caught with "Wait, …".
const teacher = new Rng(`teacher/${seed}`);
const teach = (problems: Problem[], tag: string): Example[] => problems.map((p) =>
  traceExample(p, task.teacher(p, teacher.fork(p.id), { reflectionRate: cfg.imitate.reflectionRate, stepStyle: cfg.imitate.stepStyle }), `${tag}:${p.id}`));

// Disjoint problem sets, drawn in `still run`'s order (so the numbers match its rounds): no problem the
// teacher solved is explored, and none is ever evaluated on.
const sets = new ProblemSets(task, seed);
const heldOut = drawEvalProblems(sets, { // eval.problemsPerLevel a level, eval.hardProblems at the hardest
  ...cfg, eval: { ...cfg.eval, problemsPerLevel: size(cfg.eval.problemsPerLevel), hardProblems: size(cfg.eval.hardProblems ?? cfg.eval.problemsPerLevel) },
});
const bulk = teach(sets.drawTotal('distill', levels.distill, size(cfg.imitate.examples)), 'distill');
const scarce = teach(sets.drawTotal('distill-scarce', levels.scarce, size(cfg.imitate.scarceExamples)), 'distill-scarce');
const toExplore = Array.from({ length: ROUNDS }, (_, r) => sets.draw(`explore-${r + 1}`, levels.explore, size(cfg.explore.problemsPerLevel)));

const maxLen = contextFor(task, [...levels.eval, ...levels.explore, ...levels.distill], seed, cfg.imitate.stepStyle);
const ctx: SampleContext = { seed, maxBatch: cfg.maxBatch, maxLen, log };
const epochs = (e: number) => (quick ? 0.5 : e);
const report = (label: string, model: DecoderModel) => {
  const scores = evaluate(model, task, heldOut, { ...cfg.eval, k: 1 }, ctx).levels; // greedy only
  log.line(`${label}: held-out greedy accuracy ${scores.map((l) => `L${l.level} ${l.greedy.toFixed(1)}%`).join(', ')}`);
};

// Imitate: SFT of a fresh student on the distilled traces.
const student = newStudent(cfg.model, maxLen, seed);
await imitate(student, [...bulk, ...scarce], { ...cfg.imitate, epochs: epochs(cfg.imitate.epochs) }, seed, 'imitate', log);
report('round 0 (imitate)', student);

const pool = new Pool(cfg.explore.capPerProblem);
for (let r = 1; r <= ROUNDS; r++) {
  // Explore: k rollouts per hard problem; the task checks each boxed answer, and the correct ones (the
  // shortest per problem) enter the pool.
  const found = explore(student, task, toExplore[r - 1]!, cfg.explore, pool, r, ctx);
  log.line(`round ${r}: ${found.correct} of ${found.rollouts} rollouts correct; the pool holds ${pool.size} trajectories`);
  // Self-improve: keep training on the pool, the scarce traces and a replayed sample of the easy ones.
  const fromPool = pool.all().map((t, i) => traceExample({ id: t.problemId, task: task.name, level: t.level, question: t.question, answer: '' }, t.completion, `pool:${i}`));
  const n = cfg.improve.replay;
  const replay = n === null || n >= bulk.length ? bulk : new Rng(`${seed}/replay/${r}`).shuffled(bulk).slice(0, n);
  await imitate(student, [...replay, ...scarce, ...fromPool], { ...cfg.improve, epochs: epochs(cfg.improve.epochs) }, seed + r, `improve (round ${r})`, log);
  report(`round ${r} (explore + improve)`, student);
}
