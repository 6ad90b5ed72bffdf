// LaTeX answer normalisation: the string rewrites the Qwen2.5-Math grader applies before comparing answers.
//
// The order follows Qwen's strip_string (see data/eval/PROVENANCE.md), with three deliberate departures
// where its blanket rules corrupt answers: unit words are removed only when they trail a number (Qwen
// deletes "east" from "\text{east}"), "and"/"or" between items become a comma (Qwen deletes "and", which
// turns "3 and 5" into "35"), and "x=" is not deleted mid-string (the comparison step handles equations).

export interface NormalizeOptions {
  /** Keep unit words (Minerva answers use letters such as m, s, c as physical symbols). */
  skipUnits?: boolean;
}

// Units that may trail a number. Single letters are risky (they are also variables), so they only count
// after whitespace following a number; see stripTrailingUnit.
const UNIT_WORDS = [
  'degrees?', 'deg', 'radians?', 'rad',
  'cents?', 'dollars?', 'euros?', 'pounds?', 'lbs?', 'ounces?', 'oz', 'rupees?',
  'mm', 'cm', 'km', 'meters?', 'metres?', 'inches', 'inch', 'feet', 'foot', 'ft', 'yards?', 'yd', 'miles?',
  'mph', 'kph', 'kmh', 'km/h', 'm/s',
  'seconds?', 'secs?', 'minutes?', 'mins?', 'hours?', 'hrs?', 'days?', 'weeks?', 'months?', 'years?',
  'grams?', 'kg', 'kilograms?', 'mg', 'tons?',
  'liters?', 'litres?', 'ml', 'gallons?', 'gal', 'cups?',
  'square', 'sq', 'cubic', 'units?', 'percent',
];
const SINGLE_LETTER_UNITS = ['m', 's', 'g', 'h', 'l'];

const UNIT_ALT = UNIT_WORDS.join('|');
// A run of unit words with optional powers and a "/unit" or "per unit" part: "sq cm", "inches^2", "km/h".
const UNIT_RUN = new RegExp(
  `(?<=[\\d}).])\\s*(?:(?:${UNIT_ALT})(?:\\s*\\^\\s*\\{?\\d\\}?)?\\s*)+(?:(?:/|per\\s)\\s*(?:${UNIT_ALT}|${SINGLE_LETTER_UNITS.join('|')})(?:\\^\\{?\\d\\}?)?)?$`,
  'i',
);
const SINGLE_LETTER_UNIT = new RegExp(`(?<=\\d)\\s+(?:${SINGLE_LETTER_UNITS.join('|')})(?:\\^\\{?\\d\\}?)?$`);

// A trailing \text{...} / \mbox{...} / \mathrm{...} made of words (a unit), optionally squared/cubed.
const TRAILING_TEXT_UNIT = /\\(?:text|mbox|mathrm|textrm)\s*\{\s*~?[A-Za-z][A-Za-z .~/]*\}(?:\s*\^\s*\{?\d\}?)?\s*$/;

const WORD_NUMBERS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17,
  eighteen: 18, nineteen: 19, twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70,
  eighty: 80, ninety: 90, hundred: 100,
};

/** "five" → "5", "twenty-one" → "21"; anything else is returned unchanged. Only whole answers convert. */
function wordToNumber(s: string): string {
  const words = s.toLowerCase().trim().split(/[\s-]+/);
  if (words.length === 0 || words.length > 2) return s;
  let total = 0;
  for (const w of words) {
    const v = WORD_NUMBERS[w];
    if (v === undefined) return s;
    total += v;
  }
  return String(total);
}

/** Replaces `\cmd{X}` by `X` for text-like wrappers, respecting nested braces inside X. */
function unwrapCommand(s: string, names: string[]): string {
  const re = new RegExp(`\\\\(?:${names.join('|')})\\s*\\{`, 'g');
  let out = s;
  for (let guard = 0; guard < 50; guard++) {
    re.lastIndex = 0;
    const m = re.exec(out);
    if (!m) break;
    const open = m.index + m[0].length - 1;
    const close = matchingBrace(out, open);
    if (close < 0) break;
    out = out.slice(0, m.index) + out.slice(open + 1, close) + out.slice(close + 1);
  }
  return out;
}

/** Index of the `}` matching the `{` at `open`, or -1. */
export function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * `\sqrt2` → `\sqrt{2}`, `\sqrt13` → `\sqrt{13}`, `\sqrt x` → `\sqrt{x}`: a bare argument gets braces.
 * A run of digits is one argument, as writers mean it (Qwen's parser reads it the same way).
 */
function fixSqrt(s: string): string {
  return s.replace(/\\sqrt\s*(\d+|[a-zA-Z])/g, '\\sqrt{$1}');
}

/** `\frac12` → `\frac{1}{2}`, `\frac1{2}` → `\frac{1}{2}`, `\frac{1}2` → `\frac{1}{2}`. */
function fixFracs(s: string): string {
  // One pass per shape; arguments are single characters exactly when braces are missing.
  let out = s.replace(/\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])/g, '\\frac{$1}{$2}');
  out = out.replace(/\\frac\s*([0-9a-zA-Z])\s*\{/g, '\\frac{$1}{');
  out = out.replace(/\\frac\s*(\{[^{}]*\})\s*([0-9a-zA-Z])/g, '\\frac$1{$2}');
  return out;
}

/** Trailing units: a `\text{ cm}^2`-style wrapper, or unit words after a number. */
function stripTrailingUnit(s: string, skipUnitWords: boolean): string {
  let out = s;
  const text = out.replace(TRAILING_TEXT_UNIT, '').trim();
  if (text !== '' && text !== out && /[\d})]$/.test(text)) out = text;
  if (skipUnitWords) return out;
  for (let i = 0; i < 2; i++) {
    const next = out.replace(UNIT_RUN, '').replace(SINGLE_LETTER_UNIT, '').trim();
    if (next === '' || next === out) break;
    out = next;
  }
  return out;
}

/**
 * Canonical string form of an answer. Idempotent: normalizing twice gives the same string.
 * Two answers with equal normal forms (case-insensitive) are equal; the comparison step goes further.
 */
export function normalizeAnswer(raw: string, opts: NormalizeOptions = {}): string {
  let s = String(raw).replace(/[\r\n]+/g, ' ').trim();
  // Display-math wrappers around the whole answer.
  s = s.replace(/^\\\[([\s\S]*)\\\]$/, '$1').replace(/^\\\(([\s\S]*)\\\)$/, '$1').trim();
  s = s.replace(/[\s.]+$/, '');
  // Spacing commands: `\!` joins (it is used inside numbers: 10,\!080); the rest separate. A `\\` row
  // break is matched first so that its second backslash is never read as the start of an escape.
  s = s.replace(/\\\\|\\[,;:> !]|\\q?quad(?![a-zA-Z])|~/g, (m) => (m === '\\\\' ? m : m === '\\!' ? '' : ' '));
  s = s.replace(/\\displaystyle(?![a-zA-Z])|\\limits(?![a-zA-Z])/g, '');
  // `{,}` between digits: a thousands separator before a group of three (14{,}916), else a decimal comma.
  s = s.replace(/(\d)\{,\}(?=\d{3}(?!\d))/g, '$1').replace(/(\d)\{,\}(?=\d)/g, '$1.');
  // Matrices: all bracket styles compare as pmatrix.
  s = s.replace(/\\begin\{array\}\{[^}]*\}/g, '\\begin{pmatrix}').replace(/\\end\{array\}/g, '\\end{pmatrix}');
  s = s.replace(/\b[bBvV]matrix(?![a-zA-Z])/g, 'pmatrix');
  // Brackets written around a matrix environment (\left[\begin{array}…\right]) are its delimiters.
  s = s.replace(/^\s*(?:\\left)?\s*[[(]\s*(\\begin\{pmatrix\}[\s\S]*\\end\{pmatrix\})\s*(?:\\right)?\s*[\])]\s*$/, '$1');
  s = s.replace(/\\[tdc]frac(?![a-zA-Z])/g, '\\frac');
  s = s.replace(/≤|<=/g, '\\le ').replace(/≥|>=/g, '\\ge ').replace(/≠/g, '\\ne ');
  s = s.replace(/\\neq(?![a-zA-Z])/g, '\\ne').replace(/\\leq(?:slant)?(?![a-zA-Z])/g, '\\le').replace(/\\geq(?:slant)?(?![a-zA-Z])/g, '\\ge');
  s = s.replace(/\\left\.|\\right\./g, '');
  s = s.replace(/\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])/g, '');
  s = s.replace(/\\\\|\\[{}]/g, (m) => (m === '\\\\' ? m : m.slice(1)));
  // Degrees.
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|°|\\degree(?![a-zA-Z])/g, '');
  s = stripTrailingUnit(s, opts.skipUnits === true);
  // Dollar signs (money and math delimiters) and inline-math delimiters.
  s = s.replace(/\\\\|\\[$()]|\$/g, (m) => (m === '\\\\' ? m : ''));
  s = s.replace(/^\\\[|\\\]$/g, '');
  // Text wrappers: keep their content. `\mathbf`, `\boldsymbol` too.
  s = unwrapCommand(s, ['text', 'textbf', 'textit', 'textrm', 'mbox', 'mathrm', 'mathbf', 'boldsymbol', 'mathit']);
  s = s.trim();
  s = wordToNumber(s);
  // "x \in [-2,7]" → "[-2,7]"; "x \to" likewise. (Plain "x=" is handled when comparing equations.)
  s = s.replace(/^[a-zA-Z]\s*\\(?:in|to)\b\s*/, '');
  s = s.replace(/\\(?:emptyset|varnothing)(?![a-zA-Z])/g, '{}');
  s = s.replace(/\(\s*-\s*\\infty\s*,\s*\\infty\s*\)/g, '\\mathbb{R}');
  // Percent signs go; the numeric comparison allows for a factor of 100 either way.
  s = s.replace(/\\%|%/g, '').replace(/\s*\bpercent\b\s*$/i, '');
  s = s.replace(/ \./g, ' 0.').replace(/\{\./g, '{0.');
  // Python/numpy spellings seen in Minerva golds: np.arcsin(x).
  s = s.replace(/\bnp\.([a-z]+)/g, '\\$1');
  s = s.replace(/(?<!\\)(?:\binfinity\b|\binf\b)/g, '\\infty');
  // Items joined by words become a list.
  s = s.replace(/\s+(?:and|or)\s+/g, ',').replace(/\s*;\s*/g, ',');
  // Engineers write j for the imaginary unit.
  if (s.includes('j') && !s.includes('i') && /^(?:[\s\d.+\-*/^(){}j]|\\sqrt|\\frac)*$/.test(s)) s = s.replace(/j/g, 'i');
  // "12.000" → "12", "1./3" → "1/3" (trailing zeros after a decimal point carry no value).
  s = s.replace(/(\d)\.0*(?![\d\\])/g, '$1');
  s = s.replace(/^\./, '0.').replace(/^-\./, '-0.');
  s = s.trim();
  // Unwrap brackets around one alphanumeric token: "(C)" → "C", "{5}" → "5".
  const single = /^[({[]\s*([A-Za-z0-9]+)\s*[)}\]]$/.exec(s);
  if (single) s = single[1]!;
  s = fixSqrt(s);
  // Remove spaces, except the one separating a command from a following letter (`\cot x` ≠ `\cotx`).
  s = s.replace(/(\\[a-zA-Z]+)\s+(?=[a-zA-Z])/g, '$1\u0000').replace(/\s+/g, '').replace(/\u0000/g, ' ');
  s = fixFracs(s);
  // One-character sub/superscripts lose their braces: x^{2} → x^2, 52_{8} → 52_8.
  s = s.replace(/([_^])\{([0-9a-zA-Z])\}/g, '$1$2');
  // A lone integer fraction a/b is \frac{a}{b}.
  s = s.replace(/^(-?)(\d+)\/(\d+)$/, '$1\\frac{$2}{$3}');
  return s;
}

/** True when the raw answer marks a percentage (then 50% and 0.5 may both be right). */
export function mentionsPercent(raw: string): boolean {
  return /%|\bpercent\b/i.test(raw);
}
