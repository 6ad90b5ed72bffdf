// Rendering a parsed row into token ids and completion-only labels.
//
// A row becomes a list of text pieces, each marked trained or not; each piece is encoded on its own and
// the ids are concatenated. Encoding the prompt separately is also what happens at inference (the
// prompt is tokenized, then the model continues), so training and sampling see the same boundary.
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import { IGNORE, type Example } from './example.ts';
import type { ChatTurn, SftRow } from './formats.ts';
import { still2FormatProblem, still2PromptTemplate, still2Turns } from './still2.ts';

/** The model's chat template (transformers' apply_chat_template with tokenize=False). */
export type ChatRenderer = (messages: readonly ChatTurn[], opts: { addGenerationPrompt: boolean }) => string;

export interface RenderContext {
  /** Needed for every text format; pre-tokenized rows need none. */
  tokenizer: TextTokenizer | null;
  /** Needed for {"messages"} rows; STILL-2 rows use it when present, plain text otherwise. */
  chat: ChatRenderer | null;
  /** Names the tokenizer in errors, e.g. the model directory. */
  tokenizerLabel?: string;
  /** The STILL-2 instruction prompt; default data/still2/prompt_template.txt. */
  still2Template?: string;
  /** Refuse STILL-2 rows whose combined_text lacks the thought/solution tags (`still imitate`). */
  requireStill2Format?: boolean;
}

interface Piece {
  text: string;
  train: boolean;
}

export function renderRow(row: SftRow, ctx: RenderContext, where: string): Example {
  switch (row.kind) {
    case 'tokens':
      return { inputIds: row.inputIds, labels: row.labels ?? row.inputIds.slice(), source: where };
    case 'prompt_completion':
      return encodePieces(plainPieces(row.prompt, row.completion), true, ctx, where);
    case 'messages':
      if (!ctx.chat) throw new Error(`${where}: a {"messages"} row needs a chat template, and ${ctx.tokenizerLabel ?? 'the tokenizer'} has none`);
      return encodePieces(chatPieces(row.messages, ctx.chat, where), false, ctx, where);
    case 'still2': {
      if (ctx.requireStill2Format) {
        const problem = still2FormatProblem(row.combinedText);
        if (problem) throw new Error(`${where}: ${problem} (STILL-2 long-thought format expected)`);
      }
      const template = ctx.still2Template ?? still2PromptTemplate();
      if (ctx.chat) return encodePieces(chatPieces(still2Turns(template, row.question, row.combinedText), ctx.chat, where), false, ctx, where);
      return encodePieces(plainPieces(template + row.question, row.combinedText), true, ctx, where);
    }
  }
}

function plainPieces(prompt: string, completion: string): Piece[] {
  return [{ text: prompt, train: false }, { text: completion, train: true }];
}

/**
 * Context and assistant pieces of a conversation. Each assistant turn's text is what the template adds
 * between the conversation-so-far with a generation prompt and the conversation including that turn
 * (its content and end-of-turn marker). Everything else is context.
 */
function chatPieces(messages: readonly ChatTurn[], chat: ChatRenderer, where: string): Piece[] {
  const pieces: Piece[] = [];
  let done = '';
  const render = (upTo: number, gen: boolean): string => {
    try {
      return chat(messages.slice(0, upTo), { addGenerationPrompt: gen });
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  };
  const notPrefix = (i: number) =>
    new Error(`${where}: the chat template does not render messages[${i}] as an extension of the turns before it, so the assistant text cannot be located; use {"prompt","completion"} rows instead`);
  messages.forEach((turn, i) => {
    if (turn.role !== 'assistant') return;
    const prompt = render(i, true);
    const full = render(i + 1, false);
    if (!prompt.startsWith(done) || !full.startsWith(prompt)) throw notPrefix(i);
    pieces.push({ text: prompt.slice(done.length), train: false }, { text: full.slice(prompt.length), train: true });
    done = full;
  });
  const whole = render(messages.length, false);
  if (!whole.startsWith(done)) throw notPrefix(messages.length - 1);
  if (whole.length > done.length) pieces.push({ text: whole.slice(done.length), train: false });
  return pieces;
}

function encodePieces(pieces: Piece[], appendEos: boolean, ctx: RenderContext, where: string): Example {
  const tok = ctx.tokenizer;
  if (!tok) throw new Error(`${where}: a text row needs a tokenizer, and ${ctx.tokenizerLabel ?? 'none was given'}${ctx.tokenizerLabel ? ' has no tokenizer.json' : ''} (pass --tokenizer)`);
  const inputIds: number[] = [];
  const labels: number[] = [];
  const push = (ids: number[], train: boolean) => {
    for (const id of ids) {
      inputIds.push(id);
      labels.push(train ? id : IGNORE);
    }
  };
  for (const p of pieces) if (p.text !== '') push(tok.encode(p.text), p.train);
  // Plain text has no end-of-turn marker, so the model learns to stop from an explicit EOS.
  if (appendEos) push([tok.eosId], true);
  return { inputIds, labels, source: where };
}
