// Preference pairs for `still dpo`: JSONL rows in TRL's layouts, rendered to token ids.
//
//   {"prompt": "...", "chosen": "...", "rejected": "..."}             text; chosen/rejected are the completions,
//                                                                      or prompt + completion (both, or neither)
//   {"prompt": [{role, content}…], "chosen": [{role: "assistant"…}],   conversational: the chat template renders
//    "rejected": [...]}                                                 the prompt; chosen/rejected may repeat it
//   {"chosen": [whole conversation], "rejected": [...]}               conversational with an implicit prompt: the
//                                                                      turns both share before they differ
//   {"prompt_input_ids", "chosen_input_ids", "rejected_input_ids"}     pre-tokenized (optional "chosen_thought_tokens",
//                                                                      "rejected_thought_tokens": the thought's length)
//
// Each completion is encoded in two pieces, its thought block (through <|end_of_thought|>, or all of it when
// the tag is absent) and the rest, so the thought-only loss knows exactly which tokens are the thought. Text
// completions end with EOS (plain text has no end-of-turn marker); chat completions end with the template's.
// Extra keys (ids, scores) are ignored. Errors name the file, the line and the field.
import { IGNORE } from './example.ts';
import type { ChatTurn } from './formats.ts';
import { readJsonl } from './jsonl.ts';
import type { RenderContext } from './render.ts';
import { THOUGHT_CLOSE } from './still2.ts';

/** One pair as token ids: completions without the prompt; *Thought = the completion's leading thought tokens. */
export interface TokenPair {
  prompt: number[];
  chosen: number[];
  rejected: number[];
  chosenThought: number;
  rejectedThought: number;
  /** 'file.jsonl:12', for errors. */
  source: string;
}

export type PairRow =
  | { kind: 'text'; prompt: string; chosen: string; rejected: string }
  | { kind: 'chat'; prompt: ChatTurn[]; chosen: ChatTurn[]; rejected: ChatTurn[] }
  | { kind: 'tokens'; prompt: number[]; chosen: number[]; rejected: number[]; chosenThought: number | null; rejectedThought: number | null };

export const PAIR_FORMAT_HELP =
  'expected {"prompt","chosen","rejected"} (strings, or chat turns) or {"prompt_input_ids","chosen_input_ids","rejected_input_ids"}';

const SIDES = ['chosen', 'rejected'] as const;

/** Detect and validate one row; `where` is 'file:line'. */
export function parsePairRow(v: Record<string, unknown>, where: string): PairRow {
  const fail = (m: string): never => {
    throw new Error(`${where}: ${m}`);
  };
  if ('prompt_input_ids' in v || 'chosen_input_ids' in v || 'rejected_input_ids' in v) {
    const ids = (k: string): number[] => {
      const x = v[k];
      if (!Array.isArray(x)) return fail(`field '${k}' must be a list of token ids, got ${describe(x)}`);
      x.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0) fail(`${k}[${i}] must be a non-negative integer, got ${describe(id)}`);
      });
      return x as number[];
    };
    const row = { kind: 'tokens' as const, prompt: ids('prompt_input_ids'), chosen: ids('chosen_input_ids'), rejected: ids('rejected_input_ids'),
      chosenThought: null as number | null, rejectedThought: null as number | null };
    if (row.prompt.length === 0) fail(`field 'prompt_input_ids' is empty; the first completion token needs a prompt token before it`);
    for (const side of SIDES) {
      if (row[side].length === 0) fail(`field '${side}_input_ids' is empty; a pair needs two non-empty completions`);
      const k = `${side}_thought_tokens`;
      if (v[k] === undefined || v[k] === null) continue;
      const t = v[k];
      if (!Number.isInteger(t) || (t as number) < 0 || (t as number) > row[side].length) {
        fail(`field '${k}' must be an integer in [0, ${row[side].length}] (the length of '${side}_input_ids'), got ${describe(t)}`);
      }
      row[side === 'chosen' ? 'chosenThought' : 'rejectedThought'] = t as number;
    }
    return row;
  }
  if (!('prompt' in v) && Array.isArray(v.chosen) && Array.isArray(v.rejected)) return implicitPrompt(v.chosen, v.rejected, fail);
  for (const k of ['prompt', ...SIDES]) if (!(k in v)) fail(`missing field '${k}'; ${PAIR_FORMAT_HELP}`);
  if (typeof v.prompt === 'string') {
    for (const side of SIDES) if (typeof v[side] !== 'string') fail(`field '${side}' must be a string like 'prompt', got ${describe(v[side])}`);
    let chosen = v.chosen as string;
    let rejected = v.rejected as string;
    const prompt = v.prompt;
    if (prompt === '') fail(`field 'prompt' is empty; the first completion token needs a prompt token before it`);
    // Explicit prompts (prompt + completion in both) are cut back to the completions; one without the other is a mistake.
    const withPrompt = SIDES.filter((s) => (v[s] as string).startsWith(prompt));
    if (withPrompt.length === 2) {
      chosen = chosen.slice(prompt.length);
      rejected = rejected.slice(prompt.length);
    } else if (withPrompt.length === 1) {
      const other = SIDES.find((s) => s !== withPrompt[0])!;
      fail(`field '${withPrompt[0]}' starts with field 'prompt' but field '${other}' does not; give both as completions only, or both as prompt + completion`);
    }
    if (chosen === '') fail(`field 'chosen' is empty (after the prompt); a pair needs two non-empty completions`);
    if (rejected === '') fail(`field 'rejected' is empty (after the prompt); a pair needs two non-empty completions`);
    return { kind: 'text', prompt, chosen, rejected };
  }
  if (Array.isArray(v.prompt)) {
    const prompt = turns(v.prompt, 'prompt', fail);
    if (prompt.length === 0) fail(`field 'prompt' is an empty list of turns`);
    const side = (k: 'chosen' | 'rejected'): ChatTurn[] => {
      let t = turns(v[k], k, fail);
      // A whole conversation repeats the prompt's turns first; they must be the same turns.
      if (t.length > 0 && t[0].role !== 'assistant') {
        const differs = prompt.findIndex((p, i) => !t[i] || t[i].role !== p.role || t[i].content !== p.content);
        if (differs >= 0) fail(`field '${k}' is a whole conversation, but its turn ${differs} differs from field 'prompt' turn ${differs}; its first ${prompt.length} turns must be the prompt's`);
        t = t.slice(prompt.length);
      }
      if (t.length === 0) fail(`field '${k}' has no completion turn (expected at least one {"role": "assistant"} turn after the prompt)`);
      if (t.every((x) => x.content === '')) fail(`field '${k}' is empty; a pair needs two non-empty completions`);
      return t;
    };
    return { kind: 'chat', prompt, chosen: side('chosen'), rejected: side('rejected') };
  }
  return fail(`field 'prompt' must be a string or a list of {"role","content"} turns, got ${describe(v.prompt)}`);
}

/** TRL's implicit prompt: two whole conversations, the prompt being the turns they share before they differ. */
function implicitPrompt(c: unknown[], r: unknown[], fail: (m: string) => never): PairRow {
  const chosen = turns(c, 'chosen', fail);
  const rejected = turns(r, 'rejected', fail);
  let k = 0;
  while (k < chosen.length && k < rejected.length && chosen[k].role === rejected[k].role && chosen[k].content === rejected[k].content) k++;
  // The completions start at the first assistant turn from where they differ.
  while (k > 0 && chosen[k - 1].role === 'assistant') k--;
  if (k === 0) fail(`no field 'prompt', and fields 'chosen' and 'rejected' share no leading turns to take it from; ${PAIR_FORMAT_HELP}`);
  const rest = (t: ChatTurn[], key: string) => {
    if (t.length === k || t.slice(k).every((x) => x.content === '')) fail(`field '${key}' is empty after the turns both sides share; a pair needs two non-empty completions`);
    return t.slice(k);
  };
  return { kind: 'chat', prompt: chosen.slice(0, k), chosen: rest(chosen, 'chosen'), rejected: rest(rejected, 'rejected') };
}

function turns(x: unknown, key: string, fail: (m: string) => never): ChatTurn[] {
  if (!Array.isArray(x)) return fail(`field '${key}' must be a list of {"role","content"} turns, got ${describe(x)}`);
  return x.map((t, i) => {
    if (t === null || typeof t !== 'object') return fail(`${key}[${i}] must be an object {"role","content"}, got ${describe(t)}`);
    const { role, content } = t as Record<string, unknown>;
    if (typeof role !== 'string') return fail(`${key}[${i}].role must be a string, got ${describe(role)}`);
    if (typeof content !== 'string') return fail(`${key}[${i}].content must be a string, got ${describe(content)}`);
    return { role, content };
  });
}

/** Split a completion after its thought's close tag (the whole text is thought when there is none). */
export function splitThought(completion: string): [thought: string, rest: string] {
  const at = completion.indexOf(THOUGHT_CLOSE);
  if (at < 0) return [completion, ''];
  const end = at + THOUGHT_CLOSE.length;
  return [completion.slice(0, end), completion.slice(end)];
}

/** Token ids of a pair row. */
export function renderPair(row: PairRow, ctx: RenderContext, where: string): TokenPair {
  if (row.kind === 'tokens') {
    return {
      prompt: row.prompt, chosen: row.chosen, rejected: row.rejected, source: where,
      chosenThought: row.chosenThought ?? row.chosen.length, rejectedThought: row.rejectedThought ?? row.rejected.length,
    };
  }
  const tok = ctx.tokenizer;
  if (!tok) throw new Error(`${where}: a text pair needs a tokenizer, and ${ctx.tokenizerLabel ?? 'none was given'}${ctx.tokenizerLabel ? ' has no tokenizer.json' : ''} (pass --tokenizer)`);
  const encode = (completion: string, eos: boolean): [number[], number] => {
    const [thought, rest] = splitThought(completion);
    const t = thought === '' ? [] : tok.encode(thought);
    const r = rest === '' ? [] : tok.encode(rest);
    return [[...t, ...r, ...(eos ? [tok.eosId] : [])], t.length];
  };
  if (row.kind === 'text') {
    const [chosen, chosenThought] = encode(row.chosen, true);
    const [rejected, rejectedThought] = encode(row.rejected, true);
    return { prompt: tok.encode(row.prompt), chosen, rejected, chosenThought, rejectedThought, source: where };
  }
  const chat = ctx.chat;
  if (!chat) throw new Error(`${where}: a conversational pair needs a chat template, and ${ctx.tokenizerLabel ?? 'the tokenizer'} has none`);
  const render = (m: ChatTurn[], gen: boolean) => {
    try {
      return chat(m, { addGenerationPrompt: gen });
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  };
  const promptText = render(row.prompt, true);
  const completion = (side: 'chosen' | 'rejected'): string => {
    const full = render([...row.prompt, ...row[side]], false);
    if (!full.startsWith(promptText)) {
      throw new Error(`${where}: the chat template does not render field '${side}' as an extension of field 'prompt', so the completion cannot be located; use text pairs instead`);
    }
    return full.slice(promptText.length);
  };
  const [chosen, chosenThought] = encode(completion('chosen'), false);
  const [rejected, rejectedThought] = encode(completion('rejected'), false);
  return { prompt: tok.encode(promptText), chosen, rejected, chosenThought, rejectedThought, source: where };
}

export interface PairStats {
  rows: number;
  tokens: number;
  /** Pairs cut to the length limit (completions shortened). */
  truncated: number;
  /** Pairs whose prompt alone reaches the limit: nothing left to score. */
  dropped: number;
  formats: Record<string, number>;
}

export interface LoadPairsOptions {
  vocabSize?: number;
  /** Cut prompt + completion to this many tokens (the completion's end goes first). */
  maxLength?: number;
}

/** Pairs from a JSONL file. */
export function loadPairs(file: string, ctx: RenderContext, opts: LoadPairsOptions = {}): { pairs: TokenPair[]; stats: PairStats } {
  const rows = readJsonl(file);
  if (rows.length === 0) throw new Error(`${file}: no rows; ${PAIR_FORMAT_HELP}`);
  return pairsFromRows(rows.map((r) => ({ where: `${file}:${r.line}`, value: r.value })), ctx, opts, file);
}

/** Pairs from rows in memory (`where` names each one in errors). */
export function pairsFromRows(
  rows: readonly { where: string; value: Record<string, unknown> }[], ctx: RenderContext, opts: LoadPairsOptions = {}, label = 'pairs',
): { pairs: TokenPair[]; stats: PairStats } {
  const stats: PairStats = { rows: rows.length, tokens: 0, truncated: 0, dropped: 0, formats: {} };
  const pairs: TokenPair[] = [];
  for (const { where, value } of rows) {
    const row = parsePairRow(value, where);
    stats.formats[row.kind] = (stats.formats[row.kind] ?? 0) + 1;
    let p = renderPair(row, ctx, where);
    if (opts.vocabSize !== undefined) checkIds(p, opts.vocabSize);
    if (opts.maxLength !== undefined) {
      const room = opts.maxLength - p.prompt.length;
      if (room <= 0) {
        stats.dropped++;
        continue;
      }
      if (p.chosen.length > room || p.rejected.length > room) {
        stats.truncated++;
        p = { ...p, chosen: p.chosen.slice(0, room), rejected: p.rejected.slice(0, room),
          chosenThought: Math.min(p.chosenThought, room), rejectedThought: Math.min(p.rejectedThought, room) };
      }
    }
    stats.tokens += 2 * p.prompt.length + p.chosen.length + p.rejected.length;
    pairs.push(p);
  }
  if (pairs.length === 0) throw new Error(`${label}: none of its ${rows.length} pairs fits in ${opts.maxLength} tokens (every prompt reaches the limit)`);
  return { pairs, stats };
}

function checkIds(p: TokenPair, vocabSize: number): void {
  for (const [field, list] of [['prompt', p.prompt], ['chosen', p.chosen], ['rejected', p.rejected]] as const) {
    list.forEach((id, i) => {
      if (id === IGNORE || id < 0 || id >= vocabSize) throw new Error(`${p.source}: ${field} token ${i} is id ${id}, outside the model's vocabulary [0, ${vocabSize})`);
    });
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
