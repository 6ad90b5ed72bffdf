// A gold answer rewritten the way models write it: \dfrac, spaces after commas, \left( … \right),
// \displaystyle, and (in the callers) inside $\boxed{…}$ in a sentence. Grading a gold against this
// rewriting goes through extraction, normalisation and comparison; grading it against itself would stop
// at gradeAnswer's identical-strings shortcut and could not fail.
export function rewriteAsModel(gold: string): string {
  const body = gold
    .replace(/\\frac(?![a-zA-Z])/g, '\\dfrac')
    .replace(/(?<!\{),(?!\})/g, ', ')
    .replace(/(?<!\\)\(/g, '\\left(')
    .replace(/(?<!\\)\)/g, '\\right)');
  return `\\displaystyle ${body}`;
}

/** A whole model output whose final answer is `answer`. */
export function outputWithAnswer(answer: string): string {
  return `<|begin_of_thought|>checking<|end_of_thought|><|begin_of_solution|>So the final answer is $\\boxed{${answer}}$.<|end_of_solution|>`;
}
