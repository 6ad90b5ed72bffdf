// How the fused sampler (kernels/cuda/sample.cu) cuts a batch of logits [N, V] into blocks, the scratch it
// needs, and the per-row parameters it reads, packed as the kernels expect. Pure functions: tested without
// a GPU (test/cuda_logic.test.ts) and shared by the eager sampler and the graph-captured one.
import type { SampleRow } from '../backend.ts';
import { checkSampleRow } from '../sampler.ts';

/** Vocabulary ids per block at most (sample.cu's kMaxChunk), histogram bins per row (kBins), sub-bins of the
 * cut bin (kSub), and the per-row plan's i32 and f64 slots (kPlanInts, kPlanDoubles). */
export const SAMPLE_MAX_CHUNK = 4096;
export const SAMPLE_BINS = 2048;
export const SAMPLE_SUB_BINS = 512;
const PLAN_INTS = 16;
const PLAN_DOUBLES = 4;
const MIN_CHUNK = 1024;
/** 256-thread blocks an SM holds at once; aim for one full wave. */
const BLOCKS_PER_SM = 8;

export interface SamplePlan {
  /** Vocabulary ids per block (a multiple of 4: a Philox block of 4 ids never straddles two). */
  chunk: number;
  /** Blocks per row: ceil(V / chunk). */
  chunks: number;
}

export function samplePlan(rows: number, vocab: number, multiprocessors: number): SamplePlan {
  const target = Math.max(1, multiprocessors * BLOCKS_PER_SM);
  const want = Math.ceil((vocab * Math.max(1, rows)) / target);
  const chunk = Math.min(SAMPLE_MAX_CHUNK, Math.max(MIN_CHUNK, Math.ceil(want / MIN_CHUNK) * MIN_CHUNK));
  return { chunk, chunks: Math.max(1, Math.ceil(vocab / chunk)) };
}

/** Byte offsets of each scratch array in one block (each 256-byte aligned), and the total. */
export interface SampleScratch {
  statD: number;
  statI: number;
  counts: number;
  histC: number;
  histM: number;
  subC: number;
  subM: number;
  plan: number;
  planD: number;
  cuts: number;
  cand: number;
  raceD: number;
  raceI: number;
  bytes: number;
}

export function sampleScratch(rows: number, vocab: number, chunks: number): SampleScratch {
  let at = 0;
  const take = (bytes: number) => {
    const start = at;
    at += Math.ceil(bytes / 256) * 256;
    return start;
  };
  const statD = take(rows * chunks * 4 * 8);
  const statI = take(rows * chunks * 2 * 4);
  const counts = take(rows * vocab * 2);
  const histC = take(rows * SAMPLE_BINS * 4);
  const histM = take(rows * SAMPLE_BINS * 8);
  const subC = take(rows * SAMPLE_SUB_BINS * 4);
  const subM = take(rows * SAMPLE_SUB_BINS * 8);
  const plan = take(rows * PLAN_INTS * 4);
  const planD = take(rows * PLAN_DOUBLES * 8);
  const cuts = take(rows * 4 * 8);
  const cand = take(rows * vocab * 4);
  const raceD = take(rows * chunks * 8);
  const raceI = take(rows * chunks * 4);
  return { statD, statI, counts, histC, histM, subC, subM, plan, planD, cuts, cand, raceD, raceI, bytes: at };
}

/** Which kernels a row needs beyond sample_stats and sample_finish (same rules as sample.cu's row_params). */
export function rowNeeds(row: SampleRow, vocab: number): { select: boolean; filtered: boolean } {
  const greedy = row.temperature < 1e-5;
  const select = !greedy && ((row.topK > 0 && row.topK < vocab) || row.topP < 1);
  const filtered = !greedy && (select || row.minP > 0);
  return { select, filtered };
}

export interface PackedSampleParams {
  /** f64 [N, 4]: temperature, topP, minP, repetitionPenalty. */
  dparams: Float64Array;
  /** i32 [N, 8]: topK, key0, key1, step, sample, request, penalized offset, penalized count. */
  iparams: Int32Array;
  /** Every penalised row's ids, concatenated. */
  penalized: Int32Array;
}

/**
 * Check and pack the rows; `padTo` rows in all (≥ rows.length): the extra rows are greedy with no penalty,
 * so they cost one argmax and touch nothing of the real rows. Throws past `penalizedCapacity` ids.
 */
export function packSampleParams(rows: readonly SampleRow[], vocab: number, padTo = rows.length, penalizedCapacity = Infinity): PackedSampleParams {
  const n = Math.max(padTo, rows.length);
  const dparams = new Float64Array(4 * n);
  const iparams = new Int32Array(8 * n);
  let total = 0;
  for (const row of rows) total += row.repetitionPenalty !== 1 ? row.penalized.length : 0;
  if (total > penalizedCapacity) throw new Error(`sampler: ${total} penalized ids do not fit the ${penalizedCapacity} the device buffer holds`);
  const penalized = new Int32Array(total);
  let at = 0;
  rows.forEach((row, r) => {
    checkSampleRow(row);
    dparams.set([row.temperature, row.topP, row.minP, row.repetitionPenalty], 4 * r);
    const ids = row.repetitionPenalty !== 1 ? row.penalized : new Int32Array(0);
    for (const id of ids) {
      if (id < 0 || id >= vocab) throw new Error(`sampler: penalized id ${id} is outside the vocabulary [0, ${vocab})`);
    }
    if (ids.length > 65535) checkRepeats(ids);
    iparams.set([row.topK, row.key[0] | 0, row.key[1] | 0, row.counter[0] | 0, row.counter[1] | 0, row.counter[2] | 0, at, ids.length], 8 * r);
    penalized.set(ids, at);
    at += ids.length;
  });
  for (let r = rows.length; r < n; r++) dparams.set([0, 1, 0, 1], 4 * r);
  return { dparams, iparams, penalized };
}

/** The kernels count each id's listings in 16 bits. */
function checkRepeats(ids: Int32Array): void {
  const seen = new Map<number, number>();
  for (const id of ids) {
    const c = (seen.get(id) ?? 0) + 1;
    if (c > 65535) throw new Error(`sampler: penalized id ${id} is listed more than 65535 times`);
    seen.set(id, c);
  }
}
