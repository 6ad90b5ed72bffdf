// `still eval`'s pipeline: load an eval set and a model, sample every problem (greedy or n samples),
// grade each rollout against the gold answer, score, and write results.jsonl + summary.json. Problems are
// journaled as they finish (DIR/results.partial.jsonl, see io/journal.ts), so --resume continues a run
// that died, with the same seeds.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { loadHfConfig } from '../io/hf_config.ts';
import { loadHfTokenizer } from '../io/hf_tokenizer.ts';
import { discardJournal, type JournalSettings } from '../io/journal.ts';
import { claimOutputFolder } from '../io/output_policy.ts';
import { checkAdapterBase } from '../io/adapter_base.ts';
import { loadPeftAdapter } from '../io/peft.ts';
import { loadModel } from '../nn/load.ts';
import { mergeLora } from '../nn/merge.ts';
import type { StepEvent } from '../sample/generator.ts';
import { checkSamplingOptions, generatorOptions, samplingParams, type SamplingOptions } from '../sample/sampling.ts';
import { getBackend } from '../tensor/context.ts';
import { EVAL_SETS, evalSetName, loadEvalSet, type EvalItem } from '../verify/gold.ts';
import { normalizeAnswer } from '../verify/normalize.ts';
import { promptIds, styleStops, type PromptStyle } from './prompt.ts';
import { gradeRollout, type EvalRollout } from './rollout.ts';
import type { OpenAIEngineOptions } from './remote_engine.ts';
import { runRolloutJobAsync } from './rollout_job.ts';
import { scoreRollouts, type EvalScores } from './summary.ts';

export interface EvalOptions {
  model: string;
  adapter?: string;
  /** A set name (math500, aime24, …) or a .jsonl path. */
  bench: string;
  limit?: number;
  prompt: PromptStyle;
  sampling: SamplingOptions;
  out: string;
  /** Continue the unfinished eval journaled in `out` (same settings), sampling only the problems it lacks. */
  resume?: boolean | 'auto';
  /** Replace a finished eval (or other files) in `out`; the old one stays until the new one is written. */
  overwrite?: boolean;
  /** Load `adapter` even if it records another base model. */
  forceAdapter?: boolean;
  /** Problems per generator call, so a resumed run matches an uninterrupted one bit for bit (rollout_job.ts). */
  wave?: number;
  onStep?: (e: StepEvent) => void;
  /**
   * Sample on this OpenAI-compatible server instead of in-process; it must serve `model` (with `adapter`
   * loaded, under engine.model, when there is one). The local model directory still gives the tokenizer.
   */
  engine?: OpenAIEngineOptions;
  /** Notices for the user (stderr in the CLI). */
  notice?: (line: string) => void;
}

export interface EvalSummary extends EvalScores {
  bench: string;
  n: number;
  config: Record<string, unknown>;
  /** Problems whose rollouts came from the journal of an earlier, interrupted run (--resume). */
  resumed_problems: number;
  /** Seconds: the whole run, model loading, sampling, grading (this run's share when resumed). */
  wall_s: number;
  load_s: number;
  sample_s: number;
  grade_s: number;
  prompt_tokens: number;
  generated_tokens: number;
  /** Generated tokens per second of sampling. */
  tokens_per_s: number;
}

export interface EvalRun {
  rollouts: EvalRollout[];
  summary: EvalSummary;
}

/** The eval set a --bench value names; an unknown name that is no file gets the list of known ones. */
export function resolveBench(bench: string, limit?: number): { name: string; dataset?: string; items: EvalItem[] } {
  const set = evalSetName(bench);
  if (set === null && !existsSync(bench)) {
    throw new Error(`--bench '${bench}' is not a known eval set (${EVAL_SETS.join(', ')}) and no such file exists (expected a .jsonl of {"problem", "answer"} rows)`);
  }
  const { name, items } = loadEvalSet(bench, { limit });
  if (items.length === 0) throw new Error(`--bench '${bench}': no problems to evaluate`);
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const first = seen.get(item.id);
    if (first !== undefined) throw new Error(`--bench '${bench}': problems ${first + 1} and ${i + 1} share the id '${item.id}' (ids must be unique to score n samples per problem)`);
    seen.set(item.id, i);
  });
  return { name, dataset: set ?? undefined, items };
}

/** The tokenizer is not optional here: problems are text, and so are the answers the grader reads. */
function requireTokenizer(dir: string): void {
  if (!existsSync(join(dir, 'tokenizer.json'))) {
    throw new Error(`${join(dir, 'tokenizer.json')} does not exist: still eval renders problems with the model's chat template and grades decoded text, so it needs the model's tokenizer (tokenizer.json + tokenizer_config.json)`);
  }
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

export async function runEval(o: EvalOptions): Promise<EvalRun> {
  const started = performance.now();
  const notice = o.notice ?? (() => {});
  checkSamplingOptions(o.sampling);
  requireTokenizer(o.model);
  const set = resolveBench(o.bench, o.limit);
  const tok = loadHfTokenizer(o.model);
  if (tok.chatTemplate === null) notice(`still eval: ${o.model} has no chat template; prompts are the bare user turn`);
  const problems = set.items.map((item) => ({ id: item.id, prompt: promptIds(tok, item.problem, o.prompt) }));

  // Each sample may run to the model's context (or --max-len): prompts that fill it are an error, and
  // samples that would pass it get fewer new tokens, as vLLM's max_model_len does. The job checks the
  // prompts before the model loads, so a prompt that cannot fit fails in a second, not after minutes.
  const config = loadHfConfig(o.model);
  const context = o.sampling.maxLen ?? config.maxPositionEmbeddings;
  const maxNew = o.sampling.maxNewTokens;
  const params = samplingParams({ ...o.sampling, stop: [...o.sampling.stop, ...styleStops(o.prompt)] });

  // The settings that decide the samples: a resumed run must match them (the limit may change: problems are
  // matched by id; the backend and batch size may change: they move samples only by rounding).
  const settings: JournalSettings = {
    model: resolve(o.model), adapter: o.adapter ? resolve(o.adapter) : null, bench: o.bench, prompt: o.prompt,
    chat_template: tok.chatTemplate !== null, n: o.sampling.n, temperature: params.temperature, top_p: params.topP ?? 1,
    top_k: params.topK ?? 0, min_p: params.minP ?? 0, repetition_penalty: params.repetitionPenalty ?? 1,
    max_new_tokens: maxNew, context, seed: o.sampling.seed ?? 0, stop: params.stop ?? [],
    ...(o.engine ? { engine: 'openai', served_model: o.engine.model } : {}),
  };
  if (o.adapter) checkAdapterBase(o.adapter, o.model, { force: o.forceAdapter, notice: (l) => notice(`still eval: ${l}`) });
  // Every input is checked: only now is the folder claimed (and locked), so a refused run leaves nothing.
  const folder = claimOutputFolder(o.out, {
    what: 'eval', finished: 'summary.json', resumable: 'results.partial.jsonl', overwrite: o.overwrite, resume: o.resume,
  });
  try {
    const run = await evaluateInto(folder.dir, folder.resume, { o, set, tok, problems, config, context, params, settings, started });
    folder.commit();
    return run;
  } finally {
    folder.release();
  }
}

interface EvalPlan {
  o: EvalOptions;
  set: ReturnType<typeof resolveBench>;
  tok: ReturnType<typeof loadHfTokenizer>;
  problems: { id: string; prompt: number[] }[];
  config: ReturnType<typeof loadHfConfig>;
  context: number;
  params: ReturnType<typeof samplingParams>;
  settings: JournalSettings;
  started: number;
}

/** Sample, grade and score into `out` (the output folder, or its --overwrite stand-in). */
async function evaluateInto(out: string, resume: boolean, { o, set, tok, problems, config, context, params, settings, started }: EvalPlan): Promise<EvalRun> {
  const notice = o.notice ?? (() => {});
  const maxNew = o.sampling.maxNewTokens;
  const journalFile = join(out, 'results.partial.jsonl');

  // The CAS behind the grader takes seconds to load; only commands that grade pay for it.
  const { grade } = await import('../verify/grade.ts');
  const countTokens = (text: string) => tok.encode(text).length;
  let loadS = 0;
  const job = await runRolloutJobAsync<EvalRollout>({
    problems, n: o.sampling.n, params, context, wave: o.wave, source: o.adapter ? `${o.model} + ${o.adapter}` : o.model,
    contextSource: o.sampling.maxLen ? '--max-len' : 'max_position_embeddings in config.json',
    model: () => {
      const t0 = performance.now();
      const model = loadModel(o.model);
      // Merged, the adapter costs nothing per token; evaluation never needs the separate factors.
      if (o.adapter) mergeLora(model, loadPeftAdapter(o.adapter, model.config)).dispose();
      loadS = seconds(t0);
      return model;
    },
    generator: generatorOptions(config, o.sampling, tok),
    grade: (i, results) => results.map((r) => gradeRollout(set.items[i]!, r, grade, countTokens, set.dataset)),
    journal: { path: journalFile, settings, resume },
    notice: (line) => notice(`still eval: ${line}`),
    onStep: o.onStep,
    engine: o.engine,
  });
  if (job.capped > 0) notice(`still eval: ${job.capped} of ${problems.length} prompts leave fewer than --max-new-tokens ${maxNew} positions in the context of ${context}; they generate less`);
  const rollouts = job.rows.flat();

  const skipUnits = set.dataset === 'minerva';
  const scores = scoreRollouts(rollouts, o.sampling.n, (a) => normalizeAnswer(a, { skipUnits }));
  const summary: EvalSummary = {
    bench: set.name,
    n: o.sampling.n,
    ...scores,
    config: { ...settings, limit: o.limit ?? null, backend: o.engine ? 'openai' : getBackend().name, max_batch: job.maxBatch },
    resumed_problems: job.resumed,
    wall_s: 0, // set last, below
    load_s: loadS,
    sample_s: job.sampleSeconds,
    grade_s: job.gradeSeconds,
    prompt_tokens: problems.reduce((s, p) => s + p.prompt.length, 0),
    generated_tokens: rollouts.reduce((s, r) => s + r.tokens, 0),
    tokens_per_s: job.sampleSeconds > 0 ? job.generatedTokens / job.sampleSeconds : 0,
  };
  summary.wall_s = seconds(started);
  writeEvalFiles(out, rollouts, summary);
  discardJournal(journalFile); // its rollouts are in results.jsonl now
  return { rollouts, summary };
}

/** results.jsonl (one rollout a line) and summary.json, each replaced atomically. */
export function writeEvalFiles(out: string, rollouts: readonly EvalRollout[], summary: EvalSummary): void {
  mkdirSync(out, { recursive: true });
  // One buffer per line: a long eval's texts can pass the size of a single JS string.
  writeFileAtomic(join(out, 'results.jsonl'), rollouts.map((r) => Buffer.from(`${JSON.stringify(r)}\n`, 'utf8')));
  writeJsonAtomic(join(out, 'summary.json'), summary);
}
