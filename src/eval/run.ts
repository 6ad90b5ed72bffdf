// `still eval`'s pipeline: load an eval set and a model, sample every problem (greedy or n samples),
// grade each rollout against the gold answer, score, and write results.jsonl + summary.json. Problems are
// journaled as they finish (DIR/results.partial.jsonl, see io/journal.ts), so --resume continues a run
// that died, with the same seeds.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { loadHfConfig } from '../io/hf_config.ts';
import { loadHfTokenizer } from '../io/hf_tokenizer.ts';
import { loadPeftAdapter } from '../io/peft.ts';
import { loadModel } from '../nn/load.ts';
import { mergeLora } from '../nn/merge.ts';
import type { StepEvent } from '../sample/generator.ts';
import { onFinishedRequest } from '../sample/finished_requests.ts';
import type { GenerationRequest } from '../sample/request.ts';
import { getBackend } from '../tensor/context.ts';
import { EVAL_SETS, evalSetName, loadEvalSet, type EvalItem } from '../verify/gold.ts';
import { normalizeAnswer } from '../verify/normalize.ts';
import { makeGenerator, samplingParams, type SamplingFlags } from '../cli/sampling_options.ts';
import { promptIds, styleStops, type PromptStyle } from './prompt.ts';
import { JournalWriter, openJournal, type JournalSettings } from '../io/journal.ts';
import { gradeRollout, type EvalRollout } from './rollout.ts';
import { scoreRollouts, type EvalScores } from './summary.ts';

export interface EvalOptions {
  model: string;
  adapter?: string;
  /** A set name (math500, aime24, …) or a .jsonl path. */
  bench: string;
  limit?: number;
  prompt: PromptStyle;
  sampling: SamplingFlags;
  out: string;
  /** Continue the unfinished eval journaled in `out` (same settings), sampling only the problems it lacks. */
  resume?: boolean;
  onStep?: (e: StepEvent) => void;
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
  requireTokenizer(o.model);
  const set = resolveBench(o.bench, o.limit);
  const tok = loadHfTokenizer(o.model);
  if (tok.chatTemplate === null) notice(`still eval: ${o.model} has no chat template; prompts are the bare user turn`);
  const prompts = set.items.map((item) => promptIds(tok, item.problem, o.prompt));

  // Each sample may run to the model's context (or --max-len): prompts that fill it are an error, and
  // samples that would pass it get fewer new tokens, as vLLM's max_model_len does.
  // Checked before the model loads, so a prompt that cannot fit fails in a second, not after minutes.
  const context = o.sampling.maxLen ?? loadHfConfig(o.model).maxPositionEmbeddings;
  const maxNew = o.sampling.maxNewTokens;
  const params = samplingParams({ ...o.sampling, stop: [...o.sampling.stop, ...styleStops(o.prompt)] });
  let capped = 0;
  const requests: GenerationRequest[] = prompts.map((prompt, i) => {
    if (prompt.length >= context) {
      throw new Error(`problem '${set.items[i]!.id}': the prompt has ${prompt.length} tokens, and the context is ${context} (${o.sampling.maxLen ? '--max-len' : 'max_position_embeddings in config.json'})`);
    }
    const room = context - prompt.length;
    if (room < maxNew) capped++;
    return { prompt, n: o.sampling.n, params: { ...params, maxNewTokens: Math.min(maxNew, room) }, seedIndex: i };
  });
  if (capped > 0) notice(`still eval: ${capped} of ${requests.length} prompts leave fewer than --max-new-tokens ${maxNew} positions in the context of ${context}; they generate less`);

  // The settings that decide the samples: a resumed run must match them (the limit may change: problems are
  // matched by id; the backend and batch size may change: they move samples only by rounding).
  const settings: JournalSettings = {
    model: resolve(o.model), adapter: o.adapter ? resolve(o.adapter) : null, bench: o.bench, prompt: o.prompt,
    chat_template: tok.chatTemplate !== null, n: o.sampling.n, temperature: params.temperature, top_p: params.topP ?? 1,
    top_k: params.topK ?? 0, min_p: params.minP ?? 0, repetition_penalty: params.repetitionPenalty ?? 1,
    max_new_tokens: maxNew, context, seed: o.sampling.seed ?? 0, stop: params.stop ?? [],
  };
  const journalFile = join(o.out, 'results.partial.jsonl');
  const prior = openJournal<EvalRollout>(journalFile, settings, o.sampling.n, !!o.resume, notice);
  const done = new Map([...(prior?.done ?? [])].filter(([id]) => set.items.some((item) => item.id === id)));
  const todo = set.items.map((_, i) => i).filter((i) => !done.has(set.items[i]!.id));
  if (prior) notice(`still eval: resuming ${o.out}: ${done.size} of ${set.items.length} problems done, ${todo.length} to sample`);

  // The CAS behind the grader takes seconds to load; only commands that grade pay for it.
  const { grade } = await import('../verify/grade.ts');
  const countTokens = (text: string) => tok.encode(text).length;

  const model = todo.length > 0 ? loadModel(o.model) : null;
  if (model && o.adapter) {
    // Merged, the adapter costs nothing per token; evaluation never needs the separate factors.
    mergeLora(model, loadPeftAdapter(o.adapter, model.config)).dispose();
  }
  const loadS = seconds(started);

  const journal = new JournalWriter(journalFile, settings, prior);
  let gradeS = 0;
  let sampleS = 0;
  let maxBatch = 0;
  try {
    if (model) {
      const longest = Math.max(...todo.map((i) => prompts[i]!.length));
      const gen = makeGenerator(model, todo.map((i) => prompts[i]!), { ...o.sampling, maxLen: Math.min(longest + maxNew, context) }, tok);
      maxBatch = gen.maxBatch;
      // A problem is graded and journaled as soon as its last sample finishes.
      const finish = onFinishedRequest(o.sampling.n, (request, results) => {
        const t0 = performance.now();
        const item = set.items[todo[request]!]!;
        const graded = results.map((r) => gradeRollout(item, r, grade, countTokens, set.dataset));
        journal.append(graded);
        done.set(item.id, graded);
        gradeS += seconds(t0);
      });
      const sampleT0 = performance.now();
      try {
        gen.generate(todo.map((i) => requests[i]!), { onStep: o.onStep, onToken: finish });
      } finally {
        gen.dispose();
      }
      sampleS = seconds(sampleT0) - gradeS;
    }
  } catch (e) {
    journal.close(false);
    throw e;
  }
  const rollouts = set.items.flatMap((item) => done.get(item.id)!);

  const skipUnits = set.dataset === 'minerva';
  const scores = scoreRollouts(rollouts, o.sampling.n, (a) => normalizeAnswer(a, { skipUnits }));
  const generated = rollouts.reduce((s, r) => s + r.tokens, 0);
  const fresh = todo.reduce((s, i) => s + done.get(set.items[i]!.id)!.reduce((t, r) => t + r.tokens, 0), 0);
  const summary: EvalSummary = {
    bench: set.name,
    n: o.sampling.n,
    ...scores,
    config: { ...settings, limit: o.limit ?? null, backend: getBackend().name, max_batch: maxBatch },
    resumed_problems: set.items.length - todo.length,
    wall_s: 0, // set last, below
    load_s: loadS,
    sample_s: sampleS,
    grade_s: gradeS,
    prompt_tokens: prompts.reduce((s, p) => s + p.length, 0),
    generated_tokens: generated,
    tokens_per_s: sampleS > 0 ? fresh / sampleS : 0,
  };
  summary.wall_s = seconds(started);
  writeEvalFiles(o.out, rollouts, summary);
  journal.close(true); // its rollouts are in results.jsonl now
  return { rollouts, summary };
}

/** results.jsonl (one rollout a line) and summary.json, each replaced atomically. */
export function writeEvalFiles(out: string, rollouts: readonly EvalRollout[], summary: EvalSummary): void {
  mkdirSync(out, { recursive: true });
  // One buffer per line: a long eval's texts can pass the size of a single JS string.
  writeFileAtomic(join(out, 'results.jsonl'), rollouts.map((r) => Buffer.from(`${JSON.stringify(r)}\n`, 'utf8')));
  writeJsonAtomic(join(out, 'summary.json'), summary);
}
