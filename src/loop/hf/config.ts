// The config of a STILL-2 run on an HF checkpoint (`still run --config` with "model" naming a directory):
// plain JSON (examples/still2-tiny.json, examples/still2-qwen.json), filled in with defaults and checked
// field by field; an unknown field is an error. Paths are relative to the config file's folder.
//
//   model      the base checkpoint (HF directory with tokenizer.json)
//   imitate    SFT on the distilled data (LoRA or full; the STILL-2 recipe's defaults)
//   explore    each round: k rollouts per problem on a problem set, a long-thought token budget
//   refine     the pool: correct \boxed{} answer in the long-thought format, dedup, a cap per problem,
//              a length window, which correct rollout to keep, and the difficulty filter
//   improve    rounds; retrain from the base on distilled + pool (the paper's D_t) or continue
//   eval       benches after every round (greedy by default), and the hard split hard_gain_points reads
//   engine     optional: explore and eval on an OpenAI-compatible server (vLLM, SGLang, still serve);
//              each round's adapter is loaded into it through /v1/load_lora_adapter
import { IMPROVE_METHODS, readDpoStage, type DpoStageConfig } from '../dpo_config.ts';
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { PROMPT_STYLES, type PromptStyle } from '../../eval/prompt.ts';
import { LORA_TARGETS, parseTargets } from '../../nn/lora.ts';
import { LONG_THOUGHT_TOKENS } from '../../sample/sampling.ts';
import { IMITATE_RECIPE } from '../../train/sft_recipe.ts';
import { SCHEDULES, type ScheduleKind } from '../../train/schedule.ts';
import { EVAL_SETS, evalSetName, type EvalSetName } from '../../verify/gold.ts';
import { ConfigObject } from '../config_fields.ts';
import { KEEP_RULES, type KeepRule } from '../pool.ts';

export interface HfTrainConfig {
  mode: 'lora' | 'full';
  lora: { r: number; alpha: number; dropout: number; targets: string };
  epochs: number;
  /** Peak learning rate; default the STILL-2 recipe's for the mode. */
  lr: number;
  batchSize: number;
  gradAccum: number;
  /** Whole steps (≥ 1, or 0), or a fraction of the run (< 1). */
  warmup: number;
  schedule: ScheduleKind;
  maxGradNorm: number;
  weightDecay: number;
  /** Examples are cut to this many tokens (and to the model's context). */
  maxLength: number;
  /** Recompute each layer in backward (true/false); absent: the memory plan turns it on when it must. */
  gradientCheckpointing?: boolean;
  /** GiB the stage may use (train/memory_budget.ts); absent: the GPU's free memory, on the CPU a warning only. */
  maxMemory?: number;
}

export interface HfBench {
  /** How the report names it: the set's name, or the file's name without .jsonl. */
  name: string;
  /** A shipped set's name or a JSONL path (absolute). */
  source: string;
}

/** Rollouts on an OpenAI-compatible server instead of in-process (loop/hf/remote_policy.ts). */
export interface HfEngineConfig {
  kind: 'openai';
  baseUrl: string;
  /** The environment variable holding the API key (never the key itself: configs are recorded). */
  apiKeyEnv: string;
  /** The base model's name on the server. */
  model: string;
  concurrency: number;
  timeoutS: number;
}

export interface HfExperimentConfig {
  kind: 'hf';
  name: string;
  seed: number;
  /** The base checkpoint (absolute path). */
  model: string;
  /** How problems are asked: the paper's instruction prompt, or the bare question (small contexts). */
  prompt: PromptStyle;
  /** Sequences decoded together. */
  maxBatch: number;
  /** SFT checkpoints every this many steps (resume after a kill redoes at most that many). */
  checkpointEvery: number;
  imitate: HfTrainConfig & { data: string[] };
  explore: {
    data: string;
    /** Read rows in the layout of a shipped eval set (and grade by its rules); null = generic rows. */
    format: EvalSetName | null;
    /** Only problems whose own level field is one of these; null = all. */
    levels: string[] | null;
    problemsPerRound: number;
    /** Explore a problem again in a later round (otherwise each problem is explored once). */
    repeat: boolean;
    k: number;
    temperature: number;
    topP: number;
    maxNewTokens: number;
  };
  refine: {
    capPerProblem: number;
    keep: KeepRule;
    /** The length window on generated tokens (null = no upper bound). */
    minTokens: number;
    maxTokens: number | null;
    /** Difficulty filter: a problem solved by every rollout is not explored again (with repeat). */
    skipSolved: boolean;
  };
  /** method 'dpo' (absent for 'sft'): DPO after each improve round's SFT on that round's rollouts (loop/hf/dpo_stage.ts). */
  improve: HfTrainConfig & { rounds: number; init: 'base' | 'continue'; method?: 'dpo'; dpo?: DpoStageConfig };
  eval: {
    benches: HfBench[];
    limit: number | null;
    n: number;
    temperature: number;
    topP: number;
    maxNewTokens: number;
    /** The hard split: hard_gain_points is its accuracy, last round minus round 0. */
    hard: { bench: string; level: string | null };
  };
  /** null: sample in-process. */
  engine: HfEngineConfig | null;
}


/** The base checkpoint must be there before anything runs (nothing is downloaded). */
export function requireModelDir(cfg: HfExperimentConfig): void {
  for (const file of ['config.json', 'tokenizer.json']) {
    if (!existsSync(join(cfg.model, file))) {
      throw new Error(`model: ${join(cfg.model, file)} does not exist; "model" must name an HF checkpoint directory with its tokenizer (still-ts fetches nothing: download it there first)`);
    }
  }
}

/** Does this parsed JSON describe an HF run (its "model" is a directory path, not a toy shape)? */
export function isHfConfig(json: unknown): boolean {
  return typeof json === 'object' && json !== null && typeof (json as { model?: unknown }).model === 'string';
}

function trainConfig(o: ConfigObject, base: HfTrainConfig | null): HfTrainConfig {
  const mode = o.choice('mode', ['lora', 'full'] as const, base?.mode ?? 'lora');
  const l = o.object('lora');
  const r = l.number('r', base?.lora.r ?? 16, { min: 1, int: true });
  const targets = l.string('targets', base?.lora.targets ?? LORA_TARGETS.map((t) => t.replace('_proj', '')).join(','));
  try {
    parseTargets(targets);
  } catch (e) {
    l.fail('targets', `a list of projections (${(e as Error).message})`);
  }
  const lora = { r, alpha: l.number('alpha', base?.lora.alpha ?? 2 * r, { min: 0, exclusiveMin: true }), dropout: l.number('dropout', base?.lora.dropout ?? 0, { min: 0, max: 1 }), targets };
  l.done();
  const recipe = IMITATE_RECIPE;
  const lrDefault = base && base.mode === mode ? base.lr : mode === 'full' ? recipe.lrFull : recipe.lrLora;
  return {
    mode, lora,
    epochs: o.number('epochs', base?.epochs ?? recipe.epochs, { min: 0, exclusiveMin: true }),
    lr: o.number('lr', lrDefault, { min: 0, exclusiveMin: true }),
    batchSize: o.number('batchSize', base?.batchSize ?? recipe.batchSize, { min: 1, int: true }),
    gradAccum: o.number('gradAccum', base?.gradAccum ?? recipe.gradAccum, { min: 1, int: true }),
    warmup: warmup(o, base?.warmup ?? recipe.warmup),
    schedule: o.choice('schedule', SCHEDULES, base?.schedule ?? recipe.schedule),
    maxGradNorm: o.number('maxGradNorm', base?.maxGradNorm ?? recipe.maxGradNorm, { min: 0 }),
    weightDecay: o.number('weightDecay', base?.weightDecay ?? 0, { min: 0 }),
    maxLength: o.number('maxLength', base?.maxLength ?? recipe.maxLength!, { min: 2, int: true }),
    gradientCheckpointing: o.has('gradientCheckpointing') ? o.boolean('gradientCheckpointing', false) : base?.gradientCheckpointing,
    maxMemory: o.has('maxMemory') ? o.number('maxMemory', undefined, { min: 0, exclusiveMin: true }) : base?.maxMemory,
  };
}

function warmup(o: ConfigObject, dflt: number): number {
  const w = o.number('warmup', dflt, { min: 0 });
  if (w >= 1 && !Number.isInteger(w)) o.fail('warmup', 'whole steps (≥ 1) or a fraction of the run (< 1)');
  return w;
}

function bench(text: string, dir: string): HfBench {
  const set = evalSetName(text);
  if (set) return { name: set, source: set };
  const source = isAbsolute(text) ? text : resolve(dir, text);
  return { name: basename(text).replace(/\.jsonl$/, ''), source };
}

function engineConfig(o: ConfigObject, modelName: string): HfEngineConfig {
  const kind = o.choice('kind', ['openai'] as const, 'openai');
  const baseUrl = o.string('baseUrl');
  if (!/^https?:\/\//.test(baseUrl)) o.fail('baseUrl', 'an http(s) URL such as http://127.0.0.1:8000/v1', baseUrl);
  const engine = {
    kind, baseUrl,
    apiKeyEnv: o.string('apiKeyEnv', 'OPENAI_API_KEY'),
    model: o.string('model', modelName),
    concurrency: o.number('concurrency', 64, { min: 1, int: true }),
    timeoutS: o.number('timeoutS', 1800, { min: 0, exclusiveMin: true }),
  };
  if (o.has('apiKey')) o.fail('apiKey', 'absent: name the environment variable that holds the key with "apiKeyEnv" (a config is recorded in the run folder)');
  o.done();
  return engine;
}

export function parseHfExperimentConfig(json: unknown, file: string): HfExperimentConfig {
  const dir = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const root = ConfigObject.root(json, file);
  const name = root.string('name', basename(file).replace(/\.json$/, ''));
  const seed = root.number('seed', 1, { min: 0, int: true });
  const model = path(root.string('model'));
  const prompt = root.choice('prompt', PROMPT_STYLES, 'still2');
  const maxBatch = root.number('maxBatch', 16, { min: 1, int: true });
  const checkpointEvery = root.number('checkpointEvery', 50, { min: 1, int: true });

  const im = root.object('imitate');
  const imitate = { ...trainConfig(im, null), data: im.strings('data').map(path) };
  im.done();

  const ex = root.object('explore');
  const format = ex.optionalString('format');
  if (format !== null && evalSetName(format) === null) ex.fail('format', `null or one of ${EVAL_SETS.join(', ')}`);
  const explore = {
    data: path(ex.string('data')),
    format: format === null ? null : evalSetName(format),
    levels: ex.optionalLabels('levels'),
    problemsPerRound: ex.number('problemsPerRound', 64, { min: 1, int: true }),
    repeat: ex.boolean('repeat', false),
    k: ex.number('k', 8, { min: 1, int: true }),
    temperature: ex.number('temperature', 0.7, { min: 0 }),
    topP: ex.number('topP', 1, { min: 0, max: 1, exclusiveMin: true }),
    maxNewTokens: ex.number('maxNewTokens', LONG_THOUGHT_TOKENS, { min: 1, int: true }),
  };
  ex.done();

  const rf = root.object('refine');
  const refine = {
    capPerProblem: rf.number('capPerProblem', 1, { min: 1, int: true }),
    keep: rf.choice('keep', KEEP_RULES, 'shortest'),
    minTokens: rf.number('minTokens', 0, { min: 0, int: true }),
    maxTokens: rf.optionalNumber('maxTokens', null, { min: 1, int: true }),
    skipSolved: rf.boolean('skipSolved', true),
  };
  if (refine.maxTokens !== null && refine.maxTokens < refine.minTokens) rf.fail('maxTokens', `≥ refine.minTokens (${refine.minTokens})`, refine.maxTokens);
  rf.done();

  const ip = root.object('improve');
  const improve = {
    ...trainConfig(ip, imitate),
    rounds: ip.number('rounds', 2, { min: 0, int: true }),
    // The paper's recipe: each round retrains the base on the distilled data plus the whole pool.
    init: ip.choice('init', ['base', 'continue'] as const, 'base'),
    ...(ip.choice('method', IMPROVE_METHODS, 'sft') === 'dpo'
      ? { method: 'dpo' as const, dpo: readDpoStage(ip.object('dpo'), { lr: 5e-6, epochs: 1, batchSize: 1, gradAccum: 8, beta: 0.1, nllWeight: 1 }) }
      : ip.has('dpo') ? ip.fail('dpo', "absent unless improve.method is 'dpo'") : {}),
  };
  if (improve.init === 'continue' && improve.mode !== imitate.mode) {
    ip.fail('mode', `'${imitate.mode}' like imitate.mode when improve.init is 'continue' (a round continues the policy the last one trained)`, improve.mode);
  }
  ip.done();

  const ev = root.object('eval');
  const benches = ev.strings('benches', ['math500']).map((b) => bench(b, dir));
  const hardObj = ev.object('hard');
  const hardBench = hardObj.string('bench', benches[0]!.name);
  if (!benches.some((b) => b.name === hardBench)) hardObj.fail('bench', `one of the eval benches (${benches.map((b) => b.name).join(', ')})`, hardBench);
  const hardLevel = hardObj.optionalLabels('level');
  if (hardLevel !== null && hardLevel.length > 1) hardObj.fail('level', 'one level label');
  const hard = { bench: hardBench, level: hardLevel?.[0] ?? null };
  hardObj.done();
  const evalCfg = {
    benches,
    limit: ev.optionalNumber('limit', null, { min: 1, int: true }),
    n: ev.number('n', 1, { min: 1, int: true }),
    // STILL-2 evaluates greedily.
    temperature: ev.number('temperature', 0, { min: 0 }),
    topP: ev.number('topP', 1, { min: 0, max: 1, exclusiveMin: true }),
    maxNewTokens: ev.number('maxNewTokens', LONG_THOUGHT_TOKENS, { min: 1, int: true }),
    hard,
  };
  if (evalCfg.n > 1 && evalCfg.temperature === 0) ev.fail('n', '1 when eval.temperature is 0 (greedy samples are all the same)', evalCfg.n);
  ev.done();
  const engine = root.has('engine') ? engineConfig(root.object('engine'), basename(model)) : null;
  if (engine) {
    // The server keeps its base model; a round's new policy reaches it only as a LoRA adapter.
    const why = 'lora when "engine" is set (a server serves one base model and takes each round\'s policy as a runtime LoRA adapter)';
    if (imitate.mode === 'full') im.fail('mode', why, 'full');
    if (improve.mode === 'full') ip.fail('mode', why, 'full');
  }
  root.done();
  return { kind: 'hf', name, seed, model, prompt, maxBatch, checkpointEvery, imitate, explore, refine, improve, eval: evalCfg, engine };
}
