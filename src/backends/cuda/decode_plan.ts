// How slot_decode (kernels/cuda/decode.cu) cuts its work: blocks per query row (splits of the row's
// positions) so that one launch fills the GPU whatever the batch, and the shared memory each block takes.
// The plan depends only on shapes (never on the kvLens, which live on the device and change between
// replays of a captured graph); blocks whose split is empty for a short row finish at once.

/** Head dims slot_decode is instantiated for (bf16/f16 caches); others take the CUDA-core kernel. */
export const DECODE_HEAD_DIMS = new Set([16, 32, 64, 128]);

const TILE = 64;
const HEADS = 16;
/** Shared memory an SM has for blocks (H100/H200: 228 KiB); only used to estimate how many blocks fit. */
const SM_SHARED = 228 * 1024;
/** 128-thread blocks per SM at most (2048 threads). */
const SM_BLOCKS = 16;

/** Dynamic shared memory of one block: the 16-row query tile and two stages of 64-position K and V tiles. */
export function decodeSharedBytes(d: number): number {
  return (HEADS + 4 * TILE) * (d + 8) * 2;
}

export interface DecodePlan {
  /** Blocks per (query row, kv head, head chunk), each over 1/splits of the row's positions. */
  splits: number;
  /** grid.z: kv heads × chunks of 16 query heads. */
  z: number;
}

/**
 * rows = B·T query rows; group = query heads per kv head; d = head dim. Aim for one full wave of blocks; never cut a slot
 * into pieces of fewer than 32 positions, and use one split (no merge) when the arrival counters would
 * not cover every (row, z) pair.
 */
export function decodePlan(rows: number, hkv: number, group: number, d: number, maxLen: number, multiprocessors: number, counters: number): DecodePlan {
  const z = hkv * Math.ceil(group / HEADS);
  const pairs = rows * z;
  const perSm = Math.max(1, Math.min(SM_BLOCKS, Math.floor(SM_SHARED / decodeSharedBytes(d))));
  const wave = multiprocessors * perSm;
  let splits = Math.max(1, Math.min(Math.floor(wave / pairs), Math.ceil(maxLen / 32)));
  if (pairs > counters) splits = 1;
  return { splits, z };
}
