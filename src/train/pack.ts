// Packing examples into a batch: several examples share a row, kept apart by segment ids.
//
// Why packing and not padding: long-thought data mixes 500- and 8000-token examples, and padding every
// row to the longest wastes most of the compute. Each example keeps its own positions (restarting at 0)
// and the attention kernel confines every query to its own segment, so a packed example computes exactly
// what it would alone. Labels are shifted per example (HF semantics) before packing, so no example ever
// predicts its neighbour's first token. Rows are filled first-fit in the given order (deterministic) up
// to `rowTokens`; the batch is as wide as its longest row, and the tail of shorter rows is padding that
// carries no loss and, sitting after every real token, is never attended to by one.
import { IGNORE, type Example } from '../data/example.ts';

export interface PackedBatch {
  rows: number;
  cols: number;
  /** [rows·cols] token ids (pad = padId). */
  ids: Int32Array;
  /** [rows·cols] next-token targets, -100 where there is none. */
  targets: Int32Array;
  /** [rows·cols] position of each token inside its own example. */
  positions: Int32Array;
  /** [rows·cols] segment id per token; null when every row holds one example (plain causal attention). */
  segments: Int32Array | null;
  /** Real (non-pad) tokens. */
  tokens: number;
  /** Targets that are not -100: this batch's share of the loss normalizer. */
  targetCount: number;
}

/** Pack `examples` into rows of at most `rowTokens` tokens (an example longer than that gets a row of its own). */
export function packExamples(examples: readonly Example[], rowTokens: number, padId = 0): PackedBatch {
  if (examples.length === 0) throw new Error('packExamples: no examples');
  const rows: Example[][] = [];
  const used: number[] = [];
  for (const ex of examples) {
    const n = ex.inputIds.length;
    let r = used.findIndex((u) => u + n <= rowTokens);
    if (r < 0) {
      r = rows.length;
      rows.push([]);
      used.push(0);
    }
    rows[r].push(ex);
    used[r] += n;
  }
  const cols = Math.max(...used);
  const size = rows.length * cols;
  const ids = new Int32Array(size).fill(padId);
  const targets = new Int32Array(size).fill(IGNORE);
  const positions = new Int32Array(size);
  const segments = new Int32Array(size);
  let tokens = 0;
  let targetCount = 0;
  rows.forEach((row, r) => {
    let at = r * cols;
    row.forEach((ex, s) => {
      const n = ex.inputIds.length;
      for (let i = 0; i < n; i++) {
        ids[at + i] = ex.inputIds[i];
        const t = i + 1 < n ? ex.labels[i + 1] : IGNORE;
        targets[at + i] = t;
        if (t !== IGNORE) targetCount++;
        positions[at + i] = i;
        segments[at + i] = s;
      }
      at += n;
      tokens += n;
    });
    // Padding: its own segment, positions continuing from 0 (never seen by a real token either way).
    const padStart = at;
    for (let i = padStart; i < (r + 1) * cols; i++) {
      segments[i] = row.length;
      positions[i] = i - padStart;
    }
  });
  const packed = rows.some((row) => row.length > 1);
  return { rows: rows.length, cols, ids, targets, positions, segments: packed ? segments : null, tokens, targetCount };
}
