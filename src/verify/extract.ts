// Answer extraction from model output: STILL-2 solution block, last \boxed{}/\fbox{}, then textual fallbacks.
//
// Rules follow the Qwen2.5-Math evaluation parser and STILL's evaluator (see data/eval/PROVENANCE.md):
// the LAST box wins (with the boxes that only "and"/commas separate from it: one answer in several boxes),
// braces are matched by depth, `\boxed 5` takes the next token, and without a box we look for "the answer
// is" / "final answer is", then a bare answer, then the final math span or standalone number. Unlike
// Qwen's last-number fallback, a digit string is never cut out of a word or a larger expression.

import { SOLUTION_CLOSE as END_SOLUTION, SOLUTION_OPEN as BEGIN_SOLUTION } from '../data/still2.ts';

// `\boxed` and `\fbox` mark the answer; so does a bare `boxed{` (models sometimes drop the backslash),
// but not the word "boxed" in prose.
const BOX_MARKER = /\\boxed|\\fbox|(?<![A-Za-z\\])boxed(?=\{)/g;

/** Where a box's content starts and ends (end is exclusive), or `unclosed` when the braces never balance. */
type BoxSpan = { start: number; end: number } | 'unclosed';

/**
 * For every `{` in `text`, the index of its matching `}` (or -1), in one pass: a degenerate output that
 * repeats `\boxed{` thousands of times must not cost a scan to the end per box. A backslash escapes the
 * next character: `\{` is a literal brace, and `\\` (a matrix row break) must not make the brace after
 * it look escaped.
 */
function matchBraces(text: string): Int32Array {
  const close = new Int32Array(text.length).fill(-1);
  const open: number[] = [];
  for (let j = 0; j < text.length; j++) {
    const ch = text[j];
    if (ch === '\\') { j++; continue; }
    if (ch === '{') open.push(j);
    else if (ch === '}' && open.length > 0) close[open.pop()!] = j;
  }
  return close;
}

/** Reads the argument of the box whose marker ends at `pos`: `{...}` by brace depth, or one bare token. */
function readBoxArgument(text: string, pos: number, close: Int32Array): BoxSpan | null {
  let i = pos;
  if (text[i] === '{') {
    const j = close[i]!;
    return j < 0 ? 'unclosed' : { start: i + 1, end: j };
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
  const boxes = finalBoxes(text);
  return boxes === null || boxes === 'unclosed' ? null : (boxes[boxes.length - 1] ?? null);
}

/**
 * The final answer a text boxes: its last box together with the boxes just before it that only
 * connectors separate (`\boxed{1}, \boxed{2}`, `$\boxed{(2,2)}$ and $\boxed{(6,2)}$`, `x=\boxed{1}` or
 * `x=\boxed{2}`), joined as a list "1, 2". A box followed by prose and another box is an intermediate
 * result, as before: only the final group counts. Null when there is no box or the last is cut off.
 */
export function boxedAnswer(text: string): string | null {
  const boxes = finalBoxes(text);
  return boxes === null || boxes === 'unclosed' || boxes.length === 0 ? null : boxes.join(', ');
}

// What may stand between two boxes of one answer: spacing, math delimiters, commas, "and"/"or" (also as
// \text{ and }), and a short label such as "x =" or "(a,b) =" before the next box.
const BOX_CONNECTOR =
  /^(?:\s|\$|\\[,;:! ]|\\q?quad(?![a-zA-Z])|\\\\|[,;&]|\b(?:and|or)\b|\\(?:text|mathrm|textbf)\s*\{\s*(?:and|or|,|;)?\s*\}|(?:[a-zA-Z](?:_\{?\w+\}?)?|\([a-zA-Z, ]+\))\s*=)*$/i;

const MAX_CONNECTOR_CHARS = 120;

/**
 * The non-empty contents of the final group of boxes (see boxedAnswer), exact repeats dropped; 'unclosed'
 * when the last box is cut off, null when there is no box.
 */
function finalBoxes(text: string): string[] | 'unclosed' | null {
  const spans: { marker: number; start: number; end: number }[] = [];
  BOX_MARKER.lastIndex = 0;
  let close: Int32Array | null = null;
  for (let m = BOX_MARKER.exec(text); m !== null; m = BOX_MARKER.exec(text)) {
    close ??= matchBraces(text);
    const span = readBoxArgument(text, m.index + m[0].length, close);
    // A marker with nothing after it (`\boxed` at the very end) boxes nothing.
    if (span === null) continue;
    // A box whose braces never close: later markers may still close (they are read next).
    if (span === 'unclosed') { spans.push({ marker: m.index, start: -1, end: -1 }); continue; }
    spans.push({ marker: m.index, start: span.start, end: span.end });
    // A box inside this box's content is part of this answer (see below), not a box of its own.
    BOX_MARKER.lastIndex = span.end;
  }
  if (spans.length === 0) return null;
  if (spans[spans.length - 1]!.start < 0) return 'unclosed';
  let first = spans.length - 1;
  // The gap after a box starts past its closing brace (a bare `\boxed 5` has none).
  const gapStart = (i: number) => spans[i]!.end + (text[spans[i]!.end] === '}' ? 1 : 0);
  const joined = (i: number) => {
    const gap = text.slice(gapStart(i), spans[i + 1]!.marker);
    return spans[i]!.start >= 0 && gap.length <= MAX_CONNECTOR_CHARS && BOX_CONNECTOR.test(gap);
  };
  while (first > 0 && joined(first - 1)) first--;
  const contents: string[] = [];
  for (const s of spans.slice(first)) {
    let c = text.slice(s.start, s.end).trim();
    // `\boxed{\boxed{5}}`, `\boxed{x = \boxed{5}}`: the innermost box is the answer.
    BOX_MARKER.lastIndex = 0;
    if (BOX_MARKER.test(c)) c = boxedAnswer(c) ?? c;
    if (c.length === 0) continue;
    // A repeated box is one answer; keeping its last place keeps lastBoxed the text's last box.
    const seen = contents.indexOf(c);
    if (seen >= 0) contents.splice(seen, 1);
    contents.push(c);
  }
  return contents;
}

/** The text between the STILL-2 solution tags; the end tag may be missing (it is a vLLM stop word). */
export function solutionBlock(text: string): string | null {
  const begin = text.lastIndexOf(BEGIN_SOLUTION);
  if (begin < 0) return null;
  const from = begin + BEGIN_SOLUTION.length;
  const end = text.indexOf(END_SOLUTION, from);
  return text.slice(from, end < 0 ? text.length : end);
}

// "The answer is", "the final answer is", "Final Answer: …", "**Answer:** C". Qwen matches "he answer is";
// "answer is" also reads "the correct answer is (B)", as multiple-choice outputs put it.
const ANSWER_PHRASE = /(?:answer is|final answer:|\banswer\s*\**\s*:)\**/gi;

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
  rest = rest.replace(/\*+/g, '').trim();
  return rest.length > 0 ? rest : null;
}

// Two-letter English words that mark a sentence ("So it is 5"); longer words are found by length.
const SHORT_WORDS = new Set(['so', 'is', 'it', 'we', 'to', 'of', 'as', 'be', 'by', 'if', 'on', 'at', 'an', 'my', 'no', 'do']);

/**
 * Words of prose: letter runs of three or more outside LaTeX commands and \text{…}, other than "and"/"or"
 * and all-capital names (SRMC, AB), and common two-letter words. An answer holds none; a sentence does.
 */
function proseWords(text: string): number {
  const bare = text
    .replace(/\\(?:text|mbox|mathrm|textbf|textit|begin|end)\s*\{[^{}]*\}(?:\{[a-z|]*\})?/g, ' ')
    .replace(/\\[a-zA-Z]+/g, ' ');
  const words = bare.match(/(?<![A-Za-z])[A-Za-z]{2,}(?![A-Za-z])/g) ?? [];
  return words.filter((w) => (w.length === 2 ? SHORT_WORDS.has(w.toLowerCase()) : !/^(?:and|or)$/i.test(w) && w !== w.toUpperCase())).length;
}

const MAX_BARE_ANSWER_CHARS = 200;

/**
 * The whole text when it is an answer by itself ("$\frac13$", "14{,}916", "x = 1 or x = 2", "\text{E}",
 * "(C)"): short, on one line, and free of prose. Graders are often handed such bare answers.
 */
function bareAnswer(text: string): string | null {
  const t = text.trim();
  if (t.length === 0 || t.length > MAX_BARE_ANSWER_CHARS || t.includes('\n')) return null;
  if (proseWords(t) > 0) return null;
  // One math span around the whole answer: its content.
  const span = lastMathSpan(t);
  return span && span.start === 0 && span.end === t.length ? span.text : t;
}

/** A candidate answer and where it lies in the text. */
interface Found { text: string; start: number; end: number }

/** The last math span ($…$, $$…$$, \(…\), \[…\]) that holds no prose, with where it ends. */
function lastMathSpan(text: string): Found | null {
  const SPAN = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<!\\)\$((?:[^$\\]|\\[\s\S])+?)\$/g;
  let last: Found | null = null;
  for (let m = SPAN.exec(text); m !== null; m = SPAN.exec(text)) {
    const content = (m[1] ?? m[2] ?? m[3] ?? m[4]!).trim();
    // "costs $5 and $7": dollars, not math; a span of prose is not an answer either.
    if (content.length > 0 && proseWords(content) === 0 && !/^\d[\d.,]*\s+(?:and|or)$/.test(content)) {
      last = { text: content, start: m.index, end: m.index + m[0].length };
    }
  }
  return last;
}

// A number (with thousands separators: 1,000, 14{,}916, 10\,080; or a fraction 2/3) or a comma list of numbers (1, 2, 3).
const NUMBER = String.raw`[+-]?(?:\d{1,3}(?:(?:,|\{,\}|\\,|\\!|,\\!)\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+(?!\.?\d))?`;
const NUMBER_RUN = new RegExp(`${NUMBER}(?:\\s*,\\s*${NUMBER})*`, 'g');
// What may not touch a standalone number: letters and symbols that make it part of a word or an expression.
const GLUED_BEFORE = /[A-Za-z0-9_^\\{}./]$|[A-Za-z]\($/;
const OPERATOR_BEFORE = /(?:[+\-*/^×·]|\\times|\\cdot|\\div|\\pm)\s*$/;
const GLUED_AFTER = /^(?:[A-Za-z_{(/]|\^(?!\s*\{?\s*\\circ)|\\(?!text|mbox|mathrm|[,;:! %$]|q?quad|circ|degree)|\s*(?:[+\-*/=×·]|\\times|\\cdot|\\div|\\pm))/;

/**
 * The last number that stands on its own: not a digit string cut out of a word ("AZYUK2A") or of a larger
 * expression ("\frac{1+\sqrt{5}}{2}", "2^{10}", "3 + 4"). Thousands separators are removed.
 */
function lastStandaloneNumber(text: string): Found | null {
  let last: Found | null = null;
  NUMBER_RUN.lastIndex = 0;
  for (let m = NUMBER_RUN.exec(text); m !== null; m = NUMBER_RUN.exec(text)) {
    const before = text.slice(Math.max(0, m.index - 12), m.index);
    const after = text.slice(m.index + m[0].length, m.index + m[0].length + 12);
    if (GLUED_BEFORE.test(before) || GLUED_AFTER.test(after)) continue;
    if (!/^[+-]/.test(m[0]) && OPERATOR_BEFORE.test(before)) continue;
    const number = m[0].replace(/(\d)(?:,|\{,\}|\\,|\\!|,\\!)(?=\d{3}(?!\d))/g, '$1');
    last = { text: number, start: m.index, end: m.index + m[0].length };
  }
  return last;
}

/** Final cleanup Qwen applies to every extracted answer: newlines, a leading ":", trailing "." and "/". */
function tidy(answer: string): string {
  let a = answer.replace(/\n/g, ' ').trim();
  a = a.replace(/^:\s*/, '');
  a = a.replace(/[./\s]+$/, '');
  return a.trim();
}

/**
 * The answer in one piece of text: its final box (group), else "the answer is …", else the whole text if it
 * is a bare answer, else whichever ends later of its last math span and its last standalone number.
 */
function extractFrom(text: string): string | null | 'unclosed' {
  const boxes = finalBoxes(text);
  if (boxes === 'unclosed') return 'unclosed';
  if (boxes !== null) return boxes.join(', ');
  const phrase = answerPhrase(text) ?? bareAnswer(text);
  if (phrase !== null) return phrase;
  const span = lastMathSpan(text);
  const number = lastStandaloneNumber(text);
  if (span && (!number || span.end >= number.end)) return span.text;
  return number ? number.text : null;
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
