// One training example after rendering and tokenization: ids plus HF-style labels (-100 = no loss).
export const IGNORE = -100;

export interface Example {
  /** Token ids of the whole sequence (prompt and completion). */
  inputIds: number[];
  /**
   * Same length as inputIds, NOT shifted (HF semantics: the model shifts them, so labels[t] is predicted
   * from position t-1). -100 marks prompt tokens and anything else that carries no loss.
   */
  labels: number[];
  /** Where it came from, for error messages: 'file.jsonl:12'. */
  source: string;
}

/** Number of positions that carry a loss after the shift (labels[1..] that are not -100). */
export function targetCount(e: Example): number {
  let n = 0;
  for (let i = 1; i < e.labels.length; i++) if (e.labels[i] !== IGNORE) n++;
  return n;
}

/** Check ids and labels against the model's vocabulary; the message names the example's line. */
export function checkExample(e: Example, vocabSize: number): void {
  if (e.inputIds.length !== e.labels.length) {
    throw new Error(`${e.source}: input_ids has ${e.inputIds.length} tokens but labels has ${e.labels.length}; expected equal lengths`);
  }
  e.inputIds.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`${e.source}: input_ids[${i}] = ${id} is outside the model's vocabulary [0, ${vocabSize})`);
    }
  });
  e.labels.forEach((id, i) => {
    if (id !== IGNORE && (!Number.isInteger(id) || id < 0 || id >= vocabSize)) {
      throw new Error(`${e.source}: labels[${i}] = ${id} is outside the model's vocabulary [0, ${vocabSize}) and is not -100`);
    }
  });
}
