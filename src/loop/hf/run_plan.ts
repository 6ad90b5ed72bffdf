// What a STILL-2 run on an HF checkpoint still has to do, in the run clock's work units (run_clock.ts):
// sequences trained (a step trains batchSize × gradAccum rows; a DPO pair is two sequences) and rollouts
// sampled; and the plain sentence each stage starts with. Rows of the distilled data are counted as lines of
// its JSONL files (cheap; the trainer's step count replaces the estimate when a train stage starts), and the
// pool of later rounds grows by the share of explored problems that earlier rounds added.
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { PlannedStage } from '../run_clock.ts';
import { dpoUnits } from '../run_plan.ts';
import type { HfExperimentConfig, HfTrainConfig } from './config.ts';

/** Non-empty lines of JSONL files (0 for a file that cannot be read: the trainer's count corrects it). */
export function countRows(files: readonly string[]): number {
  let rows = 0;
  for (const f of files) {
    try {
      if (!statSync(f).isFile()) continue;
      rows += readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    } catch {
      // unreadable here: left to the trainer, which says why
    }
  }
  return rows;
}

/** Rows an SFT stage trains: whole optimizer steps of batchSize × gradAccum. */
export function hfTrainUnits(t: HfTrainConfig, rows: number): number {
  const micro = t.batchSize * t.gradAccum;
  return Math.ceil((t.epochs * rows) / micro) * micro;
}

export interface HfPlanState {
  /** The first round this process runs (earlier ones finished before: resumed). */
  from: number;
  /** Rows of the distilled data. */
  distilled: number;
  /** Problems each explore round takes. */
  exploreProblems: number;
  /** Rollouts one eval (every bench) samples. */
  evalSamples: number;
  /** The pool now, and the last round whose exploring is done. */
  pool: number;
  exploredThrough: number;
  /** Pool additions, and DPO training pairs, per explored problem in the rounds so far (null before any). */
  addedPerProblem: number | null;
  pairsPerProblem: number | null;
}

export function hfPlan(cfg: HfExperimentConfig, st: HfPlanState): PlannedStage[] {
  const plan: PlannedStage[] = [];
  const samples = cfg.explore.temperature < 1e-5 ? 1 : cfg.explore.k;
  let pool = st.pool;
  for (let r = st.from; r <= cfg.improve.rounds; r++) {
    if (r === 0) plan.push({ id: 'round-0/imitate', kind: 'train', units: hfTrainUnits(cfg.imitate, st.distilled) });
    else {
      plan.push({ id: `round-${r}/explore`, kind: 'sample', units: st.exploreProblems * samples });
      if (r > st.exploredThrough) pool += Math.round(st.exploreProblems * (st.addedPerProblem ?? 0));
      plan.push({ id: `round-${r}/improve`, kind: 'train', units: hfTrainUnits(cfg.improve, st.distilled + pool) });
      if (cfg.improve.method === 'dpo' && cfg.improve.dpo) {
        const d = cfg.improve.dpo;
        const pairs = st.exploreProblems * (st.pairsPerProblem ?? d.pairsPerProblem * (1 - d.heldOut));
        plan.push({ id: `round-${r}/dpo`, kind: 'train', units: dpoUnits(d.epochs, Math.round(pairs), d.batchSize, d.gradAccum) });
      }
    }
    plan.push({ id: `round-${r}/eval`, kind: 'sample', units: st.evalSamples });
  }
  return plan;
}

const roundOf = (r: number, rounds: number) => (r === 0 ? 'Round 0' : `Round ${r} of ${rounds}`);
const passes = (epochs: number) => `${epochs} pass${epochs === 1 ? '' : 'es'}`;
/** A model directory as people name it: its last two path parts (checkpoints/Qwen2.5-7B-Instruct, tiny-math/model). */
const modelName = (dir: string) => `${basename(dirname(dir))}/${basename(dir)}`;
const how = (t: HfTrainConfig) => (t.mode === 'lora' ? `a LoRA adapter (r=${t.lora.r})` : 'all weights');

export const hfSentences = {
  imitate(cfg: HfExperimentConfig, rows: number): string {
    return `Round 0 · imitating: fine-tuning ${how(cfg.imitate)} of ${modelName(cfg.model)} on ${rows > 0 ? `${rows} ` : ''}distilled long-thought examples, ${passes(cfg.imitate.epochs)}`;
  },
  explore(cfg: HfExperimentConfig, r: number, problems: number): string {
    const k = cfg.explore.temperature < 1e-5 ? 1 : cfg.explore.k;
    return `${roundOf(r, cfg.improve.rounds)} · exploring: sampling ${k} answer${k === 1 ? '' : 's'} to each of ${problems} problems from ` +
      `${basename(cfg.explore.data)} and keeping the correct ones`;
  },
  improve(cfg: HfExperimentConfig, r: number, pool: number): string {
    const start = cfg.improve.init === 'base' ? `retraining ${how(cfg.improve)} of the base` : `continuing round ${r - 1}'s model`;
    return `${roundOf(r, cfg.improve.rounds)} · improving: ${start} on the distilled data and the pool's ${pool} correct answer${pool === 1 ? '' : 's'}, ` +
      passes(cfg.improve.epochs);
  },
  dpo(cfg: HfExperimentConfig, r: number): string {
    return `${roundOf(r, cfg.improve.rounds)} · DPO: training the model to prefer a correct answer over a wrong one to the same explored problem`;
  },
  evaluate(cfg: HfExperimentConfig, r: number, benches: readonly { name: string; problems: number }[]): string {
    const n = cfg.eval.n > 1 ? `, ${cfg.eval.n} samples each` : cfg.eval.temperature === 0 ? ', greedy' : '';
    return `${roundOf(r, cfg.improve.rounds)} · evaluating: answering ${benches.map((b) => `${b.name} (${b.problems} problems)`).join(', ')}${n}`;
  },
};
