// Parses and exactly evaluates a Countdown answer such as "(25-5)*4+3": integers, + - * /, parentheses.
//
// Never eval(): a recursive-descent parser over a tiny grammar, evaluated with exact rationals.
//   expr   := term (('+' | '-') term)*
//   term   := factor (('*' | '/') factor)*
//   factor := integer | '(' expr ')'
// No unary minus: every number must be one of the given numbers, and "-3" is not one of them.
// "x", "×", "÷" and "−" are read as * / - because people (and models) write them.

import { Rational } from './rational.ts';

export type EvalResult =
  | { ok: true; value: Rational; numbers: number[]; intermediates: Rational[] }
  | { ok: false; reason: string };

type Token = { kind: 'num'; value: number } | { kind: 'op'; value: '+' | '-' | '*' | '/' | '(' | ')' };

const OP_ALIASES: Record<string, '+' | '-' | '*' | '/' | '(' | ')'> = {
  '+': '+', '-': '-', '−': '-', '*': '*', 'x': '*', '×': '*', '/': '/', '÷': '/', '(': '(', ')': ')',
};

function tokenize(text: string): Token[] | string {
  const tokens: Token[] = [];
  for (let i = 0; i < text.length; ) {
    const ch = text[i]!;
    if (/\s/.test(ch)) { i++; continue; }
    if (/[0-9]/.test(ch)) {
      let j = i;
      while (j < text.length && /[0-9]/.test(text[j]!)) j++;
      // "03" is not the given number 3 as written; accepting it would let padding pass for a number.
      if (j - i > 1 && ch === '0') return `number ${text.slice(i, j)} has a leading zero`;
      tokens.push({ kind: 'num', value: Number(text.slice(i, j)) });
      i = j;
      continue;
    }
    const op = OP_ALIASES[ch];
    if (op === undefined) return `unexpected character ${JSON.stringify(ch)} at offset ${i}`;
    tokens.push({ kind: 'op', value: op });
    i++;
  }
  return tokens;
}

/**
 * Evaluates `text`. Fails (ok: false, with a reason) on a syntax error, division by zero, or a
 * division whose result is not an integer: Countdown allows only whole-number intermediate results.
 */
export function evaluateExpression(text: string): EvalResult {
  const tokens = tokenize(text);
  if (typeof tokens === 'string') return { ok: false, reason: tokens };
  if (tokens.length === 0) return { ok: false, reason: 'empty expression' };
  let pos = 0;
  const numbers: number[] = [];
  const intermediates: Rational[] = [];

  const peekOp = (): string | null => {
    const t = tokens[pos];
    return t !== undefined && t.kind === 'op' ? t.value : null;
  };
  const apply = (op: string, a: Rational, b: Rational): Rational => {
    let r: Rational;
    if (op === '+') r = a.add(b);
    else if (op === '-') r = a.sub(b);
    else if (op === '*') r = a.mul(b);
    else {
      if (b.num === 0n) throw new EvalError('division by zero');
      r = a.div(b);
      if (!r.isInteger()) throw new EvalError(`${a}/${b} is not a whole number`);
    }
    intermediates.push(r);
    return r;
  };
  const factor = (): Rational => {
    const t = tokens[pos];
    if (t === undefined) throw new EvalError('expression ends where a number or "(" was expected');
    if (t.kind === 'num') { pos++; numbers.push(t.value); return Rational.of(t.value); }
    if (t.value === '(') {
      pos++;
      const v = expr();
      if (peekOp() !== ')') throw new EvalError(`missing ")" at token ${pos}`);
      pos++;
      return v;
    }
    throw new EvalError(`unexpected "${t.value}" at token ${pos} (expected a number or "(")`);
  };
  const term = (): Rational => {
    let v = factor();
    for (let op = peekOp(); op === '*' || op === '/'; op = peekOp()) { pos++; v = apply(op, v, factor()); }
    return v;
  };
  const expr = (): Rational => {
    let v = term();
    for (let op = peekOp(); op === '+' || op === '-'; op = peekOp()) { pos++; v = apply(op, v, term()); }
    return v;
  };

  try {
    const value = expr();
    if (pos !== tokens.length) return { ok: false, reason: `unexpected "${describe(tokens[pos]!)}" at token ${pos}` };
    return { ok: true, value, numbers, intermediates };
  } catch (e) {
    if (e instanceof EvalError) return { ok: false, reason: e.message };
    throw e;
  }
}

function describe(t: Token): string {
  return String(t.value);
}

/** A failure of the expression itself (a wrong answer), as opposed to a bug in the evaluator. */
class EvalError extends Error {}
