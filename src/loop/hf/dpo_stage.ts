// The DPO step of a STILL-2 round on an HF checkpoint (`improve.method: "dpo"`): pairs from the round's
// rollouts file (round-R/explore/rollouts.jsonl → round-R/pairs.jsonl, prompts rendered as explore
// prompted), then DPO from the round's SFT policy, which is also the reference: with LoRA the SFT adapter is
// continued (the base with it gives the cached reference log-probs), with full fine-tuning the SFT model.
// Resumable like the other stages: a finished DPO run is read back, a checkpoint continued.
import { join } from 'node:path';
import { runDpo } from '../../train/dpo_run.ts';
import { dpoRecord, type DpoRecord } from '../dpo_stage.ts';
import { writeRolloutPairs } from '../pairs.ts';
import type { StageLog } from '../progress.ts';
import type { HfExperimentConfig } from './config.ts';
import type { Policy } from './stages.ts';

export interface HfDpoJob {
  round: number;
  /** The round's SFT policy: where DPO starts and its reference. */
  policy: Policy;
  rollouts: string;
  /** The round's folder: pairs.jsonl and dpo/ go here. */
  dir: string;
  seed: number;
}

export async function hfDpoStage(j: HfDpoJob, cfg: HfExperimentConfig, log: StageLog): Promise<{ policy: Policy; record: DpoRecord | null }> {
  const c = cfg.improve.dpo!;
  const pairs = join(j.dir, 'pairs.jsonl');
  const counts = writeRolloutPairs(j.rollouts, pairs, j.policy.model, cfg.prompt, { rule: c.pairs, perProblem: c.pairsPerProblem, seed: j.seed });
  log.line(`dpo (round ${j.round}): ${counts.pairs} pairs (${c.pairs}) from ${counts.mixed} of ${counts.problems} problems with a correct and an incorrect rollout`);
  if (counts.pairs < 2) {
    log.line(`dpo (round ${j.round}): too few pairs to train on; the SFT policy stands`);
    return { policy: j.policy, record: null };
  }
  const out = join(j.dir, 'dpo');
  let bar: ReturnType<StageLog['bar']> | null = null;
  const r = await runDpo({
    model: j.policy.model, data: pairs, out, mode: j.policy.adapter ? { kind: 'adapter', dir: j.policy.adapter } : { kind: 'full' },
    lossType: c.loss, beta: c.beta, labelSmoothing: c.labelSmoothing, thoughtOnly: c.thoughtOnly, nllWeight: c.nllWeight,
    epochs: c.epochs, lr: c.lr, batchSize: c.batchSize, gradAccum: c.gradAccum, seed: j.seed, resume: 'auto',
    saveEvery: cfg.checkpointEvery, ...(c.heldOut > 0 ? { evalSplit: c.heldOut } : {}),
    // The improve block's memory settings hold for the whole round, its DPO too.
    gradientCheckpointing: cfg.improve.gradientCheckpointing, maxMemory: cfg.improve.maxMemory,
  }, {
    note: (line) => log.line(`dpo (round ${j.round}): ${line}`),
    onStart: (i) => (bar = log.bar(`dpo (round ${j.round})`, i.totalSteps, 'steps')),
    onStep: (s) => bar?.update(s.step, `loss ${s.loss.toFixed(3)} | acc ${s['rewards/accuracies'].toFixed(2)}`),
  });
  (bar as ReturnType<StageLog['bar']> | null)?.stop();
  const policy: Policy = r.mode === 'lora' ? { model: j.policy.model, adapter: out } : { model: out, adapter: null };
  return { policy, record: dpoRecord(r, counts.problems, counts.mixed) };
}
