// safetensors writer: deterministic layout, 8-byte-padded header, written atomically.
//
// Same tensors in, same bytes out (checkpoint resume tests compare files bit for bit). Tensors are
// laid out by item size (largest first), then by name, so every tensor starts at a multiple of its
// item size: torch and numpy can then view the bytes without copying. The header lists them in
// that order after __metadata__.
import { writeFileAtomic } from './atomic.ts';
import { f32ToBf16, f32ToF16 } from '../tensor/half.ts';
import { ST_ITEMSIZE, SafetensorsError, formatShape, isStDType, numElements, type StDType } from './safetensors_header.ts';
import type { RawTensor } from './safetensors_file.ts';

/** A tensor given as its natural typed array. F16/BF16 also accept Float32Array (rounded to nearest even). */
export type TypedTensor =
  | { dtype: 'F64'; shape: number[]; data: Float64Array }
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'F16' | 'BF16'; shape: number[]; data: Uint16Array | Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'U64'; shape: number[]; data: BigUint64Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array }
  | { dtype: 'U32'; shape: number[]; data: Uint32Array }
  | { dtype: 'I16'; shape: number[]; data: Int16Array }
  | { dtype: 'U16'; shape: number[]; data: Uint16Array }
  | { dtype: 'I8'; shape: number[]; data: Int8Array }
  | { dtype: 'U8' | 'BOOL'; shape: number[]; data: Uint8Array };

/** Raw little-endian bytes (any dtype) or the dtype's typed array. */
export type TensorInput = RawTensor | TypedTensor;

// Which typed array may carry each dtype (besides raw Uint8Array bytes, always accepted).
const NATURAL: Record<StDType, string[]> = {
  F64: ['Float64Array'], F32: ['Float32Array'], F16: ['Uint16Array', 'Float32Array'], BF16: ['Uint16Array', 'Float32Array'],
  I64: ['BigInt64Array'], U64: ['BigUint64Array'], I32: ['Int32Array'], U32: ['Uint32Array'], I16: ['Int16Array'],
  U16: ['Uint16Array'], I8: ['Int8Array'], U8: ['Uint8Array'], BOOL: ['Uint8Array'],
};

/** Serialize to chunks (header first, then each tensor's bytes) without concatenating them. */
export function encodeSafetensors(
  file: string,
  tensors: Record<string, TensorInput>,
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const raws = Object.entries(tensors).map(([name, t]) => [name, toRaw(file, name, t)] as const);
  raws.sort(([na, a], [nb, b]) => ST_ITEMSIZE[b.dtype] - ST_ITEMSIZE[a.dtype] || (na < nb ? -1 : na > nb ? 1 : 0));

  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new SafetensorsError(`${file}: metadata '${k}' must be a string, got ${typeof v}`, file);
  }
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, raw] of raws) {
    header[name] = { dtype: raw.dtype, shape: raw.shape, data_offsets: [offset, offset + raw.data.byteLength] };
    offset += raw.data.byteLength;
  }

  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.byteLength / 8) * 8; // keeps the data region 8-byte aligned
  const head = Buffer.alloc(8 + padded, 0x20); // pad with spaces, as the reference writer does
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  return [head, ...raws.map(([, raw]) => raw.data)];
}

/** Write a safetensors file atomically (temp file + fsync + rename). */
export function writeSafetensors(path: string, tensors: Record<string, TensorInput>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(path, tensors, metadata));
}

function toRaw(file: string, name: string, t: TensorInput): RawTensor {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${file}: tensor '${name}' ${msg}`, file, name);
  };
  if (name === '' || name === '__metadata__') fail('is not a valid tensor name');
  if (!isStDType(t.dtype)) fail(`has dtype ${JSON.stringify(t.dtype)}; expected one of ${Object.keys(ST_ITEMSIZE).join(', ')}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`has shape ${JSON.stringify(t.shape)}; expected an array of non-negative integers`);
  }
  const data = t.data as ArrayBufferView;
  if (!ArrayBuffer.isView(data)) fail(`data must be a typed array`);
  const kind = data.constructor.name;
  if (kind !== 'Uint8Array' && kind !== 'Buffer' && !NATURAL[t.dtype].includes(kind)) {
    fail(`is ${t.dtype} but its data is a ${kind}; expected ${NATURAL[t.dtype].join(' or ')} or raw Uint8Array bytes`);
  }
  let bytes: Uint8Array;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && data instanceof Float32Array) {
    const half = t.dtype === 'F16' ? f32ToF16(data) : f32ToBf16(data);
    bytes = new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
  } else {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const needed = numElements(t.shape) * ST_ITEMSIZE[t.dtype];
  if (bytes.byteLength !== needed) fail(`has ${bytes.byteLength} bytes, shape ${formatShape(t.shape)} ${t.dtype} needs ${needed}`);
  return { dtype: t.dtype, shape: [...t.shape], data: bytes };
}
