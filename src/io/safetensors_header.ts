// The safetensors header: dtypes, and strict validation of the JSON header against the file's data region.
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes
// of UTF-8 JSON `{"__metadata__": {str: str}, name: {dtype, shape, data_offsets: [begin, end]}}`,
// then the data region. Offsets are relative to the data region, and the tensors must tile it
// exactly (no gaps, no overlaps, nothing after the last one). We check all of it, because a bad
// header otherwise turns into garbage weights far from the cause.

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/** Bytes per element of each supported dtype. */
export const ST_ITEMSIZE: Readonly<Record<StDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export const ST_DTYPES = Object.keys(ST_ITEMSIZE) as StDType[];

export function isStDType(x: unknown): x is StDType {
  return typeof x === 'string' && Object.hasOwn(ST_ITEMSIZE, x);
}

export interface TensorInfo {
  dtype: StDType;
  shape: number[];
  byteLength: number;
  /** [begin, end) relative to the start of the data region. */
  dataOffsets: [number, number];
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

/** The spec's reference implementation refuses headers above 100 MB; a bigger one is corrupt or hostile. */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Number of elements of a shape ([] is a scalar: 1 element). */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Validate a decoded header against a data region of `dataLength` bytes.
 * `file` names the file in every error message.
 */
export function parseHeader(file: string, headerText: string, dataLength: number): ParsedHeader {
  const fail = (msg: string, tensor?: string): never => {
    throw new SafetensorsError(`${file}: ${msg}`, file, tensor);
  };

  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return fail(`header must be a JSON object, got ${Array.isArray(json) ? 'an array' : String(json)}`);
  }

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(`__metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value '${k}' must be a string, got ${JSON.stringify(v)}`);
        // defineProperty, not assignment: a key named "__proto__" must stay a plain entry.
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    tensors.set(name, parseEntry(name, entry, fail));
  }
  checkLayout(tensors, dataLength, fail);
  return { metadata, tensors };
}

type Fail = (msg: string, tensor?: string) => never;

function parseEntry(name: string, entry: unknown, fail: Fail): TensorInfo {
  const t = `tensor '${name}'`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    return fail(`${t} must be an object with dtype, shape and data_offsets, got ${JSON.stringify(entry)}`, name);
  }
  const e = entry as Record<string, unknown>;
  if (e.dtype === undefined) fail(`${t} has no dtype`, name);
  if (!isStDType(e.dtype)) {
    fail(`${t} has dtype ${JSON.stringify(e.dtype)}, which is not supported (expected one of ${ST_DTYPES.join(', ')})`, name);
  }
  const dtype = e.dtype as StDType;
  if (e.shape === undefined) fail(`${t} has no shape`, name);
  if (!Array.isArray(e.shape) || !e.shape.every(isNonNegativeInt)) {
    fail(`${t} has shape ${JSON.stringify(e.shape)}; expected an array of non-negative integers`, name);
  }
  const shape = e.shape as number[];
  if (e.data_offsets === undefined) fail(`${t} has no data_offsets`, name);
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isNonNegativeInt) || off[0] > off[1]) {
    fail(`${t} has data_offsets ${JSON.stringify(off)}; expected [begin, end] with integers 0 <= begin <= end`, name);
  }
  const [begin, end] = off as [number, number];
  const byteLength = end - begin;
  const needed = numElements(shape) * ST_ITEMSIZE[dtype];
  if (!Number.isSafeInteger(needed)) fail(`${t} has shape ${formatShape(shape)}, too many elements`, name);
  if (byteLength !== needed) {
    fail(`${t} has ${byteLength} bytes, shape ${formatShape(shape)} ${dtype} needs ${needed}`, name);
  }
  return { dtype, shape: [...shape], byteLength, dataOffsets: [begin, end] };
}

function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

// The tensors, sorted by offset, must tile [0, dataLength) exactly. When they tile a prefix of
// what the header promises but the file is shorter, say "truncated": that is the usual cause
// (an interrupted download or copy), and it deserves a different hint than a corrupt offset.
function checkLayout(tensors: Map<string, TensorInfo>, dataLength: number, fail: Fail): void {
  const sorted = [...tensors].sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let prev: string | null = null;
  let layoutError: (() => never) | null = null;
  for (const [name, info] of sorted) {
    const [b, e] = info.dataOffsets;
    if (b !== end && layoutError === null) {
      const where = prev === null ? 'the data region starts at 0' : `the previous tensor '${prev}' ends at ${end}`;
      const what = b > end ? `a gap of ${b - end} bytes` : `an overlap of ${end - b} bytes`;
      const at = name;
      layoutError = () => fail(`tensor '${at}' starts at data byte ${b}, but ${where} (${what}; tensors must be contiguous)`, at);
    }
    end = Math.max(end, e);
    prev = name;
  }
  if (layoutError === null) {
    if (end > dataLength) {
      const cut = sorted.find(([, info]) => info.dataOffsets[1] > dataLength)![0];
      const info = tensors.get(cut)!;
      fail(
        `file is truncated: tensor '${cut}' needs data bytes [${info.dataOffsets[0]}, ${info.dataOffsets[1]}), ` +
          `but the file holds only ${dataLength} data bytes (the header describes ${end})`,
        cut,
      );
    }
    if (end < dataLength) fail(`${dataLength - end} unexpected bytes after the last tensor (tensors cover ${end} of ${dataLength} data bytes)`);
    return;
  }
  for (const [name, info] of sorted) {
    if (info.dataOffsets[1] > dataLength) {
      fail(`tensor '${name}' has data_offsets ${JSON.stringify(info.dataOffsets)} outside the data region (${dataLength} bytes)`, name);
    }
  }
  layoutError();
}
