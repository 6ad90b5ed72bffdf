// The shape of a normalised answer: a matrix, an interval union, a bracketed tuple/interval/set, a bare
// comma list, or a single expression (atom). Splitting respects bracket depth, so "(1,2),(3,4)" is two items.

export type AnswerShape =
  | { kind: 'atom'; text: string }
  | { kind: 'matrix'; rows: string[][] }
  | { kind: 'union'; parts: string[] }
  /** `( … )`, `[ … ]`, `( … ]`, `[ … )` with two or more items: a tuple, a point or an interval. */
  | { kind: 'tuple'; open: string; close: string; items: string[] }
  /** `{ … }` with two or more items; order does not matter. */
  | { kind: 'set'; items: string[] }
  /** Items separated by commas with no enclosing bracket ("3,5,7"); order does not matter. */
  | { kind: 'list'; items: string[] };

const OPENERS = '([{';
const CLOSERS = ')]}';

/**
 * Splits `s` on `sep` where the bracket depth is zero. Brackets of every kind count alike, because an
 * interval such as `(3,4]` opens with one kind and closes with another. `\begin{…}`…`\end{…}` counts too.
 */
export function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\') {
      if (s.startsWith('\\begin{', i)) depth++;
      else if (s.startsWith('\\end{', i)) depth--;
      // Skip the command name (or the escaped character) so that `\{` or `\,` never count.
      let j = i + 1;
      if (/[a-zA-Z]/.test(s[j] ?? '')) while (j < s.length && /[a-zA-Z]/.test(s[j]!)) j++;
      else j++;
      if (depth === 0 && s.startsWith(sep, i) && sep.startsWith('\\')) {
        parts.push(s.slice(start, i));
        start = i + sep.length;
      }
      i = j - 1;
      continue;
    }
    if (OPENERS.includes(ch)) depth++;
    else if (CLOSERS.includes(ch)) depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      parts.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/** When the bracket opening `s` is closed by its last character, the brackets and what is inside. */
export function outerBrackets(s: string): { open: string; close: string; inner: string } | null {
  if (s.length < 2 || !OPENERS.includes(s[0]!) || !CLOSERS.includes(s[s.length - 1]!)) return null;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\') { i++; continue; }
    if (OPENERS.includes(ch)) depth++;
    else if (CLOSERS.includes(ch) && --depth === 0 && i < s.length - 1) return null;
  }
  if (depth !== 0) return null;
  return { open: s[0]!, close: s[s.length - 1]!, inner: s.slice(1, -1) };
}

const MATRIX = /^\\begin\{pmatrix\}([\s\S]*)\\end\{pmatrix\}$/;

/** Expands the first top-level `\pm` (or `\mp`) into its two values: "1\pm\sqrt{2}" → two items. */
export function expandPlusMinus(s: string): string[] {
  const m = /\\(pm|mp)(?![a-zA-Z])/.exec(s);
  if (!m) return [s];
  const before = s.slice(0, m.index);
  const after = s.slice(m.index + m[0].length);
  const [first, second] = m[1] === 'pm' ? ['+', '-'] : ['-', '+'];
  return [...expandPlusMinus(`${before}${first}${after}`), ...expandPlusMinus(`${before}${second}${after}`)];
}

/** List items with `\pm` expanded, so "{1\pm\sqrt5,-2}" lists three values. Empty items are dropped. */
function listItems(parts: string[]): string[] {
  return parts.map((p) => p.trim()).filter((p) => p.length > 0).flatMap(expandPlusMinus);
}

/** The shape of a normalised answer (see AnswerShape). */
export function shapeOf(s: string): AnswerShape {
  const matrix = MATRIX.exec(s);
  if (matrix) {
    const rows = splitTopLevel(matrix[1]!, '\\\\').map((r) => r.trim()).filter((r) => r.length > 0);
    return { kind: 'matrix', rows: rows.map((r) => splitTopLevel(r, '&').map((c) => c.trim())) };
  }
  const union = splitTopLevel(s, '\\cup');
  if (union.length > 1) return { kind: 'union', parts: union.map((p) => p.trim()) };
  const outer = outerBrackets(s);
  if (outer) {
    const items = splitTopLevel(outer.inner, ',');
    if (items.length > 1) {
      if (outer.open === '{' && outer.close === '}') return { kind: 'set', items: listItems(items) };
      if (outer.open !== '{' && outer.close !== '}') {
        return { kind: 'tuple', open: outer.open, close: outer.close, items: items.map((i) => i.trim()) };
      }
    }
    // `{x}` is LaTeX grouping (or a one-element set, which graders treat as its element).
    if (outer.open === '{' && outer.close === '}') return shapeOf(outer.inner);
  }
  const items = splitTopLevel(s, ',');
  if (items.length > 1) return { kind: 'list', items: listItems(items) };
  if (/\\(?:pm|mp)(?![a-zA-Z])/.test(s)) return { kind: 'list', items: expandPlusMinus(s) };
  return { kind: 'atom', text: s };
}
