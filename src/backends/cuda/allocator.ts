// A caching device allocator: freed blocks go to a free list per size class and are handed out again, so
// a training step after the first calls cuMemAlloc zero times and device memory stays flat. Sizes round up
// to 512 B below 1 MiB and to a quarter of their power of two above (≤ 25% waste). Blocks are never split,
// so every pointer keeps cuMemAlloc's 256-byte alignment. Pure bookkeeping over a DeviceMemory, testable
// with a fake one.
//
// Graph capture needs one more rule: a replayed graph writes the blocks it was captured with, so while a
// capture runs, blocks come from (and go back to) a pool owned by that graph, and only return to the
// shared cache when the graph is destroyed (see CudaBackend.captureGraph).

export interface DeviceMemory {
  /** Returns a device pointer, or throws (an out-of-memory error should say so). */
  alloc(bytes: number): bigint;
  free(ptr: bigint): void;
}

export interface Block {
  readonly ptr: bigint;
  /** The size class, ≥ what was asked. */
  readonly bytes: number;
}

export interface AllocatorStats {
  /** Bytes in blocks handed out and not yet freed. */
  inUse: number;
  peakInUse: number;
  /** Bytes in freed blocks kept for reuse. */
  cached: number;
  /** inUse + cached: what the device has given us. */
  reserved: number;
  peakReserved: number;
  /** Calls to DeviceMemory.alloc / free so far. */
  deviceAllocs: number;
  deviceFrees: number;
  /** Requests served from the cache. */
  cacheHits: number;
}

const MiB = 1 << 20;

export function sizeClass(bytes: number): number {
  if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`allocator: cannot allocate ${bytes} bytes`);
  const n = Math.max(bytes, 1);
  if (n < MiB) return Math.ceil(n / 512) * 512;
  const quarter = 2 ** Math.floor(Math.log2(n)) / 4;
  return Math.ceil(n / quarter) * quarter;
}

/** The blocks of one captured graph: free ones for reuse within the capture, and their count. */
export class BlockPool {
  readonly free = new Map<number, bigint[]>();
  /** Bytes owned by the pool, live or free. */
  bytes = 0;
  closed = false;
}

interface Live {
  size: number;
  pool: BlockPool | null;
}

export class CachingAllocator {
  private readonly free = new Map<number, bigint[]>();
  private readonly live = new Map<bigint, Live>();
  private capture: BlockPool | null = null;
  private poolFree = 0;
  private s: AllocatorStats = {
    inUse: 0, peakInUse: 0, cached: 0, reserved: 0, peakReserved: 0, deviceAllocs: 0, deviceFrees: 0, cacheHits: 0,
  };

  constructor(private readonly mem: DeviceMemory) {}

  alloc(bytes: number): Block {
    const size = sizeClass(bytes);
    const pool = this.capture;
    let ptr = pool?.free.get(size)?.pop();
    if (ptr !== undefined) {
      this.poolFree -= size;
    } else {
      ptr = this.free.get(size)?.pop();
      if (ptr !== undefined) {
        this.s.cached -= size;
        this.s.cacheHits++;
      } else {
        ptr = this.deviceAlloc(size);
      }
      if (pool) pool.bytes += size;
    }
    this.live.set(ptr, { size, pool });
    this.s.inUse += size;
    this.s.peakInUse = Math.max(this.s.peakInUse, this.s.inUse + this.poolFree);
    return { ptr, bytes: size };
  }

  release(block: Block): void {
    const entry = this.live.get(block.ptr);
    if (entry === undefined) throw new Error(`allocator: block 0x${block.ptr.toString(16)} is not live (double free?)`);
    const { size, pool } = entry;
    this.live.delete(block.ptr);
    this.s.inUse -= size;
    if (pool && !pool.closed) {
      push(pool.free, size, block.ptr); // still the graph's: only the capture (or its replays) may touch it
      this.poolFree += size;
    } else {
      push(this.free, size, block.ptr);
      this.s.cached += size;
    }
  }

  /** From now until endCapture, allocations come from (and are owned by) `pool`. */
  beginCapture(pool: BlockPool): void {
    if (this.capture) throw new Error('allocator: a graph capture is already running');
    this.capture = pool;
  }

  endCapture(): void {
    this.capture = null;
  }

  /** A destroyed graph's free blocks go back to the shared cache; its live ones will when released. */
  closePool(pool: BlockPool): void {
    pool.closed = true;
    for (const [size, list] of pool.free) {
      for (const p of list) {
        push(this.free, size, p);
        this.poolFree -= size;
        this.s.cached += size;
      }
    }
    pool.free.clear();
  }

  /** Give every cached block back to the device. */
  emptyCache(): void {
    for (const [size, list] of this.free) {
      for (const p of list) {
        this.mem.free(p);
        this.s.deviceFrees++;
        this.s.cached -= size;
        this.s.reserved -= size;
      }
    }
    this.free.clear();
  }

  /** Start the peaks over from now (as torch.cuda.reset_peak_memory_stats), e.g. before timed steps. */
  resetPeaks(): void {
    this.s.peakInUse = this.s.inUse + this.poolFree;
    this.s.peakReserved = this.s.reserved;
  }

  stats(): AllocatorStats {
    // Blocks parked in graph pools count as in use: nobody else may have them.
    return { ...this.s, inUse: this.s.inUse + this.poolFree };
  }

  private deviceAlloc(size: number): bigint {
    let ptr: bigint;
    try {
      ptr = this.mem.alloc(size);
    } catch (first) {
      // The cache may hold enough memory in other size classes: return it to the device and try once more.
      if (this.s.cached === 0) throw first;
      this.emptyCache();
      ptr = this.mem.alloc(size);
    }
    this.s.deviceAllocs++;
    this.s.reserved += size;
    this.s.peakReserved = Math.max(this.s.peakReserved, this.s.reserved);
    return ptr;
  }
}

function push(lists: Map<number, bigint[]>, size: number, ptr: bigint): void {
  let list = lists.get(size);
  if (!list) lists.set(size, (list = []));
  list.push(ptr);
}
