// `still run --dry-run` for an HF config: what the run would do, before anything runs — problems and
// rollouts per round, tokens to generate (upper bounds: every rollout at its budget) and to train, and the
// memory the weights, training state and KV cache take. It reads the configs and tokenizes the distilled
// data; it loads no weights and writes nothing.
import { loadSftDataset } from '../../data/dataset.ts';
import { promptIds } from '../../eval/prompt.ts';
import { loadHfConfig, type ModelConfig } from '../../io/hf_config.ts';
import { loadHfTokenizer } from '../../io/hf_tokenizer.ts';
import { adaptedModules, parseTargets } from '../../nn/lora.ts';
import { IMITATE_RECIPE } from '../../train/sft_recipe.ts';
import { sftRenderContext } from '../../train/sft_run.ts';
import { loadEvalSet } from '../../verify/gold.ts';
import { loadExploreData } from '../explore_text.ts';
import { requireModelDir, type HfExperimentConfig, type HfTrainConfig } from './config.ts';
import { exploreOrder } from './problems.ts';

/** Parameters of a Llama/Qwen2 decoder from its config (biases included). */
export function parameterCount(c: ModelConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const attention = c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + (c.attentionBias ? q + 2 * kv : 0) + (c.oProjBias ? c.hiddenSize : 0);
  const mlp = 3 * c.hiddenSize * c.intermediateSize + (c.mlpBias ? 2 * c.intermediateSize + c.hiddenSize : 0);
  const layer = attention + mlp + 2 * c.hiddenSize;
  return c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2) + c.numLayers * layer + c.hiddenSize;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, bfloat16: 2, float16: 2 };

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

const count = (n: number) => n.toLocaleString('en-US');

function trainedParams(c: ModelConfig, t: HfTrainConfig, total: number): number {
  if (t.mode === 'full') return total;
  return adaptedModules(c, parseTargets(t.lora.targets)).reduce((a, m) => a + t.lora.r * (m.inF + m.outF), 0);
}

export function planHfExperiment(cfg: HfExperimentConfig): string {
  requireModelDir(cfg);
  const model = loadHfConfig(cfg.model);
  const context = model.maxPositionEmbeddings;
  const exploreBudget = Math.min(cfg.explore.maxNewTokens, context - 1);
  const evalBudget = Math.min(cfg.eval.maxNewTokens, context - 1);
  const params = parameterCount(model);
  const weightBytes = params * (DTYPE_BYTES[model.torchDtype ?? 'float32'] ?? 4);
  const tok = loadHfTokenizer(cfg.model);
  const ctx = sftRenderContext({ model: cfg.model, still2Template: cfg.prompt === 'plain' ? '' : undefined }, IMITATE_RECIPE);
  const distilled = loadSftDataset(cfg.imitate.data, ctx, { vocabSize: model.vocabSize, maxLength: Math.min(cfg.imitate.maxLength, context) });
  const ordered = exploreOrder(loadExploreData(cfg.explore.data, cfg.explore.format), cfg.explore.levels, cfg.seed);
  const longestPrompt = Math.max(1, ...ordered.map((p) => promptIds(tok, p.problem, cfg.prompt).length));
  const benches = cfg.eval.benches.map((b) => ({ name: b.name, problems: loadEvalSet(b.source, { limit: cfg.eval.limit ?? undefined }).items.length }));
  const samples = cfg.explore.temperature < 1e-5 ? 1 : cfg.explore.k;
  const steps = (rows: number, t: HfTrainConfig) => Math.ceil((t.epochs * rows) / (t.batchSize * t.gradAccum));

  const lines = [
    `${cfg.name}: dry run (nothing is loaded or written)`,
    `model ${cfg.model}: ${model.modelType}, ${count(params)} parameters (${bytes(weightBytes)} of ${model.torchDtype ?? 'float32'} weights), context ${context}`,
    `prompt: ${cfg.prompt === 'plain' ? 'the bare question' : "STILL-2's instruction + question"} in the chat template; the longest explore prompt is ${longestPrompt} tokens`,
    `imitate: ${cfg.imitate.mode === 'lora' ? `LoRA r=${cfg.imitate.lora.r}` : 'full fine-tuning'} on ${count(distilled.stats.rows)} rows (${count(distilled.stats.tokens)} tokens, ${count(distilled.stats.targets)} trained) × ${cfg.imitate.epochs} epochs = ` +
      `${count(steps(distilled.examples.length, cfg.imitate))} steps, ${count(Math.round(distilled.stats.tokens * cfg.imitate.epochs))} tokens`,
  ];
  let left = ordered.length;
  let poolBound = 0;
  for (let r = 1; r <= cfg.improve.rounds; r++) {
    const problems = cfg.explore.repeat ? Math.min(cfg.explore.problemsPerRound, ordered.length) : Math.min(cfg.explore.problemsPerRound, left);
    left -= problems;
    const rollouts = problems * samples;
    poolBound += problems * cfg.refine.capPerProblem;
    const poolTokens = poolBound * exploreBudget;
    const rows = distilled.stats.rows + poolBound;
    lines.push(`round ${r}: explore ${count(problems)} problems × ${samples} = ${count(rollouts)} rollouts, ≤ ${count(rollouts * exploreBudget)} tokens to generate (budget ${exploreBudget}); ` +
      `improve (${cfg.improve.init === 'base' ? 'from the base' : 'continuing'}) on ≤ ${count(rows)} rows, ≤ ${count(Math.round((distilled.stats.tokens + poolTokens) * cfg.improve.epochs))} tokens, ≤ ${count(steps(rows, cfg.improve))} steps`);
  }
  if (left < 0 || (cfg.improve.rounds > 0 && ordered.length === 0)) lines.push(`note: the explore set has ${ordered.length} eligible problems; later rounds would run short`);
  const evalRollouts = benches.reduce((a, b) => a + b.problems, 0) * cfg.eval.n;
  lines.push(`eval after each of ${cfg.improve.rounds + 1} rounds: ${benches.map((b) => `${b.name} ${b.problems}`).join(', ')} problems × n=${cfg.eval.n} = ${count(evalRollouts)} rollouts, ` +
    `≤ ${count(evalRollouts * evalBudget)} tokens each round (budget ${evalBudget})`);
  const kvBytes = model.numLayers * 2 * cfg.maxBatch * Math.min(context, longestPrompt + Math.max(exploreBudget, evalBudget)) * model.numKvHeads * model.headDim * 4;
  const trained = Math.max(trainedParams(model, cfg.imitate, params), trainedParams(model, cfg.improve, params));
  // fp32 master, gradient and two AdamW moments per trained parameter.
  lines.push(`memory: weights ${bytes(weightBytes)}; training state ${bytes(trained * 16)} (${count(trained)} trained parameters × master, gradient, 2 moments in f32); ` +
    `KV cache ${bytes(kvBytes)} (${cfg.maxBatch} slots in f32; half that in bf16 on a GPU); activations grow with the longest packed row`);
  return lines.join('\n');
}
