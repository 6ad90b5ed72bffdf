// Logits → tokens with vLLM's semantics, the CPU reference of Backend.sample. Per row, in this order:
//   1. repetition penalty on the row's `penalized` ids (logit > 0 → logit / p, else logit × p);
//   2. temperature < 1e-5 → greedy: argmax of the penalised logits (lowest id on ties); stop here;
//   3. scores s = penalised logit / temperature (f64);
//   4. min-p: drop tokens with exp(s - max s) < minP;
//   5. top-k: keep tokens with s ≥ the k-th largest surviving s (ties at the k-th are kept);
//   6. top-p: rank survivors by s descending (lower id first on ties); keep a token while the mass
//      ranked above it is < topP × Z, where masses are exp(s - max s) and Z is their sum over survivors;
//   7. draw: argmax over survivors of s_i + Gumbel_i, with Gumbel_i = -log(-log(u_i)),
//      u_i = (x + 0.5) / 2^32 and x = word (i & 3) of Philox4x32-10(counter [i >> 2, step, sample, request],
//      key [seed lo, seed hi]); ties go to the lower id. This is an exact draw from softmax(s) over the
//      survivors (the Gumbel-max trick, the same race vLLM runs as probs / Exponential), and it needs no
//      sort and no prefix sum, so a GPU kernel computes each token's score independently.
// The log-prob returned is of the chosen token under the RAW logits (log_softmax before any processing),
// which is vLLM's default ("raw_logprobs") and what DPO and analysis want.
// A GPU kernel that computes steps 3–7 in f64 gives the same tokens; in f32, ties within rounding may flip.
import type { SampleRow, SampledTokens } from './backend.ts';
import { philox4x32, uniformOpen } from './philox.ts';

/** vLLM's _SAMPLING_EPS: temperatures below it mean greedy. */
export const GREEDY_TEMPERATURE = 1e-5;

/** Scores start this far below the top and widen by as much until the top-p head is found (exact). */
const TOP_P_WINDOW = 16;

let scratch = new Float64Array(0);
const words = new Uint32Array(4);

/** One token per row of `logits` (N × vocab, row-major). */
export function sampleTokens(logits: ArrayLike<number>, vocab: number, rows: readonly SampleRow[]): SampledTokens {
  if (logits.length !== rows.length * vocab) {
    throw new Error(`sampleTokens: ${logits.length} logits are not ${rows.length} rows × vocabulary ${vocab}`);
  }
  if (scratch.length < vocab) scratch = new Float64Array(vocab);
  const tokens = new Int32Array(rows.length);
  const logprobs = new Float32Array(rows.length);
  rows.forEach((row, r) => {
    const offset = r * vocab;
    const greedy = processRow(logits, offset, vocab, row, scratch);
    const token = greedy >= 0 ? greedy : drawGumbel(scratch, vocab, row);
    tokens[r] = token;
    logprobs[r] = logits[offset + token] - logSumExp(logits, offset, vocab);
  });
  return { tokens, logprobs };
}

/**
 * Steps 1–6 for one row: fills s[0, vocab) with the processed scores (-Infinity where filtered) and returns
 * -1, or returns the greedy token when the row is greedy.
 */
export function processRow(logits: ArrayLike<number>, offset: number, vocab: number, row: SampleRow, s: Float64Array): number {
  checkSampleRow(row);
  for (let i = 0; i < vocab; i++) s[i] = logits[offset + i];
  if (row.repetitionPenalty !== 1) {
    for (const id of row.penalized) {
      if (id < 0 || id >= vocab) throw new Error(`sampler: penalized id ${id} is outside the vocabulary [0, ${vocab})`);
      s[id] = s[id] > 0 ? s[id] / row.repetitionPenalty : s[id] * row.repetitionPenalty;
    }
  }
  if (row.temperature < GREEDY_TEMPERATURE) return argmax(s, vocab);
  for (let i = 0; i < vocab; i++) s[i] /= row.temperature;
  if (row.minP > 0) {
    const max = maxOf(s, vocab);
    for (let i = 0; i < vocab; i++) if (Math.exp(s[i] - max) < row.minP) s[i] = -Infinity;
  }
  if (row.topK > 0) applyTopK(s, vocab, row.topK);
  if (row.topP < 1) applyTopP(s, vocab, row.topP);
  return -1;
}

/** The exact distribution a row is drawn from (one-hot for greedy rows), for tests and analysis. */
export function keptDistribution(logits: ArrayLike<number>, vocab: number, row: SampleRow): Float64Array {
  const s = new Float64Array(vocab);
  const greedy = processRow(logits, 0, vocab, row, s);
  const p = new Float64Array(vocab);
  if (greedy >= 0) {
    p[greedy] = 1;
    return p;
  }
  const max = maxOf(s, vocab);
  let z = 0;
  for (let i = 0; i < vocab; i++) z += p[i] = Math.exp(s[i] - max);
  for (let i = 0; i < vocab; i++) p[i] /= z;
  return p;
}

/** The row's settings, or an error naming the field and what it must be (the CUDA sampler checks the same). */
export function checkSampleRow(row: SampleRow): void {
  const bad = (field: string, want: string, got: number) => new Error(`sampler: ${field} must be ${want}, got ${got}`);
  if (!(row.temperature >= 0)) throw bad('temperature', '≥ 0', row.temperature);
  if (!Number.isInteger(row.topK) || row.topK < 0) throw bad('topK', 'a non-negative integer (0 = off)', row.topK);
  if (!(row.topP > 0 && row.topP <= 1)) throw bad('topP', 'in (0, 1]', row.topP);
  if (!(row.minP >= 0 && row.minP <= 1)) throw bad('minP', 'in [0, 1]', row.minP);
  if (!(row.repetitionPenalty > 0)) throw bad('repetitionPenalty', '> 0', row.repetitionPenalty);
}

function argmax(s: Float64Array, vocab: number): number {
  let best = -1;
  for (let i = 0; i < vocab; i++) if (best < 0 ? !Number.isNaN(s[i]) : s[i] > s[best]) best = i;
  // A row of NaN has no argmax; saying so lets callers name the weight to blame (nn/weights_check.ts).
  if (best < 0) throw new Error('sampler: every token was filtered out (are the logits NaN?)');
  return best;
}

function maxOf(s: Float64Array, vocab: number): number {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (s[i] > max) max = s[i];
  return max;
}

function applyTopK(s: Float64Array, vocab: number, k: number): void {
  let n = 0;
  for (let i = 0; i < vocab; i++) if (s[i] > -Infinity) n++;
  if (k >= n) return;
  const alive = new Float64Array(n);
  for (let i = 0, j = 0; i < vocab; i++) if (s[i] > -Infinity) alive[j++] = s[i];
  alive.sort();
  const kth = alive[n - k];
  for (let i = 0; i < vocab; i++) if (s[i] < kth) s[i] = -Infinity;
}

/**
 * Top-p without sorting the whole vocabulary: only the head of tokens within a window of the top score is
 * ranked, and the window widens until the cut falls inside it. Tokens outside the head rank after every head
 * token, so the result is the same as ranking everything. Scores are ranked with a native numeric sort; tokens
 * tied with the first dropped score are kept lowest id first, which is the (s desc, id asc) order.
 */
function applyTopP(s: Float64Array, vocab: number, topP: number): void {
  const max = maxOf(s, vocab);
  let z = 0;
  let alive = 0;
  for (let i = 0; i < vocab; i++) {
    if (s[i] > -Infinity) {
      z += Math.exp(s[i] - max);
      alive++;
    }
  }
  const budget = topP * z;
  for (let floor = max - TOP_P_WINDOW; ; floor -= TOP_P_WINDOW) {
    let n = 0;
    for (let i = 0; i < vocab; i++) if (s[i] >= floor && s[i] > -Infinity) n++;
    const head = new Float64Array(n);
    for (let i = 0, j = 0; i < vocab; i++) if (s[i] >= floor && s[i] > -Infinity) head[j++] = s[i];
    head.sort().reverse();
    let above = 0;
    let cut = -1;
    for (let r = 0; r < n; r++) {
      if (above >= budget) {
        cut = r;
        break;
      }
      above += Math.exp(head[r] - max);
    }
    if (cut < 0) {
      if (n < alive) continue; // the cut lies beyond this head: widen
      return; // every surviving token is kept
    }
    // Keep scores above the first dropped one, and as many of the tokens tied with it as ranks remain.
    const dropped = head[cut];
    let tiedKept = 0;
    for (let r = cut - 1; r >= 0 && head[r] === dropped; r--) tiedKept++;
    for (let i = 0; i < vocab; i++) {
      if (s[i] > dropped) continue;
      if (s[i] === dropped && tiedKept > 0) tiedKept--;
      else s[i] = -Infinity;
    }
    return;
  }
}

/**
 * Step 7: the Gumbel-max race over the surviving tokens, one Philox call per block of 4 ids. A uniform in
 * (0, 1) on a 2^-32 grid bounds the Gumbel noise by G_MAX, so a token with s + G_MAX below the best score
 * so far cannot win and its block is never drawn: the same winner, far fewer Philox calls on real vocabularies.
 */
function drawGumbel(s: Float64Array, vocab: number, row: SampleRow): number {
  const [step, sample, request] = row.counter;
  const [k0, k1] = row.key;
  let best = -Infinity;
  let token = -1;
  const race = (base: number) => {
    const end = Math.min(base + 4, vocab);
    let any = false;
    for (let i = base; i < end; i++) if (s[i] > -Infinity && s[i] + G_MAX >= best) any = true;
    if (!any) return;
    philox4x32(base >>> 2, step, sample, request, k0, k1, words);
    for (let i = base; i < end; i++) {
      if (!(s[i] > -Infinity)) continue;
      const score = s[i] - Math.log(-Math.log(uniformOpen(words[i & 3])));
      if (score > best || (score === best && i < token)) {
        best = score;
        token = i;
      }
    }
  };
  // Racing the top token's block first sets a high bar early.
  const top = argmax(s, vocab);
  race(top & ~3);
  for (let base = 0; base < vocab; base += 4) if (base !== (top & ~3)) race(base);
  if (token < 0) throw new Error('sampler: every token was filtered out (are the logits NaN?)');
  return token;
}

/** The largest Gumbel noise a uniform from uniformOpen can give. */
const G_MAX = -Math.log(-Math.log(uniformOpen(0xffffffff)));

function logSumExp(logits: ArrayLike<number>, offset: number, vocab: number): number {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (logits[offset + i] > max) max = logits[offset + i];
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i] - max);
  return max + Math.log(sum);
}
