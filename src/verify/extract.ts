// Answer extraction from model output: STILL-2 solution block, last \boxed{}/\fbox{}, then textual fallbacks.
//
// Rules follow the Qwen2.5-Math evaluation parser and STILL's evaluator (see data/eval/PROVENANCE.md):
// the LAST box wins, braces are matched by depth, `\boxed 5` takes the next token, and without a box
// we look for "the answer is" / "final answer is" and finally the last number in the text.

import { SOLUTION_CLOSE as END_SOLUTION, SOLUTION_OPEN as BEGIN_SOLUTION } from '../data/still2.ts';

// `\boxed` and `\fbox` mark the answer; so does a bare `boxed{` (models sometimes drop the backslash),
// but not the word "boxed" in prose.
const BOX_MARKER = /\\boxed|\\fbox|(?<![A-Za-z\\])boxed(?=\{)/g;

/** Where a box's content starts and ends (end is exclusive), or `unclosed` when the braces never balance. */
type BoxSpan = { start: number; end: number } | 'unclosed';

/** Reads the argument of the box whose marker ends at `pos`: `{...}` by brace depth, or one bare token. */
function readBoxArgument(text: string, pos: number): BoxSpan | null {
  let i = pos;
  if (text[i] === '{') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const ch = text[j];
      // A backslash escapes the next character: `\{` is a literal brace, and `\\` (a matrix row break)
      // must not make the brace after it look escaped.
      if (ch === '\\') { j++; continue; }
      if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) return { start: i + 1, end: j };
    }
    return 'unclosed';
  }
  // `\boxed 5` / `\boxed5`: LaTeX boxes one token; writers mean the whole number or word, so take up
  // to whitespace or `$` (Qwen's parser cuts at `$`).
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  const startTok = i;
  while (i < text.length && !/[\s$]/.test(text[i]!)) i++;
  if (i === startTok) return null;
  return { start: startTok, end: i };
}

/**
 * Content of the last `\boxed{...}` / `\fbox{...}` / `\boxed 5` in `text`, or null when there is none.
 * A last box whose braces never close (a truncated generation) also yields null: an answer that was cut
 * off is not an answer, and an earlier box is usually an intermediate result.
 */
export function lastBoxed(text: string): string | null {
  const span = lastBoxSpan(text);
  if (span === null || span === 'unclosed') return null;
  return text.slice(span.start, span.end).trim();
}

function lastBoxSpan(text: string): BoxSpan | null {
  let last: RegExpExecArray | null = null;
  BOX_MARKER.lastIndex = 0;
  for (let m = BOX_MARKER.exec(text); m !== null; m = BOX_MARKER.exec(text)) last = m;
  if (last === null) return null;
  // A marker with nothing after it (`\boxed` at the very end) boxes nothing; try earlier occurrences.
  const after = last.index + last[0].length;
  const span = readBoxArgument(text, after);
  if (span === null) return lastBoxSpan(text.slice(0, last.index));
  return span;
}

/** The text between the STILL-2 solution tags; the end tag may be missing (it is a vLLM stop word). */
export function solutionBlock(text: string): string | null {
  const begin = text.lastIndexOf(BEGIN_SOLUTION);
  if (begin < 0) return null;
  const from = begin + BEGIN_SOLUTION.length;
  const end = text.indexOf(END_SOLUTION, from);
  return text.slice(from, end < 0 ? text.length : end);
}

// "The answer is", "the final answer is", "Final Answer: The final answer is" — Qwen matches "he answer is".
const ANSWER_PHRASE = /(?:final answer is|he answer is|final answer:)/gi;

/** Text after the last "the answer is" / "final answer is", up to the end of that sentence or line. */
function answerPhrase(text: string): string | null {
  let last: RegExpExecArray | null = null;
  ANSWER_PHRASE.lastIndex = 0;
  for (let m = ANSWER_PHRASE.exec(text); m !== null; m = ANSWER_PHRASE.exec(text)) last = m;
  if (last === null) return null;
  let rest = text.slice(last.index + last[0].length).trim();
  // A math span right after the phrase is the answer: "the answer is $\frac{1}{2}$."
  const math = /^(?:\$\$?|\\\(|\\\[)([\s\S]*?)(?:\$\$?|\\\)|\\\])/.exec(rest);
  if (math) return math[1]!.trim() || null;
  rest = rest.split('\n')[0]!;
  // End of sentence: a period followed by a space or the end, but not a decimal point.
  const stop = /\.(?=\s|$)/.exec(rest);
  if (stop) rest = rest.slice(0, stop.index);
  rest = rest.trim();
  return rest.length > 0 ? rest : null;
}

/** The last number in the text (thousands separators removed first), as Qwen's final fallback does. */
function lastNumber(text: string): string | null {
  // Only commas that separate digit groups of three are thousands separators; "1,2,3" stays three numbers.
  const cleaned = text.replace(/(\d),(?=\d{3}(?!\d))/g, '$1');
  const matches = cleaned.match(/-?\d*\.?\d+/g);
  return matches ? matches[matches.length - 1]! : null;
}

/** Final cleanup Qwen applies to every extracted answer: newlines, a leading ":", trailing "." and "/". */
function tidy(answer: string): string {
  let a = answer.replace(/\n/g, ' ').trim();
  a = a.replace(/^:\s*/, '');
  a = a.replace(/[./\s]+$/, '');
  return a.trim();
}

/** The answer in one piece of text: its last box, else "the answer is …", else its last number. */
function extractFrom(text: string): string | null | 'unclosed' {
  const span = lastBoxSpan(text);
  if (span === 'unclosed') return 'unclosed';
  if (span !== null) return text.slice(span.start, span.end).trim();
  return answerPhrase(text) ?? lastNumber(text);
}

/**
 * The model's final answer in `text`, or null when it gave none.
 * Order: the STILL-2 `<|begin_of_solution|>` block (box, phrase, number), else the whole text's last box,
 * then "the answer is" / "final answer is", then the last number.
 */
export function extractAnswer(text: string): string | null {
  const block = solutionBlock(text);
  let found: string | null | 'unclosed' = null;
  if (block !== null) {
    found = extractFrom(block);
    // A solution block without any answer in it: the thought may still hold a box.
    if (found === null) found = extractFrom(text);
  } else {
    found = extractFrom(text);
  }
  if (found === null || found === 'unclosed') return null;
  const answer = tidy(found);
  return answer.length > 0 ? answer : null;
}
