// Preference pairs from explored rollouts: for each problem, a correct rollout (chosen) against an
// incorrect one (rejected). STILL-2 chooses the correct rollout with the highest perplexity and the
// incorrect one with the lowest, i.e. the pair the model is least sure is right way round, from the
// sampler's own log-probs ('perplexity', the default). 'confident' (not the paper's) pairs the correct
// rollout the sampler was most sure of (lowest perplexity) with the incorrect one it was most sure of,
// meant as a clean positive against the hardest negative: a correct rollout with an unlikely wrong step
// inside (a slip that did not change the answer) has a high perplexity. On the toy it picked fewer such
// chosen but did not raise held-out accuracy (bench/NOTES.md, "SFT+DPO on the toy"). 'random' (seeded)
// and 'shortest' are the simple baselines.
// With perProblem > 1 the i-th chosen meets the i-th rejected of each ordering, so no rollout is reused.
//
// HF runs read the all-rollouts file an explore run writes (rollouts_file.ts) and give TRL-layout text
// rows {prompt, chosen, rejected}, the prompt rendered exactly as explore prompted it; the toy gives
// pre-tokenized rows with each completion's thought length (data/pairs.ts reads both).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { loadHfTokenizer, type HfTokenizer } from '../io/hf_tokenizer.ts';
import { userTurn, type PromptStyle } from '../eval/prompt.ts';
import { THOUGHT_CLOSE } from '../data/still2.ts';
import { Rng } from '../tasks/rng.ts';
import { readRolloutsFile, type RolloutsFileRow } from './rollouts_file.ts';

export const PAIR_RULES = ['perplexity', 'confident', 'random', 'shortest'] as const;
export type PairRule = (typeof PAIR_RULES)[number];

export function pairRule(name: string): PairRule {
  if ((PAIR_RULES as readonly string[]).includes(name)) return name as PairRule;
  throw new Error(`pair selection must be one of ${PAIR_RULES.join(', ')}, got '${name}'`);
}

/** What selection needs to know about a rollout. */
export interface PairCandidate {
  /** Correct and in the long-thought format: may be chosen. */
  chosenOk: boolean;
  /** Incorrect: may be rejected. */
  rejectedOk: boolean;
  /** Mean token log-prob under the sampler (perplexity = exp(−logprob)). */
  logprob?: number;
  tokens: number;
  /** Names the rollout in errors, e.g. 'rollouts.jsonl: problem 17, sample 3'. */
  where: string;
}

export interface PairSelection {
  rule: PairRule;
  /** Pairs per problem at most (default 1). */
  perProblem?: number;
  seed?: number;
}

/** Indices [chosen, rejected] into one problem's candidates, best pair first. */
export function selectPairs(candidates: readonly PairCandidate[], s: PairSelection, problemKey: string): [number, number][] {
  const chosen = candidates.map((c, i) => ({ c, i })).filter((x) => x.c.chosenOk);
  const rejected = candidates.map((c, i) => ({ c, i })).filter((x) => x.c.rejectedOk);
  const n = Math.min(chosen.length, rejected.length, s.perProblem ?? 1);
  if (n === 0) return [];
  const logprob = (x: { c: PairCandidate }): number => {
    if (x.c.logprob === undefined) throw new Error(`${x.c.where}: no 'logprob'; ${s.rule} selection needs every rollout's mean token log-prob (explore again, or choose --pairs random|shortest)`);
    return x.c.logprob;
  };
  // Array.prototype.sort is stable: ties keep the rollouts' order.
  if (s.rule === 'perplexity') {
    for (const x of [...chosen, ...rejected]) logprob(x);
    chosen.sort((a, b) => logprob(a) - logprob(b)); // lowest log-prob = highest perplexity first
    rejected.sort((a, b) => logprob(b) - logprob(a)); // highest log-prob = lowest perplexity first
  } else if (s.rule === 'confident') {
    for (const x of [...chosen, ...rejected]) logprob(x);
    chosen.sort((a, b) => logprob(b) - logprob(a)); // both sides: highest log-prob = lowest perplexity first
    rejected.sort((a, b) => logprob(b) - logprob(a));
  } else if (s.rule === 'shortest') {
    chosen.sort((a, b) => a.c.tokens - b.c.tokens);
    rejected.sort((a, b) => a.c.tokens - b.c.tokens);
  } else {
    const rng = new Rng(`pairs/${s.seed ?? 0}/${problemKey}`);
    chosen.splice(0, chosen.length, ...rng.shuffled(chosen));
    rejected.splice(0, rejected.length, ...rng.shuffled(rejected));
  }
  return Array.from({ length: n }, (_, k) => [chosen[k].i, rejected[k].i]);
}

export interface PairCounts {
  problems: number;
  /** Problems with at least one chosen and one rejected rollout. */
  mixed: number;
  pairs: number;
}

/** One TRL text row per pair, from an explore run's rollouts file; ids and samples kept for reading. */
export interface TextPairRow {
  prompt: string;
  chosen: string;
  rejected: string;
  id: string;
  chosen_sample: number;
  rejected_sample: number;
}

/** The prompt text explore sampled from: the chat template around the user turn, or the bare user turn. */
export function explorePromptText(tok: HfTokenizer, question: string, style: PromptStyle): string {
  const content = userTurn(question, style);
  return tok.chatTemplate === null ? content : tok.renderChat([{ role: 'user', content }], { addGenerationPrompt: true });
}

/** Pairs from the rows of a rollouts file (problems in order of first appearance). */
export function pairsFromRolloutRows(
  rows: readonly RolloutsFileRow[], file: string, tok: HfTokenizer, style: PromptStyle, s: PairSelection,
): { rows: TextPairRow[]; counts: PairCounts } {
  const byProblem = new Map<string, RolloutsFileRow[]>();
  for (const r of rows) {
    const list = byProblem.get(r.id);
    if (list) list.push(r);
    else byProblem.set(r.id, [r]);
  }
  const out: TextPairRow[] = [];
  let mixed = 0;
  for (const [id, list] of byProblem) {
    const picks = selectPairs(list.map((r) => ({
      chosenOk: r.correct && r.format_problem === null, rejectedOk: !r.correct, logprob: r.logprob, tokens: r.tokens,
      where: `${file}: problem '${id}', sample ${r.sample}`,
    })), s, id);
    if (picks.length > 0) mixed++;
    const prompt = picks.length > 0 ? explorePromptText(tok, list[0].question, style) : '';
    for (const [c, r] of picks) {
      out.push({ prompt, chosen: list[c].text, rejected: list[r].text, id, chosen_sample: list[c].sample, rejected_sample: list[r].sample });
    }
  }
  return { rows: out, counts: { problems: byProblem.size, mixed, pairs: out.length } };
}

/** A pre-tokenized pair row (the toy's): prompt and completion ids and each completion's thought length. */
export interface TokenPairRow {
  prompt_input_ids: number[];
  chosen_input_ids: number[];
  rejected_input_ids: number[];
  chosen_thought_tokens: number;
  rejected_thought_tokens: number;
  id: string;
}

/**
 * A token row from two completions (text) and an encoder; the thought is the completion's text through
 * <|end_of_thought|> (all of it when absent), and `eos` ends both completions.
 */
export function tokenPairRow(id: string, prompt: number[], chosen: string, rejected: string, encode: (s: string) => number[], eos: number): TokenPairRow {
  const side = (text: string): [number[], number] => {
    const at = text.indexOf(THOUGHT_CLOSE);
    const cut = at < 0 ? text.length : at + THOUGHT_CLOSE.length;
    const thought = encode(text.slice(0, cut));
    return [[...thought, ...encode(text.slice(cut)), eos], thought.length];
  };
  const [c, ct] = side(chosen);
  const [r, rt] = side(rejected);
  return { prompt_input_ids: prompt, chosen_input_ids: c, rejected_input_ids: r, chosen_thought_tokens: ct, rejected_thought_tokens: rt, id };
}

/**
 * Build pairs from an explore run's rollouts file and write them as TRL text rows to `out` (what `still dpo
 * --rollouts` and the STILL-2 loop's DPO step train on). The tokenizer directory renders the prompts as
 * explore did. `out` is written even when no problem gave a pair (empty), so the counts say why.
 */
export function writeRolloutPairs(rolloutsFile: string, out: string, tokenizerDir: string, style: PromptStyle, s: PairSelection): PairCounts & { rollouts: number } {
  const rows = readRolloutsFile(rolloutsFile);
  const built = pairsFromRolloutRows(rows, rolloutsFile, loadHfTokenizer(tokenizerDir), style, s);
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, built.rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return { ...built.counts, rollouts: rows.length };
}
