// The explore stage for text models (`still explore --data`, and each round of the STILL-2 loop on HF
// checkpoints): k rollouts per problem, prompted as `still eval` prompts (the chat template around the
// STILL-2 instruction + question, or the bare question; stopping at <|end_of_solution|>), graded against
// the problem's gold answer as each problem finishes, and the verified ones admitted to a pool of STILL-2
// rows through the shared gate (pool_gate.ts).
//
// Sampling, grading, journaling and resume are the shared rollout job's (eval/rollout_job.ts): each
// problem's graded rollouts are journaled as soon as its k samples finish, so `resume` continues an
// interrupted run, sampling only the problems it lacks with the same seeds.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { benchOverlapWarnings } from '../data/bench_overlap.ts';
import { THOUGHT_OPEN } from '../data/still2.ts';
import { promptIds, styleStops, type PromptStyle } from '../eval/prompt.ts';
import { completedText } from '../eval/rollout.ts';
import type { OpenAIEngineOptions } from '../eval/remote_engine.ts';
import { runRolloutJobAsync } from '../eval/rollout_job.ts';
import { loadHfConfig } from '../io/hf_config.ts';
import { loadHfTokenizer } from '../io/hf_tokenizer.ts';
import type { FinishReason } from '../sample/request.ts';
import { checkAdapterBase } from '../io/adapter_base.ts';
import { loadPeftAdapter } from '../io/peft.ts';
import { loadModel } from '../nn/load.ts';
import { mergeLora } from '../nn/merge.ts';
import { generatorOptions, samplingParams } from '../sample/sampling.ts';
import { thoughtText } from '../tasks/still_format.ts';
import { parseJsonl, readGenericGold, readGold, type EvalItem, type EvalSetName } from '../verify/gold.ts';
import { admitToPool, type GateCounts, type PoolFilter } from './pool_gate.ts';
import type { StageLog } from './progress.ts';
import { verifyText, type AnswerJudge, type TextPool } from './text_pool.ts';

/** A question to explore, with its gold answer and the domain its pool rows will carry. */
export interface DataProblem extends EvalItem {
  domain: string;
}

/**
 * Rows {"question"|"problem", "answer"} (or "gold", or a "solution" with a \boxed{} answer), read as
 * `still eval` reads a JSONL bench; with `format`, rows of one of the shipped sets' layouts. Errors name
 * the file, the line and the field.
 */
export function loadExploreData(file: string, format: EvalSetName | null, limit?: number): DataProblem[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--data ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const rows = parseJsonl(text, file);
  if (rows.length === 0) throw new Error(`--data ${file}: no rows (expected one {"question", "answer"} object per line)`);
  return rows.slice(0, limit ?? rows.length).map(({ row, line }) => {
    const item = format ? readGold(format, row, { file, line }) : readGenericGold(row, { file, line });
    return { ...item, domain: typeof row.domain === 'string' && row.domain ? row.domain : 'math' };
  });
}

/** One graded rollout: a line of the explore journal (and of the STILL-2 loop's rollouts.jsonl). */
export interface TextRollout {
  /** The problem's id. */
  id: string;
  sample: number;
  /** The completion as graded (the stop tag put back, see eval/rollout.ts). */
  text: string;
  tokens: number;
  /** Tokens between the thought tags (to the end when the close tag never came), else all generated tokens. */
  thought_tokens: number;
  finish_reason: FinishReason;
  correct: boolean;
  answer: string | null;
  /** Why the text is not in the long-thought format, or null. */
  format_problem: string | null;
  /** Mean log-prob per generated token under the sampling model (when log-probs were asked for). */
  logprob?: number;
}

export interface TextSampling {
  /** Rollouts per problem (1 when greedy). */
  k: number;
  temperature: number;
  topP: number;
  maxNewTokens: number;
  seed: number;
  maxBatch: number;
}

export interface TextExploreOptions {
  model: string;
  /** A PEFT LoRA adapter merged into the weights (e.g. `still imitate`'s output). */
  adapter?: string;
  /** Load `adapter` even if it records another base model. */
  forceAdapter?: boolean;
  problems: readonly DataProblem[];
  /** A shipped set's name: the grader's per-set rules (percent leniency, units). */
  dataset?: string;
  prompt?: PromptStyle;
  sampling: TextSampling;
  /** The pool the verified rollouts join (it may hold rows already). */
  pool: TextPool;
  /** The round the new trajectories are found in. */
  round: number;
  /** The pool's refinement rules beyond correctness (e.g. a length window). */
  filter?: PoolFilter;
  /** The journal of finished problems; the caller deletes it once its output is written. */
  journal: string;
  /** Continue the run `journal` holds (same settings). */
  resume?: boolean;
  /** Problems per generator call, so a resumed run matches an uninterrupted one bit for bit (rollout_job.ts). */
  wave?: number;
  /** Settings a resumed run must also match (e.g. the data file). */
  settings?: Record<string, unknown>;
  /**
   * Sample on this OpenAI-compatible server instead of in-process; it must serve `model` (with `adapter`
   * loaded, under engine.model, when there is one). The local model directory still gives the tokenizer.
   */
  engine?: OpenAIEngineOptions;
  log: StageLog;
}

export interface TextExploreResult extends GateCounts {
  /** Every graded rollout, problem by problem. */
  graded: TextRollout[][];
  /** Rollouts that hit the token budget before finishing. */
  truncated: number;
  tokens: number;
  seconds: number;
  resumed: number;
}

export async function exploreText(o: TextExploreOptions): Promise<TextExploreResult> {
  const started = performance.now();
  const style = o.prompt ?? 'still2';
  const tok = loadHfTokenizer(o.model);
  if (tok.chatTemplate === null) o.log.line(`explore: ${o.model} has no chat template; prompts are the bare user turn`);
  const problems = o.problems.map((p) => ({ id: p.id, prompt: promptIds(tok, p.problem, style) }));
  const config = loadHfConfig(o.model);
  if (o.adapter) checkAdapterBase(o.adapter, o.model, { force: o.forceAdapter, notice: (l) => o.log.line(`explore: ${l}`) });
  const s = o.sampling;
  const n = s.temperature < 1e-5 ? 1 : s.k; // greedy samples would all be the same
  const sampling = { maxNewTokens: s.maxNewTokens, n, temperature: s.temperature, topP: s.topP, seed: s.seed, stop: styleStops(style), maxBatch: s.maxBatch,
    logprobs: true }; // every rollout keeps its mean token log-prob: perplexity keep rules and preference pairs read it
  const settings = {
    model: resolve(o.model), adapter: o.adapter ? resolve(o.adapter) : null, dataset: o.dataset ?? null, prompt: style,
    k: n, temperature: s.temperature, top_p: s.topP, max_new_tokens: s.maxNewTokens, seed: s.seed,
    context: config.maxPositionEmbeddings, ...(o.engine ? { engine: 'openai', served_model: o.engine.model } : {}), ...o.settings,
  };
  for (const warning of benchOverlapWarnings(o.problems.map((p) => p.problem), 'the explore data')) o.log.line(`explore: ${warning}`);
  o.log.line(`explore: ${o.problems.length} problems × k=${n}, temperature ${s.temperature}, up to ${s.maxNewTokens} new tokens` +
    `${o.pool.size ? `, merging into a pool of ${o.pool.size}` : ''}`);

  // The CAS behind the grader takes seconds to load; only a run that grades pays for it.
  const { gradeAnswer } = await import('../verify/grade.ts');
  const judge: AnswerJudge = (pred, gold) => gradeAnswer(pred, gold, o.dataset);
  const bar = o.log.bar(`explore (round ${o.round})`, problems.length * n, 'rollouts');
  let job;
  try {
    job = await runRolloutJobAsync<TextRollout>({
      problems, n, params: samplingParams(sampling), source: o.adapter ? `${o.model} + ${o.adapter}` : o.model, context: config.maxPositionEmbeddings, contextSource: 'max_position_embeddings', wave: o.wave,
      generator: generatorOptions(config, sampling, tok),
      model: () => {
        const model = loadModel(o.model, { quiet: true });
        if (o.adapter) mergeLora(model, loadPeftAdapter(o.adapter, model.config)).dispose();
        return model;
      },
      grade: (i, results) => results.map((r) => {
        const text = completedText(r);
        const v = verifyText(text, o.problems[i]!.gold, judge);
        const row: TextRollout = {
          id: o.problems[i]!.id, sample: r.sample, text, tokens: r.tokens.length,
          thought_tokens: text.includes(THOUGHT_OPEN) ? tok.encode(thoughtText(text)).length : r.tokens.length, finish_reason: r.finishReason,
          correct: v.correct, answer: v.answer, format_problem: v.formatProblem,
        };
        if (r.logprobs && r.logprobs.length > 0) row.logprob = r.logprobs.reduce((a, x) => a + x, 0) / r.logprobs.length;
        return row;
      }),
      journal: { path: o.journal, settings, resume: !!o.resume },
      notice: (line) => o.log.line(`explore: ${line}`),
      onStep: (e) => bar.update(e.finished),
      engine: o.engine,
    });
  } finally {
    bar.stop();
  }
  if (job.capped > 0) o.log.line(`explore: ${job.capped} of ${problems.length} prompts leave fewer than ${s.maxNewTokens} new tokens in the context of ${config.maxPositionEmbeddings}; they generate less`);
  const counts = admitToPool(o.pool.pool, o.problems, job.rows.flatMap((rows, i) => rows.map((r) => ({
    problem: i, correct: r.correct, formatProblem: r.format_problem,
    trajectory: o.pool.trajectory(
      { question: o.problems[i]!.problem, combined_text: r.text, domain: o.problems[i]!.domain }, o.round,
      { tokens: r.tokens, ...(r.logprob !== undefined ? { logprob: r.logprob } : {}) },
    ),
  }))), o.filter);
  const all = job.rows.flat();
  return {
    ...counts, graded: job.rows, truncated: all.filter((r) => r.finish_reason === 'length').length,
    tokens: all.reduce((a, r) => a + r.tokens, 0), seconds: (performance.now() - started) / 1000, resumed: job.resumed,
  };
}
