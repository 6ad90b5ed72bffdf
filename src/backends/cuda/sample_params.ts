// Device buffers holding the fused sampler's per-row parameters (sample_plan.ts packs them). The eager
// sampler makes one per call; a captured decode step keeps one for its whole life, because a graph replay
// reads the addresses it was captured with: refresh it with write() between replays.
import type { SampleRow } from '../backend.ts';
import type { Block, CachingAllocator } from './allocator.ts';
import type { CudaDriver } from './driver.ts';
import { packSampleParams, type PackedSampleParams } from './sample_plan.ts';

export class DeviceSampleParams {
  readonly dparams: Block;
  readonly iparams: Block;
  readonly penalized: Block;
  private released = false;

  /** Room for `rows` rows (padding included) and `penalizedCapacity` penalized ids over all of them. */
  constructor(private readonly drv: CudaDriver, private readonly allocator: CachingAllocator, readonly rows: number, readonly penalizedCapacity: number) {
    this.dparams = allocator.alloc(4 * 8 * rows);
    this.iparams = allocator.alloc(8 * 4 * rows);
    this.penalized = allocator.alloc(4 * Math.max(1, penalizedCapacity));
  }

  /** Upload the rows; rows past rows.length (up to this.rows) become greedy padding. */
  write(rows: readonly SampleRow[], vocab: number): void {
    if (this.released) throw new Error('DeviceSampleParams: write after dispose()');
    if (rows.length > this.rows) throw new Error(`DeviceSampleParams: ${rows.length} rows do not fit the ${this.rows} it holds`);
    this.writePacked(packSampleParams(rows, vocab, this.rows, this.penalizedCapacity));
  }

  /** Upload parameters packed for exactly this.rows rows. */
  writePacked(p: PackedSampleParams): void {
    if (this.released) throw new Error('DeviceSampleParams: write after dispose()');
    if (p.iparams.length !== 8 * this.rows) throw new Error(`DeviceSampleParams: parameters for ${p.iparams.length / 8} rows, it holds ${this.rows}`);
    if (p.penalized.length > this.penalizedCapacity) throw new Error(`DeviceSampleParams: ${p.penalized.length} penalized ids, it holds ${this.penalizedCapacity}`);
    this.drv.upload(this.dparams.ptr, p.dparams);
    this.drv.upload(this.iparams.ptr, p.iparams);
    if (p.penalized.length > 0) this.drv.upload(this.penalized.ptr, p.penalized);
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    for (const b of [this.dparams, this.iparams, this.penalized]) this.allocator.release(b);
  }
}
