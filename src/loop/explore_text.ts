// The explore stage for real models (`still explore --data`): k rollouts per question of a JSONL set, each
// prompted as `still eval --prompt still2` does (the STILL-2 instruction + question through the chat
// template, stopping at <|end_of_solution|>), verified against the row's gold answer, and the correct
// ones kept as STILL-2 rows {question, combined_text, domain} that `still imitate --data` trains on.
//
// Each problem's rollouts are journaled as soon as its k samples finish (io/journal.ts), so `--resume`
// continues an interrupted run, sampling only the problems it lacks with the same seeds.
//
// The gate is strict, as the toy's is (verify.ts): a rollout enters the pool only in the long-thought
// format (thought block, then solution block) and with a \boxed{} answer inside its solution block that
// the math grader accepts. A correct answer in any other shape would teach the format wrong.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { still2FormatProblem } from '../data/still2.ts';
import { promptIds, styleStops } from '../eval/prompt.ts';
import { completedText } from '../eval/rollout.ts';
import { loadHfConfig } from '../io/hf_config.ts';
import { loadHfTokenizer } from '../io/hf_tokenizer.ts';
import { JournalWriter, openJournal } from '../io/journal.ts';
import { loadPeftAdapter } from '../io/peft.ts';
import { loadModel } from '../nn/load.ts';
import { mergeLora } from '../nn/merge.ts';
import { makeGenerator, samplingParams, type SamplingFlags } from '../cli/sampling_options.ts';
import { lastBoxed, solutionBlock } from '../verify/extract.ts';
import { parseJsonl, readGenericGold, readGold, type EvalItem, type EvalSetName } from '../verify/gold.ts';
import { Pool } from './pool.ts';
import { onFinishedRequest } from '../sample/finished_requests.ts';
import type { StageLog } from './progress.ts';
import { questionId, readStill2Rows, type Still2Row } from './stage_pool_rows.ts';

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

/** One sampled text for problems[problem]. */
export interface TextRollout {
  problem: number;
  sample: number;
  /** The completion as graded (the stop tag put back, see eval/rollout.ts). */
  text: string;
  tokens: number;
}

/** Does a predicted answer equal the gold one (the math grader's gradeAnswer, or a stand-in in tests)? */
export type AnswerJudge = (pred: string, gold: string) => boolean;

export interface TextVerdict {
  correct: boolean;
  answer: string | null;
  /** Why the text is not in the long-thought format, or null. */
  formatProblem: string | null;
}

export function verifyText(text: string, gold: string, judge: AnswerJudge): TextVerdict {
  const formatProblem = still2FormatProblem(text);
  const answer = lastBoxed(solutionBlock(text) ?? '');
  return { correct: formatProblem === null && answer !== null && judge(answer, gold), answer, formatProblem };
}

export interface DataExploreCounts {
  problems: number;
  rollouts: number;
  /** Rollouts that passed the gate. */
  correct: number;
  /** Rollouts not in the long-thought format (never admitted, whatever their answer). */
  unformatted: number;
  /** Pool growth. */
  added: number;
  /** Share of problems with a correct rollout (percent), overall and per `level` label where rows have one. */
  solved: number;
  solvedByLevel: Record<string, number>;
}

/** A pool of STILL-2 rows: trajectories keyed by question, and the domain each question's rows carry. */
export class TextPool {
  readonly pool: Pool;
  private readonly domains = new Map<string, string>();

  constructor(cap: number) {
    this.pool = new Pool(cap);
  }

  static load(file: string, cap: number): TextPool {
    const p = new TextPool(cap);
    for (const row of readStill2Rows(file)) p.add(row, 0);
    return p;
  }

  add(row: Still2Row, round: number): void {
    const problemId = questionId(row.question);
    if (!this.domains.has(problemId)) this.domains.set(problemId, row.domain);
    this.pool.add({ problemId, level: 0, question: row.question, completion: row.combined_text, round, reflection: false });
  }

  get size(): number {
    return this.pool.size;
  }

  rows(): Still2Row[] {
    return this.pool.all().map((t) => ({ question: t.question, combined_text: t.completion, domain: this.domains.get(t.problemId) ?? 'math' }));
  }
}

/** The verification gate for text rollouts: only verified-correct ones enter the pool. */
export function admitVerified(
  problems: readonly DataProblem[], rollouts: readonly TextRollout[], pool: TextPool, round: number, judge: AnswerJudge,
): DataExploreCounts {
  const before = pool.size;
  const solved = new Set<number>();
  let correct = 0;
  let unformatted = 0;
  for (const r of rollouts) {
    const p = problems[r.problem];
    if (p === undefined) throw new Error(`explore: rollout for problem ${r.problem}, but there are ${problems.length} problems`);
    const v = verifyText(r.text, p.gold, judge);
    if (v.formatProblem !== null) unformatted++;
    if (!v.correct) continue;
    correct++;
    solved.add(r.problem);
    pool.add({ question: p.problem, combined_text: r.text, domain: p.domain }, round);
  }
  const solvedByLevel: Record<string, number> = {};
  for (const level of new Set(problems.flatMap((p) => (p.level === undefined ? [] : [p.level])))) {
    const at = problems.map((p, i) => [p, i] as const).filter(([p]) => p.level === level);
    solvedByLevel[level] = (100 * at.filter(([, i]) => solved.has(i)).length) / at.length;
  }
  return {
    problems: problems.length, rollouts: rollouts.length, correct, unformatted, added: pool.size - before,
    solved: problems.length ? (100 * solved.size) / problems.length : 0, solvedByLevel,
  };
}

export interface DataExploreOptions {
  model: string;
  /** A PEFT LoRA adapter merged into the weights (e.g. `still imitate`'s output). */
  adapter?: string;
  problems: DataProblem[];
  /** A shipped set's name: the grader's per-set rules (percent leniency, units). */
  dataset?: string;
  k: number;
  temperature: number;
  topP: number;
  maxNewTokens: number;
  seed: number;
  maxBatch: number;
  cap: number;
  /** A STILL-2 pool to merge into. */
  poolIn?: string;
  /** The journal of finished problems (see io/journal.ts); the caller deletes it once the pool is written. */
  journal: string;
  /** Continue the run `journal` holds (same settings). */
  resume?: boolean;
  /** The --data file, for the settings a resumed run must match. */
  data?: string;
  log: StageLog;
}

/** A journal line: one rollout, keyed by the problem's position in the data (its id is checked on resume). */
interface ExploreJournalRow {
  id: string;
  sample: number;
  problem_id: string;
  text: string;
  tokens: number;
}

export interface DataExploreResult extends DataExploreCounts {
  poolSize: number;
  tokens: number;
  seconds: number;
  pool: TextPool;
}

export async function exploreData(o: DataExploreOptions): Promise<DataExploreResult> {
  const tok = loadHfTokenizer(o.model);
  if (tok.chatTemplate === null) o.log.line(`explore: ${o.model} has no chat template; prompts are the bare STILL-2 user turn`);
  const prompts = o.problems.map((p) => promptIds(tok, p.problem, 'still2'));
  const pool = o.poolIn ? TextPool.load(o.poolIn, o.cap) : new TextPool(o.cap);

  // Each sample may run to the model's context; a prompt that fills it is an error (as in `still eval`).
  // Everything that can refuse the run is checked before the model loads.
  const context = loadHfConfig(o.model).maxPositionEmbeddings;
  prompts.forEach((p, i) => {
    if (p.length >= context) throw new Error(`--data: problem '${o.problems[i]!.id}' has a ${p.length}-token prompt, and the context is ${context} (max_position_embeddings)`);
  });
  const n = o.temperature < 1e-5 ? 1 : o.k; // greedy samples would all be the same
  const flags: SamplingFlags = {
    maxNewTokens: o.maxNewTokens, n, temperature: o.temperature, topP: o.topP, seed: o.seed, stop: styleStops('still2'), maxBatch: o.maxBatch,
    maxLen: Math.min(Math.max(...prompts.map((p) => p.length)) + o.maxNewTokens, context),
  };
  const params = samplingParams(flags);
  o.log.line(`explore: ${o.problems.length} problems × k=${n}, temperature ${o.temperature}, up to ${o.maxNewTokens} new tokens` +
    `${o.poolIn ? `, merging into a pool of ${pool.size}` : ''}`);

  const settings = {
    model: resolve(o.model), adapter: o.adapter ? resolve(o.adapter) : null, data: o.data ? resolve(o.data) : null, dataset: o.dataset ?? null,
    k: n, temperature: o.temperature, top_p: o.topP, max_new_tokens: o.maxNewTokens, seed: o.seed, context,
  };
  const prior = openJournal<ExploreJournalRow>(o.journal, settings, n, !!o.resume, (line) => o.log.line(`explore: ${line}`));
  const done = new Map<number, TextRollout[]>();
  for (const [key, rows] of prior?.done ?? []) {
    const i = Number(key);
    if (!(i < o.problems.length)) continue; // beyond this run's --problems
    if (rows[0]!.problem_id !== o.problems[i]!.id) {
      throw new Error(`${o.journal}: problem ${i + 1} was '${rows[0]!.problem_id}' there and is '${o.problems[i]!.id}' in --data now; resume with the same data, or choose another --out`);
    }
    done.set(i, rows.map((r) => ({ problem: i, sample: r.sample, text: r.text, tokens: r.tokens })));
  }
  const todo = o.problems.map((_, i) => i).filter((i) => !done.has(i));
  if (prior) o.log.line(`explore: resuming: ${done.size} of ${o.problems.length} problems done, ${todo.length} to sample`);

  const model = loadModel(o.model, { quiet: true });
  if (o.adapter) mergeLora(model, loadPeftAdapter(o.adapter, model.config)).dispose();
  // The CAS behind the grader takes seconds to load; only a run that grades pays for it.
  const { gradeAnswer } = await import('../verify/grade.ts');
  const journal = new JournalWriter<ExploreJournalRow>(o.journal, settings, prior);
  const gen = makeGenerator(model, todo.map((i) => prompts[i]!), flags, tok);
  const bar = o.log.bar('explore', todo.length * n, 'rollouts');
  const started = performance.now();
  try {
    // A problem's rollouts reach the journal as soon as its last sample finishes.
    const finish = onFinishedRequest(n, (request, results) => {
      const i = todo[request]!;
      const rollouts = results.map((r) => ({ problem: i, sample: r.sample, text: completedText(r), tokens: r.tokens.length }));
      journal.append(rollouts.map((r) => ({ id: String(i), sample: r.sample, problem_id: o.problems[i]!.id, text: r.text, tokens: r.tokens })));
      done.set(i, rollouts);
    });
    gen.generate(
      todo.map((i) => ({ prompt: prompts[i]!, n, seedIndex: i, params: { ...params, maxNewTokens: Math.min(o.maxNewTokens, context - prompts[i]!.length) } })),
      { onStep: (e) => bar.update(e.finished), onToken: finish },
    );
  } finally {
    gen.dispose();
    bar.stop();
    journal.close(false);
  }
  const rollouts = o.problems.flatMap((_, i) => done.get(i)!);
  const seconds = (performance.now() - started) / 1000;
  const counts = admitVerified(o.problems, rollouts, pool, 1, (pred, gold) => gradeAnswer(pred, gold, o.dataset));
  return { ...counts, poolSize: pool.size, tokens: rollouts.reduce((s, r) => s + r.tokens, 0), seconds, pool };
}
