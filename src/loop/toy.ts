// The toy student: a small Llama-style decoder over the character tokenizer, trained from scratch, and
// the way problems and traces become its token ids.
import type { ModelConfig } from '../io/hf_config.ts';
import type { Example } from '../data/example.ts';
import { IGNORE } from '../data/example.ts';
import { initModel } from '../nn/load.ts';
import type { DecoderModel } from '../nn/model.ts';
import { CharTokenizer } from '../tasks/char_tokenizer.ts';
import { Rng } from '../tasks/rng.ts';
import type { Problem, StepStyle, Task } from '../tasks/task.ts';
import type { ExperimentConfig, ToyModelConfig } from './config.ts';

export const tokenizer = new CharTokenizer();

export function toyModelConfig(m: ToyModelConfig, maxLen: number): ModelConfig {
  return {
    modelType: 'llama', vocabSize: tokenizer.vocabSize, hiddenSize: m.hiddenSize, intermediateSize: m.intermediateSize,
    numLayers: m.numLayers, numHeads: m.numHeads, numKvHeads: m.numKvHeads, headDim: m.hiddenSize / m.numHeads,
    ropeTheta: m.ropeTheta, rmsNormEps: 1e-5, tieWordEmbeddings: true, attentionBias: false, oProjBias: false,
    mlpBias: false, maxPositionEmbeddings: maxLen, bosTokenId: tokenizer.bosId, eosTokenIds: [tokenizer.eosId],
    padTokenId: tokenizer.padId,
  };
}

/** A freshly initialised student (seeded). */
export function newStudent(m: ToyModelConfig, maxLen: number, seed: number): DecoderModel {
  const rng = new Rng(`init/${seed}`);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
  return initModel(toyModelConfig(m, maxLen), normal);
}

/** The prompt the student sees: BOS, the question, a newline; the completion starts at the thought tag. */
export function promptIds(p: Problem): number[] {
  return [tokenizer.bosId, ...tokenizer.encode(`${p.question}\n`)];
}

/** A training example: loss on the completion and its EOS only. */
export function traceExample(p: Problem, completion: string, source: string): Example {
  const prompt = promptIds(p);
  const completionIds = [...tokenizer.encode(completion), tokenizer.eosId];
  return {
    inputIds: [...prompt, ...completionIds],
    labels: [...prompt.map(() => IGNORE), ...completionIds],
    source,
  };
}

/**
 * Positions a rollout at these levels may need: the longest of 50 teacher traces (slips included) at the
 * hardest level, prompt and EOS counted, with a quarter more for a student that wanders. `still run`,
 * `still imitate --task` and `still explore --task` size their contexts by it.
 */
export function contextFor(task: Task, levels: readonly number[], seed: number, stepStyle?: StepStyle): number {
  const longest = longestOfTraces(task, levels, `budget/${seed}`, { reflectionRate: 1, stepStyle }, (p, trace) => traceExample(p, trace, 'budget').inputIds.length);
  return Math.ceil(longest * 1.25);
}

/**
 * The most new tokens a teacher trace takes at these levels (the longest of 50 at the hardest, slips at
 * `reflectionRate`, EOS counted). A sampling budget below it cuts rollouts mid-thought: every answer is
 * missing and accuracy reads 0 however well the student learned.
 */
export function longestTrace(task: Task, levels: readonly number[], seed: number, reflectionRate: number, stepStyle?: StepStyle): number {
  return longestOfTraces(task, levels, `trace-length/${seed}`, { reflectionRate, stepStyle }, (_, trace) => tokenizer.encode(trace).length + 1);
}

/** The largest `size` of 50 seeded teacher traces at the hardest of `levels`. */
function longestOfTraces(
  task: Task, levels: readonly number[], rngKey: string, teach: { reflectionRate: number; stepStyle?: StepStyle }, size: (p: Problem, trace: string) => number,
): number {
  const top = Math.max(...levels);
  const rng = new Rng(rngKey);
  let longest = 0;
  for (let i = 0; i < 50; i++) {
    const p = task.generate(top, rng);
    longest = Math.max(longest, size(p, task.teacher(p, rng, teach)));
  }
  return longest;
}

/** A warning for each sampling budget shorter than the teacher's traces at the levels it samples. */
export function traceBudgetWarnings(cfg: ExperimentConfig, task: Task): string[] {
  return (['explore', 'eval'] as const).flatMap((stage) => {
    const levels = cfg.levels[stage];
    const need = longestTrace(task, levels, cfg.seed, cfg.imitate.reflectionRate, cfg.imitate.stepStyle);
    return cfg[stage].maxNewTokens >= need ? [] : [`warning: ${stage}.maxNewTokens is ${cfg[stage].maxNewTokens}, but the teacher's ${task.name} traces ` +
      `at level ${Math.max(...levels)} run to ${need} tokens: rollouts that long are cut mid-thought and score 0 (set it to at least ${need})`];
  });
}
