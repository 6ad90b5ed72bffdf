// STILL-2 long-thought rows: the paper's prompt template and output tags, and the row → chat turns mapping.
import { readFileSync } from 'node:fs';
import type { ChatTurn } from './formats.ts';

export const THOUGHT_OPEN = '<|begin_of_thought|>';
export const THOUGHT_CLOSE = '<|end_of_thought|>';
export const SOLUTION_OPEN = '<|begin_of_solution|>';
export const SOLUTION_CLOSE = '<|end_of_solution|>';

/** data/still2/prompt_template.txt in this repository (see its PROVENANCE.md). */
export const STILL2_TEMPLATE_URL = new URL('../../data/still2/prompt_template.txt', import.meta.url);

let cached: string | null = null;

/** The STILL-2 instruction prompt; the user turn is this text followed directly by the question. */
export function still2PromptTemplate(path: string | URL = STILL2_TEMPLATE_URL): string {
  if (path === STILL2_TEMPLATE_URL && cached !== null) return cached;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${String(path)}: cannot read the STILL-2 prompt template (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (path === STILL2_TEMPLATE_URL) cached = text;
  return text;
}

/** The two chat turns of a STILL-2 row, as in the paper: user = template + question, assistant = combined_text. */
export function still2Turns(template: string, question: string, combinedText: string): ChatTurn[] {
  return [
    { role: 'user', content: template + question },
    { role: 'assistant', content: combinedText },
  ];
}

/**
 * Why `text` is not in the long-thought format (thought block, then solution block, in order), or null.
 * `still imitate` refuses such rows: imitation is only as good as the format it imitates.
 */
export function still2FormatProblem(text: string): string | null {
  const at = [THOUGHT_OPEN, THOUGHT_CLOSE, SOLUTION_OPEN, SOLUTION_CLOSE].map((tag) => [tag, text.indexOf(tag)] as const);
  for (const [tag, i] of at) if (i < 0) return `combined_text has no ${tag}`;
  for (let k = 1; k < at.length; k++) {
    if (at[k][1] < at[k - 1][1]) return `combined_text has ${at[k][0]} before ${at[k - 1][0]}`;
  }
  return null;
}
