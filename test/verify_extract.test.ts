// Answer extraction: solution block, final box or boxes (depth-aware, \fbox, \boxed 5), textual fallbacks, truncation.
import { describe, expect, it } from 'vitest';
import { boxedAnswer, extractAnswer, lastBoxed, solutionBlock } from '../src/verify/extract.ts';

describe('lastBoxed', () => {
  it('takes the last box and matches nested braces', () => {
    expect(lastBoxed('first \\boxed{1}, then \\boxed{\\frac{1}{2}}.')).toBe('\\frac{1}{2}');
    expect(lastBoxed('\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}')).toBe('\\left( 3, \\frac{\\pi}{2} \\right)');
  });

  it('treats escaped braces as text and keeps matrix row breaks', () => {
    expect(lastBoxed('\\boxed{\\{1\\pm\\sqrt{5},-2\\}}')).toBe('\\{1\\pm\\sqrt{5},-2\\}');
    expect(lastBoxed('\\boxed{\\begin{pmatrix} 1 \\\\{2} \\end{pmatrix}} x')).toBe('\\begin{pmatrix} 1 \\\\{2} \\end{pmatrix}');
  });

  it('reads \\fbox, \\boxed 5 and a bare boxed{', () => {
    expect(lastBoxed('so \\fbox{7}')).toBe('7');
    expect(lastBoxed('so $\\boxed 5$.')).toBe('5');
    expect(lastBoxed('so \\boxed 12 apples')).toBe('12');
    expect(lastBoxed('answer: boxed{9}')).toBe('9');
  });

  it('ignores the word "boxed" in prose', () => {
    expect(lastBoxed('I boxed it: 7')).toBeNull();
    expect(lastBoxed('the unboxed{3} thing')).toBeNull();
  });

  it('returns null for a last box whose braces never close (a truncated generation)', () => {
    expect(lastBoxed('\\boxed{1} and finally \\boxed{\\frac{1}{2')).toBeNull();
    expect(lastBoxed('no box here')).toBeNull();
  });
});

describe('boxedAnswer', () => {
  it('joins the final boxes that only connectors separate, as one list answer', () => {
    expect(boxedAnswer('$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$')).toBe('(2, 2), (6, 2)');
    expect(boxedAnswer('so $x = \\boxed{1}$ or $x = \\boxed{-2}$.')).toBe('1, -2');
    expect(boxedAnswer('\\boxed{3}, \\boxed{5}, \\boxed{7}')).toBe('3, 5, 7');
  });

  it('keeps only the last box when prose separates it from earlier ones, and drops repeats', () => {
    expect(boxedAnswer('first \\boxed{1}, then we find \\boxed{2}')).toBe('2');
    expect(boxedAnswer('\\boxed{5} \\boxed{5}')).toBe('5');
    expect(lastBoxed('\\boxed{1} and \\boxed{2}')).toBe('2');
  });

  it('reads a box inside a box as the answer, and gives null for a cut-off last box', () => {
    expect(boxedAnswer('\\boxed{x = \\boxed{5}}')).toBe('5');
    expect(boxedAnswer('\\boxed{1} and \\boxed{2')).toBeNull();
  });
});

describe('solutionBlock', () => {
  it('returns the text between the STILL-2 tags; the end tag may be missing', () => {
    expect(solutionBlock('<|begin_of_thought|>t<|end_of_thought|><|begin_of_solution|>s<|end_of_solution|>')).toBe('s');
    expect(solutionBlock('<|begin_of_solution|>s \\boxed{2}')).toBe('s \\boxed{2}');
    expect(solutionBlock('plain text')).toBeNull();
  });
});

describe('extractAnswer', () => {
  it('prefers the solution block over boxes in the thought', () => {
    const out = '<|begin_of_thought|>maybe \\boxed{3}? no, wait<|end_of_thought|>'
      + '<|begin_of_solution|>Therefore \\boxed{4}.<|end_of_solution|>';
    expect(extractAnswer(out)).toBe('4');
  });

  it('uses the phrase or number inside the solution block before a box in the thought', () => {
    const out = '<|begin_of_thought|>\\boxed{3}<|end_of_thought|><|begin_of_solution|>the answer is 8<|end_of_solution|>';
    expect(extractAnswer(out)).toBe('8');
  });

  it('falls back to the whole text when the solution block has no answer at all', () => {
    expect(extractAnswer('<|begin_of_thought|>so \\boxed{6}<|end_of_thought|><|begin_of_solution|>done<|end_of_solution|>')).toBe('6');
  });

  it('falls back to "the answer is" / "final answer is", keeping decimals and math spans', () => {
    expect(extractAnswer('Thus the answer is $\\frac{3}{4}$.')).toBe('\\frac{3}{4}');
    expect(extractAnswer('The final answer is 12.5. Hope this helps')).toBe('12.5');
    expect(extractAnswer('Final Answer: The final answer is 7. I hope it is correct.')).toBe('7');
  });

  it('falls back to the last standalone number, reading thousands separators; a number list stays whole', () => {
    expect(extractAnswer('we get 1,000 and then 2,345 apples')).toBe('2345');
    // Qwen's fallback took "3" here, a digit cut out of the list; the list is the answer (issue 13).
    expect(extractAnswer('values 1,2,3')).toBe('1,2,3');
    expect(extractAnswer('it drops to -3.5')).toBe('-3.5');
    expect(extractAnswer('so the total comes to 14{,}916 apples')).toBe('14916');
  });

  it('never cuts a digit string out of a word or a larger expression', () => {
    expect(extractAnswer('AZYUK2A')).toBe('AZYUK2A');
    expect(extractAnswer('The ratio is $\\frac{1+\\sqrt{5}}{2}$')).toBe('\\frac{1+\\sqrt{5}}{2}');
    expect(extractAnswer('we know 7 of them; then it grows like 2^{10} or 3 + x')).toBe('7');
    expect(extractAnswer('the code is AB12 and the value x2')).toBeNull();
  });

  it('takes the final math span or the final standalone number, whichever comes last', () => {
    expect(extractAnswer('First $a = 3$, then $b = 4$, so the area is 12.')).toBe('12');
    expect(extractAnswer('The area is 12, and the side is $\\sqrt{3}$.')).toBe('\\sqrt{3}');
    expect(extractAnswer('It costs $5 and $7 more')).toBe('7');
  });

  it('takes a bare answer whole, without its math delimiters', () => {
    expect(extractAnswer('$\\frac13 $')).toBe('\\frac13');
    expect(extractAnswer('$$(-793, 10)$$')).toBe('(-793, 10)');
    expect(extractAnswer('\\(k = \\frac{1}{3}\\)')).toBe('k = \\frac{1}{3}');
    expect(extractAnswer('x = 1 or x = 2')).toBe('x = 1 or x = 2');
    expect(extractAnswer('$\\text{E}$')).toBe('\\text{E}');
    // A sentence is not a bare answer, however short its words.
    expect(extractAnswer('So it is 5')).toBe('5');
  });

  it('reads multiple-choice phrasings', () => {
    expect(extractAnswer('After comparing the options, the answer is C.')).toBe('C');
    expect(extractAnswer('So the correct answer is (B).')).toBe('(B)');
    expect(extractAnswer('**Answer:** D')).toBe('D');
  });

  it('tidies a trailing period, slash and a leading colon', () => {
    expect(extractAnswer('\\boxed{: 5.}')).toBe('5');
  });

  it('returns null when there is no answer, or when the final box was cut off', () => {
    expect(extractAnswer('no digits at all')).toBeNull();
    expect(extractAnswer('so the result is \\boxed{\\frac{1}{2')).toBeNull();
    expect(extractAnswer('\\boxed{}')).toBeNull();
  });
});
