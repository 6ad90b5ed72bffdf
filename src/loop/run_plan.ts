// What a toy run (experiment.ts) still has to do, in work units for the run clock (run_clock.ts), and the
// plain sentence each of its stages starts with. Units: sequences trained (a step of batch b trains b; a
// DPO pair is two sequences) and rollouts sampled. What is not known yet is estimated from what the run
// has seen so far (the pool grows by the share of explored problems that earlier rounds added) and
// corrected when the stage starts: a train stage's size is then its trainer's step count.
import type { ExperimentConfig, SamplingConfig } from './config.ts';
import type { PlannedStage } from './run_clock.ts';

/** Sequences an SFT stage trains: whole steps of the batch size (the trainer's ceil(epochs·N / batch)). */
export function trainUnits(epochs: number, examples: number, batchSize: number, steps?: number): number {
  return (steps ?? Math.ceil((epochs * examples) / batchSize)) * batchSize;
}

/** Rollouts a toy evaluation samples: one greedy answer per problem, and k more when pass@k is sampled. */
export function evalUnits(s: SamplingConfig, problems: number): number {
  return problems * (1 + (s.k > 1 && s.temperature > 0 ? s.k : 0));
}

/** Rollouts an explore round samples (greedy exploring draws one per problem). */
export function exploreUnits(s: SamplingConfig, problems: number): number {
  return problems * (s.temperature < 1e-5 ? 1 : s.k);
}

/** Sequences a DPO step trains: each pair is a chosen and a rejected sequence. */
export function dpoUnits(epochs: number, pairs: number, batchSize: number, gradAccum: number): number {
  const micro = batchSize * gradAccum;
  return Math.ceil((epochs * pairs) / micro) * micro * 2;
}

export interface ToyPlanState {
  /** The first round this process runs (earlier ones were finished before: resumed). */
  from: number;
  evalProblems: number;
  /** Problems explored in round r, at index r - 1. */
  exploreProblems: readonly number[];
  /** Bulk and scarce distilled traces, and the large ablation's traces (0: no ablation). */
  bulk: number;
  scarce: number;
  large: number;
  /** The pool now, and the last round whose exploring is done (its additions are in `pool`). */
  pool: number;
  exploredThrough: number;
  /** Pool additions per explored problem in the rounds so far (null before any). */
  addedPerProblem: number | null;
  /** DPO training pairs per explored problem in the rounds so far (null before any). */
  pairsPerProblem: number | null;
  /** Optimizer steps of each finished improve round (index r), for the equal-compute control. */
  improveSteps: readonly (number | undefined)[];
  /** The ablation arms already finished (a resumed run reads them back). */
  largeDone: boolean;
  controlDone: boolean;
}

/** Every stage from round `from` to the ablation arms, sized as far as the run knows them. */
export function toyPlan(cfg: ExperimentConfig, st: ToyPlanState): PlannedStage[] {
  const plan: PlannedStage[] = [];
  const ev = evalUnits(cfg.eval, st.evalProblems);
  const imp = cfg.improve;
  let pool = st.pool;
  const improveUnits: number[] = [];
  for (let r = st.from; r <= imp.rounds; r++) {
    if (r === 0) {
      plan.push({ id: 'round-0/imitate', kind: 'train', units: trainUnits(cfg.imitate.epochs, st.bulk + st.scarce, cfg.imitate.batchSize) });
    } else {
      const problems = st.exploreProblems[r - 1] ?? 0;
      plan.push({ id: `round-${r}/explore`, kind: 'sample', units: exploreUnits(cfg.explore, problems) });
      if (r > st.exploredThrough) pool += Math.round(problems * (st.addedPerProblem ?? 0));
      const base = imp.init === 'base';
      const replay = base || imp.replay === null ? st.bulk : Math.min(imp.replay, st.bulk);
      const recipe = base ? cfg.imitate : imp;
      const units = trainUnits(recipe.epochs, replay + st.scarce + pool, recipe.batchSize);
      improveUnits[r] = units;
      plan.push({ id: `round-${r}/improve`, kind: 'train', units });
      if (imp.method === 'dpo' && imp.dpo) {
        const d = imp.dpo;
        const pairs = problems * (st.pairsPerProblem ?? d.pairsPerProblem * (1 - d.heldOut));
        plan.push({ id: `round-${r}/sft-eval`, kind: 'sample', units: st.evalProblems });
        plan.push({ id: `round-${r}/dpo`, kind: 'train', units: dpoUnits(d.epochs, Math.round(pairs), d.batchSize, d.gradAccum) });
      }
    }
    plan.push({ id: `round-${r}/eval`, kind: 'sample', units: ev });
  }
  if (st.large > 0 && !st.largeDone) {
    plan.push({ id: 'ablation-large/imitate', kind: 'train', units: trainUnits(cfg.imitate.epochs, st.large, cfg.imitate.batchSize) });
    plan.push({ id: 'ablation-large/eval', kind: 'sample', units: ev });
  }
  if (cfg.ablation.equalCompute && imp.init === 'continue' && imp.rounds > 0 && !st.controlDone) {
    for (let r = 1; r <= imp.rounds; r++) {
      const steps = st.improveSteps[r];
      plan.push({ id: `control/round-${r}`, kind: 'train', units: steps !== undefined ? steps * imp.batchSize : improveUnits[r] ?? 0 });
    }
    plan.push({ id: 'control/eval', kind: 'sample', units: ev });
  }
  return plan;
}

// The sentences. Each says what the stage does, in words a class can follow.

const levelList = (levels: readonly number[]) => `level${levels.length > 1 ? 's' : ''} ${levels.join(', ')}`;
const roundOf = (r: number, rounds: number) => (r === 0 ? 'Round 0' : `Round ${r} of ${rounds}`);
const passes = (epochs: number) => `${epochs} pass${epochs === 1 ? '' : 'es'} over them`;

export const toySentences = {
  imitate(cfg: ExperimentConfig, bulk: number, scarce: number): string {
    return `Round 0 · imitating: training a new student from scratch on ${bulk + scarce} teacher traces with worked thoughts ` +
      `(${levelList(cfg.levels.distill)}${scarce > 0 ? `, and only ${scarce} at the hard ${levelList(cfg.levels.scarce)}` : ''}), ${passes(cfg.imitate.epochs)}`;
  },
  evaluate(cfg: ExperimentConfig, round: number, problems: number, who = ''): string {
    const k = cfg.eval.k > 1 && cfg.eval.temperature > 0 ? `, then ${cfg.eval.k} sampled answers each for pass@${cfg.eval.k}` : '';
    return `${who || roundOf(round, cfg.improve.rounds)} · evaluating: answering ${problems} held-out problems (${levelList(cfg.levels.eval)}) with its best guess${k}`;
  },
  explore(cfg: ExperimentConfig, round: number, problems: number): string {
    const k = cfg.explore.temperature < 1e-5 ? 1 : cfg.explore.k;
    return `${roundOf(round, cfg.improve.rounds)} · exploring: sampling ${k} answer${k === 1 ? '' : 's'} to each of ${problems} hard problems ` +
      `(${levelList(cfg.levels.explore)}) and keeping the correct ones`;
  },
  improve(cfg: ExperimentConfig, round: number, pool: number, replay: number, scarce: number): string {
    const data = `the pool's ${pool} correct answer${pool === 1 ? '' : 's'}${scarce > 0 ? `, ${scarce} scarce teacher traces` : ''} and ${replay} replayed easy ones`;
    return cfg.improve.init === 'base'
      ? `${roundOf(round, cfg.improve.rounds)} · improving: retraining from the initial weights on ${data}, ${passes(cfg.imitate.epochs)}`
      : `${roundOf(round, cfg.improve.rounds)} · improving: training on ${data}, ${passes(cfg.improve.epochs)}`;
  },
  sftEval(cfg: ExperimentConfig, round: number, problems: number): string {
    return `${roundOf(round, cfg.improve.rounds)} · checking the fine-tuned model on ${problems} held-out problems before DPO`;
  },
  dpo(cfg: ExperimentConfig, round: number): string {
    return `${roundOf(round, cfg.improve.rounds)} · DPO: training it to prefer a correct answer over a wrong one to the same explored problem`;
  },
  large(cfg: ExperimentConfig, traces: number): string {
    return `Ablation · distill only, large: training a second student from scratch on ${traces} teacher traces ` +
      `(${cfg.ablation.scarceScale}× as many at the hard ${levelList(cfg.levels.scarce)}), no exploring`;
  },
  control(round: number, steps: number): string {
    return `Ablation · equal compute: training round 0's model on for the ${steps} steps round ${round} trained, on the same teacher traces but without the pool`;
  },
};
