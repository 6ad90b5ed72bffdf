// The SFT+DPO improve method of the STILL loop (`improve.method: "dpo"`, STILL-2's Table 2 variant): after a
// round's SFT, preference pairs from that round's explored rollouts (a correct against an incorrect rollout
// of one problem, loop/pairs.ts) train the SFT model further with DPO (train/dpo_run.ts), the SFT model
// being the reference. A share of the problems is held out, so the record says whether the preference
// generalizes (eval rewards/accuracies) and not only whether it was memorized.
//
// Toy pairs are pre-tokenized (the char tokenizer, BOS-led prompts); HF pairs are text rendered as explore
// prompted them (loop/hf/dpo_stage.ts).
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { loadModel } from '../nn/load.ts';
import type { DecoderModel } from '../nn/model.ts';
import { saveHfModel } from '../nn/save.ts';
import type { DpoMetrics } from '../train/dpo_loss.ts';
import { runDpo, type DpoResult } from '../train/dpo_run.ts';
import type { DpoStageConfig } from './dpo_config.ts';
import { selectPairs, tokenPairRow } from './pairs.ts';
import type { StageLog } from './progress.ts';
import type { Rollout } from './rollouts.ts';
import { promptIds, tokenizer } from './toy.ts';

/** What a DPO step did, kept in the round's metrics. */
export interface DpoRecord {
  /** Problems explored, and those with both a correct and an incorrect rollout. */
  problems: number;
  mixed: number;
  pairs: number;
  evalPairs: number;
  steps: number;
  /** Training metrics of the last step, and held-out metrics before (the reference) and after. */
  train: DpoMetrics | null;
  evalStart: Record<string, number> | null;
  eval: Record<string, number> | null;
  seconds: number;
}

export function dpoRecord(r: DpoResult, problems: number, mixed: number): DpoRecord {
  return { problems, mixed, pairs: r.pairs, evalPairs: r.evalPairs, steps: r.step, train: r.train, evalStart: r.evalStart, eval: r.eval, seconds: r.seconds };
}

/** The toy's pairs as token rows: prompts as the student sees them, completions ending in EOS. */
export function toyPairRows(rollouts: readonly Rollout[], c: Pick<DpoStageConfig, 'pairs' | 'pairsPerProblem'>, seed: number) {
  const byProblem = new Map<string, Rollout[]>();
  for (const r of rollouts) byProblem.set(r.problem.id, [...(byProblem.get(r.problem.id) ?? []), r]);
  const rows = [];
  let mixed = 0;
  for (const [id, list] of byProblem) {
    const picks = selectPairs(list.map((r) => ({
      chosenOk: r.correct && r.finished, rejectedOk: !r.correct, logprob: r.logprob, tokens: r.tokens, where: `problem ${id}, sample ${r.sample}`,
    })), { rule: c.pairs, perProblem: c.pairsPerProblem, seed }, id);
    if (picks.length > 0) mixed++;
    for (const [ci, ri] of picks) {
      rows.push(tokenPairRow(id, promptIds(list[ci].problem), list[ci].completion, list[ri].completion, (s) => tokenizer.encode(s), tokenizer.eosId));
    }
  }
  return { rows, problems: byProblem.size, mixed };
}

/**
 * One toy DPO step after a round's SFT: the SFT model goes to dir/sft (the reference), pairs to
 * dir/pairs.jsonl, the trained model to dir/dpo; returns the DPO model (or the SFT model when no problem
 * had both a correct and an incorrect rollout) and the record. A finished step in `dir` is reused.
 */
export async function toyDpoStep(
  sftModel: DecoderModel, rollouts: readonly Rollout[], c: DpoStageConfig, dir: string, seed: number, log: StageLog,
): Promise<{ model: DecoderModel; record: DpoRecord | null }> {
  const { rows, problems, mixed } = toyPairRows(rollouts, c, seed);
  if (rows.length < 2) {
    log.line(`dpo: ${rows.length} pairs from ${problems} problems; too few to train on, the SFT model stands`);
    return { model: sftModel, record: null };
  }
  const sft = join(dir, 'sft');
  const data = join(dir, 'pairs.jsonl');
  saveHfModel(sftModel, sft);
  writeFileAtomic(data, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const bar = { current: null as ReturnType<StageLog['bar']> | null };
  const r = await runDpo({
    model: sft, data, out: join(dir, 'dpo'), mode: { kind: 'full' }, lossType: c.loss, beta: c.beta, labelSmoothing: c.labelSmoothing,
    thoughtOnly: c.thoughtOnly, nllWeight: c.nllWeight, epochs: c.epochs, lr: c.lr, batchSize: c.batchSize, gradAccum: c.gradAccum, seed,
    ...(c.heldOut > 0 ? { evalSplit: c.heldOut } : {}), resume: 'auto', maxGradNorm: 1, schedule: 'linear',
  }, {
    note: (line) => log.line(`dpo: ${line}`),
    onStart: (i) => (bar.current = log.bar('dpo', i.totalSteps, 'steps')),
    onStep: (s) => bar.current?.update(s.step, `loss ${s.loss.toFixed(3)} | acc ${s['rewards/accuracies'].toFixed(2)}`),
  });
  bar.current?.stop();
  const record = dpoRecord(r, problems, mixed);
  log.line(`dpo: ${r.pairs} pairs (${mixed} of ${problems} problems), ${r.step} steps; held-out rewards/accuracies ` +
    `${fmt(r.evalStart?.['eval_rewards/accuracies'])} → ${fmt(r.eval?.['eval_rewards/accuracies'])}, margins ${fmt(r.eval?.['eval_rewards/margins'])}`);
  return { model: loadModel(join(dir, 'dpo'), { quiet: true }), record };
}

const fmt = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(3));
