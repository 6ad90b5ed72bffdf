// The sampler (CPU reference of Backend.sample): each filter keeps the exact set vLLM keeps, draws follow
// the exact filtered distribution (chi-square on 20k draws per config), the Philox/Gumbel draw is pinned
// down token by token, and log-probs are the raw model's.
import { describe, expect, it } from 'vitest';
import type { SampleRow } from '../src/backends/backend.ts';
import { philox4x32, seedKey, uniformOpen } from '../src/backends/philox.ts';
import { keptDistribution, sampleTokens } from '../src/backends/sampler.ts';

const LOGITS = Float32Array.from([2.0, 1.5, 1.4, 1.0, 0.5, 0.3, 0.0, -0.5, -1.0, -3.0]);
const V = LOGITS.length;

function row(over: Partial<SampleRow> = {}): SampleRow {
  return {
    temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, penalized: new Int32Array(0),
    key: seedKey(7), counter: [0, 0, 0], ...over,
  };
}

/** vLLM's apply_top_k_top_p + min-p written the slow, obvious way: full ascending sort and a cumulative sum. */
function naiveKept(logits: ArrayLike<number>, r: SampleRow): boolean[] {
  const n = logits.length;
  const s = Array.from(logits, (x, i) => {
    let l = x;
    if (r.repetitionPenalty !== 1 && r.penalized.includes(i)) l = l > 0 ? l / r.repetitionPenalty : l * r.repetitionPenalty;
    return l / r.temperature;
  });
  const max = Math.max(...s);
  const keep = s.map((x) => !(r.minP > 0 && Math.exp(x - max) < r.minP));
  if (r.topK > 0) {
    const alive = s.filter((_, i) => keep[i]).sort((a, b) => b - a);
    if (r.topK < alive.length) s.forEach((x, i) => (keep[i] &&= x >= alive[r.topK - 1]));
  }
  if (r.topP < 1) {
    const order = s.map((_, i) => i).filter((i) => keep[i]).sort((a, b) => s[a] - s[b] || b - a); // ascending
    const z = order.reduce((acc, i) => acc + Math.exp(s[i] - max), 0);
    let cum = 0;
    order.forEach((i, rank) => {
      cum += Math.exp(s[i] - max) / z;
      if (cum <= 1 - r.topP && rank < order.length - 1) keep[i] = false;
    });
  }
  return keep;
}

/** Wilson–Hilferty upper quantile of chi-square at p = 1e-4. */
function chi2Limit(df: number): number {
  const z = 3.719;
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

const CONFIGS: [string, Partial<SampleRow>][] = [
  ['temperature 1', {}],
  ['temperature 0.5', { temperature: 0.5 }],
  ['temperature 2', { temperature: 2 }],
  ['top-k 3', { topK: 3 }],
  ['top-p 0.8', { topP: 0.8 }],
  ['min-p 0.2', { minP: 0.2 }],
  ['repetition penalty 1.8', { repetitionPenalty: 1.8, penalized: Int32Array.from([0, 3, 8]) }],
  ['all together', { temperature: 0.7, topK: 6, topP: 0.9, minP: 0.05, repetitionPenalty: 1.3, penalized: Int32Array.from([1]) }],
];

describe('filters keep what vLLM keeps', () => {
  it.each(CONFIGS)('%s', (_, over) => {
    const r = row(over);
    const p = keptDistribution(LOGITS, V, r);
    const keep = naiveKept(LOGITS, r);
    expect(Array.from(p, (x) => x > 0)).toEqual(keep);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('hand-checked sets', () => {
    const kept = (over: Partial<SampleRow>) => Array.from(keptDistribution(LOGITS, V, row(over))).flatMap((x, i) => (x > 0 ? [i] : []));
    expect(kept({ topK: 3 })).toEqual([0, 1, 2]);
    // softmax of LOGITS: 0.312 0.189 0.171 0.115 ...; cumulative 0.312 0.502 0.673 0.788.
    expect(kept({ topP: 0.7 })).toEqual([0, 1, 2, 3]);
    expect(kept({ topP: 0.6 })).toEqual([0, 1, 2]);
    expect(kept({ topP: 0.5 })).toEqual([0, 1]);
    expect(kept({ topP: 0.3 })).toEqual([0]);
    // Ties rank lower ids first: four tokens of mass 0.211 each, then two of 0.078 (ids 0, then 5).
    const tied = Float32Array.from([0, 1, 1, 1, 1, 0]);
    expect(Array.from(keptDistribution(tied, 6, row({ topP: 0.5 }))).flatMap((x, i) => (x > 0 ? [i] : []))).toEqual([1, 2, 3]);
    expect(Array.from(keptDistribution(tied, 6, row({ topP: 0.9 }))).flatMap((x, i) => (x > 0 ? [i] : []))).toEqual([0, 1, 2, 3, 4]);
    // min-p 0.5: keep exp(l - 2) ≥ 0.5, i.e. l ≥ 2 - ln 2 = 1.307.
    expect(kept({ minP: 0.5 })).toEqual([0, 1, 2]);
    // A penalty of 10 on the top token moves it below the rest: 2 / 10 = 0.2.
    expect(kept({ topK: 2, repetitionPenalty: 10, penalized: Int32Array.from([0]) })).toEqual([1, 2]);
  });

  it('top-p matches the full sort on wide random logits (the head window widens)', () => {
    let state = 99;
    const rnd = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 30; trial++) {
      // Rounded to quarters on odd trials, so that many scores tie.
      const logits = Float32Array.from({ length: 300 }, () => (trial % 2 ? Math.round((rnd() - 0.5) * 40) / 4 : (rnd() - 0.5) * 80));
      const r = row({ topP: 0.2 + 0.79 * rnd(), temperature: 0.5 + 3 * rnd(), topK: trial % 3 === 0 ? 50 : 0 });
      expect(Array.from(keptDistribution(logits, 300, r), (x) => x > 0)).toEqual(naiveKept(logits, r));
    }
  });
});

describe('draws follow the filtered distribution', () => {
  const N = 20000;
  it.each(CONFIGS)('%s: chi-square over 20k draws', (_, over) => {
    const p = keptDistribution(LOGITS, V, row(over));
    const counts = new Array(V).fill(0);
    const rows = Array.from({ length: N }, (_, i) => row({ ...over, counter: [i, i % 3, 5] }));
    const { tokens } = sampleTokens(new Float32Array(N * V).map((_, j) => LOGITS[j % V]), V, rows);
    for (const t of tokens) counts[t]++;
    let chi2 = 0;
    let df = -1;
    for (let i = 0; i < V; i++) {
      if (p[i] === 0) {
        expect(counts[i], `token ${i} is filtered out but was drawn`).toBe(0);
        continue;
      }
      chi2 += (counts[i] - N * p[i]) ** 2 / (N * p[i]);
      df++;
    }
    if (df > 0) expect(chi2).toBeLessThan(chi2Limit(df));
    // Total variation distance, a bound that reads directly: well under 2% at this sample size.
    const tv = counts.reduce((s, c, i) => s + Math.abs(c / N - p[i]), 0) / 2;
    expect(tv).toBeLessThan(0.02);
  });
});

describe('the draw is the documented Philox/Gumbel race', () => {
  it('matches argmax of s_i - log(-log(u_i)) computed token by token', () => {
    const over = { temperature: 0.8, topP: 0.95, topK: 8 };
    const p = keptDistribution(LOGITS, V, row(over));
    for (let step = 0; step < 200; step++) {
      const r = row({ ...over, key: seedKey(2 ** 40 + 17), counter: [step, 3, 11] });
      const got = sampleTokens(LOGITS, V, [r]).tokens[0];
      let best = -Infinity;
      let want = -1;
      for (let i = 0; i < V; i++) {
        if (p[i] === 0) continue;
        const words = philox4x32(i >> 2, step, 3, 11, r.key[0], r.key[1]);
        const score = LOGITS[i] / 0.8 - Math.log(-Math.log(uniformOpen(words[i & 3])));
        if (score > best) [best, want] = [score, i];
      }
      expect(got).toBe(want);
    }
  });

  it('is a pure function of (seed, counter): the same row draws the same token', () => {
    const rows = Array.from({ length: 50 }, (_, i) => row({ counter: [i, 1, 2] }));
    const a = sampleTokens(new Float32Array(50 * V).map((_, j) => LOGITS[j % V]), V, rows).tokens;
    const b = sampleTokens(new Float32Array(50 * V).map((_, j) => LOGITS[j % V]), V, rows.slice().reverse()).tokens;
    expect(Array.from(a)).toEqual(Array.from(b).reverse());
    const other = sampleTokens(new Float32Array(50 * V).map((_, j) => LOGITS[j % V]), V, rows.map((r) => ({ ...r, key: seedKey(8) }))).tokens;
    expect(Array.from(other)).not.toEqual(Array.from(a));
  });
});

describe('greedy and log-probs', () => {
  it('temperature 0 is argmax of the penalised logits, ties to the lower id', () => {
    expect(sampleTokens(LOGITS, V, [row({ temperature: 0 })]).tokens[0]).toBe(0);
    expect(sampleTokens(LOGITS, V, [row({ temperature: 0, repetitionPenalty: 2, penalized: Int32Array.from([0]) })]).tokens[0]).toBe(1);
    expect(sampleTokens(Float32Array.from([1, 3, 3, 0]), 4, [row({ temperature: 0 })]).tokens[0]).toBe(1);
  });

  it('log-probs are the raw log_softmax of the chosen token, whatever the processing', () => {
    const lse = Math.log(LOGITS.reduce((s, x) => s + Math.exp(x), 0));
    const rows = [row({ temperature: 0 }), row({ temperature: 0.3, topK: 2, counter: [4, 0, 0] }), row({ repetitionPenalty: 3, penalized: Int32Array.from([0]), temperature: 0 })];
    const logits = new Float32Array(3 * V).map((_, j) => LOGITS[j % V]);
    const { tokens, logprobs } = sampleTokens(logits, V, rows);
    tokens.forEach((t, i) => expect(logprobs[i]).toBeCloseTo(LOGITS[t] - lse, 6));
  });

  it('rejects parameters outside their ranges with the field name', () => {
    expect(() => sampleTokens(LOGITS, V, [row({ topP: 0 })])).toThrow(/topP/);
    expect(() => sampleTokens(LOGITS, V, [row({ minP: 1.5 })])).toThrow(/minP/);
    expect(() => sampleTokens(LOGITS, V, [row({ topK: -1 })])).toThrow(/topK/);
    expect(() => sampleTokens(LOGITS, V + 1, [row()])).toThrow(/rows/);
  });
});
