// An SFT dataset from a JSONL file (or rows in memory): rows detected, rendered, length-checked, split.
import { checkExample, targetCount, type Example } from './example.ts';
import { parseRow } from './formats.ts';
import { readJsonl } from './jsonl.ts';
import { renderRow, type RenderContext } from './render.ts';
import { mixSeed, seededPermutation } from '../tensor/rng.ts';

export interface LoadDatasetOptions {
  /** Check every id against the model's vocabulary. */
  vocabSize?: number;
  /** Cut examples longer than this many tokens (keeping the start); counted in the returned stats. */
  maxLength?: number;
}

export interface DatasetStats {
  rows: number;
  tokens: number;
  targets: number;
  truncated: number;
  /** Rows with no loss-carrying token left (e.g. cut inside the prompt); they are dropped. */
  dropped: number;
  formats: Record<string, number>;
  /** The rows' questions (a `question` or `problem` field), for the benchmark-overlap warning. */
  questions: string[];
}

/** Rows of one file, or of several read in order (errors name each row's file and line). */
export function loadSftDataset(files: string | readonly string[], ctx: RenderContext, opts: LoadDatasetOptions = {}): { examples: Example[]; stats: DatasetStats } {
  const list = typeof files === 'string' ? [files] : files;
  const label = list.join(' + ');
  const rows = list.flatMap((file) => readJsonl(file).map((r) => ({ where: `${file}:${r.line}`, value: r.value })));
  if (rows.length === 0) throw new Error(`${label}: no rows (expected one JSON object per line)`);
  return buildExamples(rows, ctx, opts, label);
}

/**
 * Examples from rows already in memory (the STILL loop's generated data), in any of the four formats.
 * `label` names the collection in errors; row i is reported as `label:i+1`.
 */
export function examplesFromRows(
  rows: readonly Record<string, unknown>[], ctx: RenderContext, opts: LoadDatasetOptions = {}, label = 'rows',
): { examples: Example[]; stats: DatasetStats } {
  if (rows.length === 0) throw new Error(`${label}: no rows`);
  return buildExamples(rows.map((value, i) => ({ where: `${label}:${i + 1}`, value })), ctx, opts, label);
}

function buildExamples(
  rows: { where: string; value: Record<string, unknown> }[], ctx: RenderContext, opts: LoadDatasetOptions, label: string,
): { examples: Example[]; stats: DatasetStats } {
  const examples: Example[] = [];
  const stats: DatasetStats = { rows: rows.length, tokens: 0, targets: 0, truncated: 0, dropped: 0, formats: {}, questions: [] };
  for (const { where, value } of rows) {
    const question = typeof value.question === 'string' ? value.question : typeof value.problem === 'string' ? value.problem : null;
    if (question !== null) stats.questions.push(question);
    const row = parseRow(value, where);
    stats.formats[row.kind] = (stats.formats[row.kind] ?? 0) + 1;
    let ex = renderRow(row, ctx, where);
    if (opts.vocabSize !== undefined) checkExample(ex, opts.vocabSize);
    if (opts.maxLength !== undefined && ex.inputIds.length > opts.maxLength) {
      ex = { ...ex, inputIds: ex.inputIds.slice(0, opts.maxLength), labels: ex.labels.slice(0, opts.maxLength) };
      stats.truncated++;
    }
    if (targetCount(ex) === 0) {
      stats.dropped++;
      continue;
    }
    stats.tokens += ex.inputIds.length;
    stats.targets += targetCount(ex);
    examples.push(ex);
  }
  if (examples.length === 0) throw new Error(`${label}: none of its ${rows.length} rows has a token to train on (all labels are -100 after the shift)`);
  return { examples, stats };
}

/**
 * Hold out a fraction of the examples for eval loss, chosen by a seeded shuffle so the split is the same
 * on every run (and on resume). At least one example stays on each side.
 */
export function splitHeldOut(examples: Example[], fraction: number, seed: number): { train: Example[]; held: Example[] } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`eval split must be a fraction in (0, 1), got ${fraction}`);
  const n = examples.length;
  const k = Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  if (n < 2) throw new Error(`eval split: need at least 2 examples to hold one out, got ${n}`);
  const order = seededPermutation(n, mixSeed(seed, 0x5eed));
  const heldIdx = new Set(order.slice(0, k));
  return {
    train: examples.filter((_, i) => !heldIdx.has(i)),
    held: examples.filter((_, i) => heldIdx.has(i)),
  };
}
