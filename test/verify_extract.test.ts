// Answer extraction: solution block, last box (depth-aware, \fbox, \boxed 5), textual fallbacks, truncation.
import { describe, expect, it } from 'vitest';
import { extractAnswer, lastBoxed, solutionBlock } from '../src/verify/extract.ts';

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

  it('falls back to the last number, reading thousands separators but not lists', () => {
    expect(extractAnswer('we get 1,000 and then 2,345 apples')).toBe('2345');
    expect(extractAnswer('values 1,2,3')).toBe('3');
    expect(extractAnswer('it drops to -3.5')).toBe('-3.5');
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
