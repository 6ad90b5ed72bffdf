// Finding a weight that holds NaN or Inf. Scanning every weight on load would cost seconds on a 7B model for
// a fault that is rare, so this runs only after the logits came out NaN, to name the culprit.
import type { DecoderModel } from './model.ts';

/** The first weight (in the model's order) with a NaN or infinite element, or null when all are finite. */
export function nonFiniteWeight(model: DecoderModel): string | null {
  for (const [name, w] of model.weights) {
    const values = w.toArray();
    if (values instanceof Int32Array) continue;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return name;
  }
  return null;
}

/** A clearer error for a sampler that found NaN logits: which weight of which model is to blame. */
export function explainNanLogits(err: unknown, model: DecoderModel, source: string): unknown {
  if (!(err instanceof Error) || !err.message.includes('are the logits NaN')) return err;
  const bad = nonFiniteWeight(model);
  return new Error(bad
    ? `${source}: weight '${bad}' holds NaN or infinite values (a diverged training run, or a damaged file), so every logit is NaN; use an earlier checkpoint`
    : `${source}: the logits came out NaN or infinite though every weight is finite (an overflow in half precision? try --backend cpu to compare)`, { cause: err });
}
