// One loader for `still run --config`: a toy config ("task" + a student shape) or an HF config ("model"
// naming a checkpoint directory), told apart by the type of "model".
import { parseConfig, type ExperimentConfig } from './config.ts';
import { readConfigJson } from './config_fields.ts';
import { isHfConfig, parseHfExperimentConfig, type HfExperimentConfig } from './hf/config.ts';
import { traceBudgetWarnings } from './toy.ts';
import { getTask } from '../tasks/index.ts';

export type AnyExperimentConfig = { kind: 'toy'; config: ExperimentConfig } | { kind: 'hf'; config: HfExperimentConfig };

export function loadExperimentConfig(file: string): AnyExperimentConfig {
  const json = readConfigJson(file);
  return isHfConfig(json) ? { kind: 'hf', config: parseHfExperimentConfig(json, file) } : { kind: 'toy', config: parseConfig(json, file) };
}

/** The toy run's plan, for --dry-run: what is drawn, trained and sampled. */
export function planToyExperiment(cfg: ExperimentConfig): string {
  const l = cfg.levels;
  return [
    `${cfg.name}: dry run of the toy loop on ${cfg.task} (nothing is trained or written)`,
    `student: hidden ${cfg.model.hiddenSize}, ${cfg.model.numLayers} layers, ${cfg.model.numHeads} heads, trained from scratch`,
    `imitate: ${cfg.imitate.examples} teacher traces at levels ${l.distill.join(',')}${l.scarce.length ? ` + ${cfg.imitate.scarceExamples} at scarce levels ${l.scarce.join(',')}` : ''}, ${cfg.imitate.epochs} epochs`,
    `${cfg.improve.rounds} rounds: explore ${cfg.explore.problemsPerLevel} problems per level at ${l.explore.join(',')} × k=${cfg.explore.k} ` +
      `(≤ ${cfg.explore.maxNewTokens} tokens each), improve ${cfg.improve.epochs} epochs (${cfg.improve.init})`,
    `eval after each round: ${cfg.eval.problemsPerLevel} held-out problems per level at ${l.eval.join(',')}, greedy${cfg.eval.k > 1 ? ` and pass@${cfg.eval.k}` : ''}`,
    ...(cfg.ablation.scarceScale > 0 ? [`ablation: distill-only with ${cfg.ablation.scarceScale}× the scarce traces`] : []),
    ...traceBudgetWarnings(cfg, getTask(cfg.task)),
  ].join('\n');
}
