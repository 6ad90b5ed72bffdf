// The generator's decode step as replayed CUDA graphs: one graph per batch-size bucket (powers of two up to
// maxBatch), capturing the model forward and the fused sampler, so a step costs one graph launch instead
// of hundreds of kernel launches. A step's live rows are padded up to their bucket with rows that decode
// token 0 at position 0 of a free slot and sample greedily: they write only a slot no sequence owns, and
// every real row's draw depends only on its own logits and Philox counter. Inputs live in tensors made
// once per bucket and rewritten in place before each replay; only the sampled ids and log-probs come back.
import type { CapturedGraph, GraphBackend, SampledTokens, SampleParamsBuffer, SampleRow } from '../backends/backend.ts';
import type { DecoderModel } from '../nn/model.ts';
import { noGrad } from '../tensor/autograd.ts';
import { keep, tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { SlotKVCache } from './slot_cache.ts';

/** The bucket sizes for maxBatch slots: powers of two below it, and maxBatch itself. */
export function bucketSizes(maxBatch: number): number[] {
  const out: number[] = [];
  for (let s = 1; s < maxBatch; s *= 2) out.push(s);
  out.push(maxBatch);
  return out;
}

interface Bucket {
  size: number;
  ids: Tensor;
  positions: Tensor;
  slots: Tensor;
  /** A view of positions: a decode row writes its new token at its own position. */
  starts: Tensor;
  kvLens: Tensor;
  /** i32 [2·size]: sampled ids, then the log-probs' f32 bits. */
  out: Tensor;
  params: SampleParamsBuffer;
  /** Captured after the bucket's first step, which runs eagerly (it makes what a capture cannot: modules, GEMM plans, tables). */
  graph: CapturedGraph | null;
}

/** One row of a decode step. */
export interface DecodeRow {
  slot: number;
  /** The row's last token, fed at `position`. */
  token: number;
  position: number;
  sample: SampleRow;
}

export class DecodeGraphs {
  private readonly buckets = new Map<number, Bucket>();
  private readonly sizes: number[];
  /** Set when a capture failed: every later step runs eagerly (the reason is printed once). */
  private failed: string | null = null;

  constructor(
    private readonly backend: GraphBackend,
    private readonly model: DecoderModel,
    private readonly cache: SlotKVCache,
    private readonly maxBatch: number,
    private readonly maxLen: number,
  ) {
    this.sizes = bucketSizes(maxBatch);
  }

  /** Graphs captured so far (for tests and benchmarks). */
  get captured(): number {
    return [...this.buckets.values()].filter((b) => b.graph).length;
  }

  /**
   * Decode one token for each row and draw the next. `freeSlot` is a slot no live sequence uses (any, when
   * the rows fill every slot): padding rows write there.
   */
  step(rows: readonly DecodeRow[], freeSlot: number): SampledTokens {
    const n = rows.length;
    const size = this.sizes.find((s) => s >= n);
    if (size === undefined || n === 0) throw new Error(`DecodeGraphs: ${n} rows do not fit ${this.maxBatch} slots`);
    if (n < size && !(freeSlot >= 0 && freeSlot < this.maxBatch)) throw new Error(`DecodeGraphs: padding ${n} rows to ${size} needs a free slot, got ${freeSlot}`);
    const b = this.buckets.get(size) ?? this.makeBucket(size);
    const col = (f: (r: DecodeRow) => number, pad: number) => Int32Array.from({ length: size }, (_, i) => (i < n ? f(rows[i]) : pad));
    const positions = col((r) => r.position, 0);
    this.backend.overwrite(b.ids, col((r) => r.token, 0));
    this.backend.overwrite(b.positions, positions);
    this.backend.overwrite(b.slots, col((r) => r.slot, freeSlot));
    this.backend.overwrite(b.kvLens, positions.map((p) => p + 1));
    b.params.write(rows.map((r) => r.sample), this.model.config.vocabSize);
    if (b.graph) b.graph.replay();
    else {
      this.run(b);
      if (!this.failed) this.capture(b);
    }
    const host = this.backend.download(b.out) as Int32Array;
    const tokens = host.slice(0, n);
    if (tokens.some((t) => t < 0)) throw new Error('sampler: every token was filtered out (are the logits NaN?)');
    return { tokens, logprobs: new Float32Array(host.buffer.slice(4 * size, 4 * (size + n))) };
  }

  dispose(): void {
    for (const b of this.buckets.values()) {
      b.graph?.dispose();
      b.params.dispose();
      for (const t of [b.ids, b.positions, b.slots, b.starts, b.kvLens, b.out]) t.dispose();
    }
    this.buckets.clear();
  }

  private makeBucket(size: number): Bucket {
    const be = this.backend;
    const i32 = (shape: number[]) => keep(be.zeros(shape, 'i32'));
    const positions = i32([size, 1]);
    const b: Bucket = {
      size, ids: i32([size, 1]), positions, slots: i32([size]), starts: keep(positions.view([size])), kvLens: i32([size]),
      out: i32([2 * size]),
      // A row's penalized ids are distinct ids of its prompt and output: at most maxLen of them.
      params: be.createSampleParams(size, size * this.maxLen),
      graph: null,
    };
    this.buckets.set(size, b);
    return b;
  }

  /** The step itself: forward over the bucket's inputs, then the fused sampler into its out. */
  private run(b: Bucket): void {
    noGrad(() =>
      tidy(() => {
        this.cache.bindTensors(b);
        const logits = this.model.forward(b.ids, { positions: b.positions, cache: this.cache, output: 'last' });
        this.backend.sampleInto(logits, b.params, b.out);
      }),
    );
  }

  private capture(b: Bucket): void {
    try {
      b.graph = this.backend.captureGraph(() => this.run(b)).graph;
    } catch (e) {
      this.failed = (e as Error).message.split('\n')[0];
      process.stderr.write(`still: decode steps run without CUDA graphs (capture failed: ${this.failed})\n`);
    }
  }
}
