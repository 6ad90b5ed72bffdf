// Prompts for `still generate` / `still sample`: token-id rows from JSON, or text from JSONL ({"prompt"} or
// {"messages"}, the latter through the model's chat template), with errors that name the file and line.
import { readFileSync } from 'node:fs';
import type { ChatMessage } from '../io/chat_template.ts';
import type { HfTokenizer } from '../io/hf_tokenizer.ts';

/** A JSON array of non-empty integer rows; rows may have different lengths, e.g. [[1,2,3],[4,5]]. */
export function readTokenPrompts(file: string): number[][] {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read token-id prompts as JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every(Array.isArray)) {
    throw new Error(`${file}: expected a non-empty JSON array of token-id rows, e.g. [[1,2,3],[4,5]]`);
  }
  return (value as unknown[][]).map((row, r) => {
    if (row.length === 0) throw new Error(`${file}: row ${r} is empty`);
    row.forEach((x, i) => {
      if (!Number.isInteger(x) || (x as number) < 0) throw new Error(`${file}: row ${r}, position ${i}: expected a token id, got ${JSON.stringify(x)}`);
    });
    return row as number[];
  });
}

/**
 * JSONL, one prompt per line: {"prompt": "text"} is encoded as is; {"messages": [{role, content}, …]} is
 * rendered with the chat template and an assistant generation prompt, then encoded. Blank lines are skipped.
 */
export function readTextPrompts(file: string, tokenizer: HfTokenizer): number[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const prompts: number[][] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    prompts.push(encodePrompt(row, tokenizer, where));
  });
  if (prompts.length === 0) throw new Error(`${file}: no prompts (expected JSONL lines with "prompt" or "messages")`);
  return prompts;
}

/** One {"prompt"} or {"messages"} object as token ids. */
export function encodePrompt(row: unknown, tokenizer: HfTokenizer, where: string): number[] {
  const r = row as { prompt?: unknown; messages?: unknown } | null;
  if (r !== null && typeof r === 'object' && typeof r.prompt === 'string') return tokenizer.encode(r.prompt);
  if (r !== null && typeof r === 'object' && Array.isArray(r.messages)) {
    try {
      return tokenizer.encodeChat(r.messages as ChatMessage[], { addGenerationPrompt: true });
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  throw new Error(`${where}: expected {"prompt": "text"} or {"messages": [{"role", "content"}, …]}`);
}
