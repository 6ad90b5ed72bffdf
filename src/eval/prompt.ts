// How `still eval` asks a problem: the question as the user turn of the model's chat template, plain or
// behind the STILL-2 instruction prompt (no system message, as in the paper's data).
import type { HfTokenizer } from '../io/hf_tokenizer.ts';
import { SOLUTION_CLOSE, still2PromptTemplate } from '../data/still2.ts';

export const PROMPT_STYLES = ['still2', 'plain'] as const;
export type PromptStyle = (typeof PROMPT_STYLES)[number];

export function promptStyle(name: string): PromptStyle {
  if ((PROMPT_STYLES as readonly string[]).includes(name)) return name as PromptStyle;
  throw new Error(`--prompt must be one of ${PROMPT_STYLES.join(', ')}, got '${name}'`);
}

/** The user turn for a problem: STILL-2's template is followed directly by the question. */
export function userTurn(problem: string, style: PromptStyle): string {
  return style === 'still2' ? still2PromptTemplate() + problem : problem;
}

/**
 * The prompt's token ids: the user turn through the chat template with the assistant header appended,
 * or the bare user turn when the tokenizer has no template (a base model).
 */
export function promptIds(tok: HfTokenizer, problem: string, style: PromptStyle): number[] {
  const content = userTurn(problem, style);
  if (tok.chatTemplate === null) return tok.encode(content);
  return tok.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true });
}

/**
 * Stop strings for a style. STILL-2 answers end with the solution's close tag; stopping there saves the
 * tokens a model would spend after its answer (and the tag is put back before grading, see rollout.ts).
 */
export function styleStops(style: PromptStyle): string[] {
  return style === 'still2' ? [SOLUTION_CLOSE] : [];
}
