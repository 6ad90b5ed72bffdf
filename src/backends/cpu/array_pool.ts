// Typed arrays of released tensors, kept for the next tensor of the same type and length.
//
// A training step frees and re-allocates the same activation shapes every step. Fresh arrays of a few
// hundred KiB come from calloc and leave as external memory the GC must trace and free: on the toy's
// training step (2048 tokens) that cost ~60 µs per allocation on average, ~5% of the step, with GC pauses on
// top (bench/NOTES.md). A reused array costs one fill(0), or nothing for an op that writes every element.
// Only arrays this backend allocated come back (never a resident view or a caller's buffer), and small ones
// are left to V8, which allocates them cheaply. Shapes that stop recurring (sampling's growing lengths, a new
// model) must not pin memory: when the idle arrays would pass the cap, the pool lets go of all of them.
import { hostArray, type DType, type HostArray } from '../../tensor/dtype.ts';

/** Arrays under this many bytes are not pooled. */
const MIN_BYTES = 4096;

export class ArrayPool {
  private readonly free = new Map<string, HostArray[]>();
  private readonly mine = new WeakSet<HostArray>();
  private pooledBytes = 0;

  /** @param capBytes the most bytes kept idle. */
  constructor(private readonly capBytes: number) {}

  /** An array for `n` elements of `dtype`, a pooled one when there is one of that type and length: zero-filled,
   *  unless `zeroed` is false and the caller writes every element itself. */
  take(dtype: DType, n: number, zeroed = true): HostArray {
    const reused = this.free.get(keyOf(ARRAY_TYPE[dtype], n))?.pop();
    if (reused) {
      this.pooledBytes -= reused.byteLength;
      return zeroed ? reused.fill(0) : reused;
    }
    const fresh = hostArray(dtype, n);
    if (fresh.byteLength >= MIN_BYTES) this.mine.add(fresh);
    return fresh;
  }

  /** Hands a released tensor's array back; ignored unless this pool made it. Past the cap, everything idle goes
   *  to the GC first: the arrays a run keeps asking for come back within a step, the rest were stale. */
  give(data: HostArray): void {
    if (!this.mine.has(data) || data.byteLength > this.capBytes) return;
    if (this.pooledBytes + data.byteLength > this.capBytes) {
      this.free.clear();
      this.pooledBytes = 0;
    }
    const key = keyOf(data.constructor.name, data.length);
    const list = this.free.get(key);
    if (list) list.push(data);
    else this.free.set(key, [data]);
    this.pooledBytes += data.byteLength;
  }

  /** Bytes held idle for reuse. */
  idleBytes(): number {
    return this.pooledBytes;
  }
}

/** The array type hostArray() makes for each dtype (bf16 and f16 share one). */
const ARRAY_TYPE: Record<DType, string> = { f32: 'Float32Array', f64: 'Float64Array', i32: 'Int32Array', bf16: 'Uint16Array', f16: 'Uint16Array' };

function keyOf(type: string, n: number): string {
  return `${type}:${n}`;
}
