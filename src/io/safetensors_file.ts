// Lazy safetensors reader: validates the header on open, then reads one tensor at a time with pread.
//
// Real checkpoints are many GB, so the file is never read whole: open() reads the 8-byte length
// and the header, and each read() fetches exactly one tensor's bytes into a fresh, aligned buffer.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { bf16ToF32, f16ToF32 } from '../tensor/half.ts';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  formatShape,
  parseHeader,
  type StDType,
  type TensorInfo,
} from './safetensors_header.ts';

/** One tensor's bytes as stored: little-endian, row-major. */
export interface RawTensor {
  dtype: StDType;
  shape: number[];
  data: Uint8Array;
}

/** What a model loader needs from a checkpoint, whether one file or a sharded index. */
export interface TensorSource {
  /** Names the checkpoint in messages: the file, or the index file of a sharded checkpoint. */
  readonly label: string;
  readonly metadata: Record<string, string>;
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The file a tensor is stored in (for messages). */
  fileOf(name: string): string;
  /** Read one tensor's bytes; `into`, if given, must be exactly byteLength long. */
  read(name: string, into?: Uint8Array): RawTensor;
  readF32(name: string): Float32Array;
  /** `length` bytes of a tensor from byte `start` of its data (clipped to the tensor). */
  readRange(name: string, start: number, length: number): Uint8Array;
  close(): void;
}

// readSync takes an int32 length; read big tensors in pieces.
const MAX_READ = 1 << 30;

export class SafetensorsFile implements TensorSource {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    readonly fileSize: number,
    private readonly dataStart: number,
    readonly metadata: Record<string, string>,
    private readonly tensors: Map<string, TensorInfo>,
  ) {
    this.fd = fd;
  }

  /** Open and validate `path`. Throws SafetensorsError naming the file (and tensor) on any inconsistency. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new SafetensorsError(`${path}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, path);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new SafetensorsError(`${path}: file is ${size} bytes, too short for the 8-byte header length`, path);
      const lenBytes = readExactly(fd, path, 0, 8);
      const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
      if (n > BigInt(size - 8)) {
        throw new SafetensorsError(`${path}: header length ${n} exceeds the file (${size} bytes, so at most ${size - 8})`, path);
      }
      if (n > BigInt(MAX_HEADER_BYTES)) {
        throw new SafetensorsError(`${path}: header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`, path);
      }
      const headerLength = Number(n);
      const headerBytes = readExactly(fd, path, 8, headerLength);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
      } catch {
        throw new SafetensorsError(`${path}: header is not valid UTF-8`, path);
      }
      const dataStart = 8 + headerLength;
      const { metadata, tensors } = parseHeader(path, text, size - dataStart);
      return new SafetensorsFile(path, fd, size, dataStart, metadata, tensors);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  get label(): string {
    return this.path;
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.tensors.keys()].sort();
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) {
      const some = this.names().slice(0, 5).join(', ');
      throw new SafetensorsError(`${this.path}: no tensor '${name}' (it has ${this.tensors.size}: ${some}${this.tensors.size > 5 ? ', …' : ''})`, this.path, name);
    }
    return { ...info, shape: [...info.shape], dataOffsets: [...info.dataOffsets] };
  }

  fileOf(name: string): string {
    this.info(name);
    return this.path;
  }

  /** Read one tensor's raw bytes. `into`, if given, must be exactly byteLength long and is filled and returned. */
  read(name: string, into?: Uint8Array): RawTensor {
    const info = this.info(name);
    if (this.fd === null) throw new SafetensorsError(`${this.path}: read of tensor '${name}' after close()`, this.path, name);
    if (into !== undefined && into.byteLength !== info.byteLength) {
      throw new SafetensorsError(`${this.path}: tensor '${name}' has ${info.byteLength} bytes, the destination buffer ${into.byteLength}`, this.path, name);
    }
    const data = into ?? new Uint8Array(info.byteLength);
    readInto(this.fd, this.path, name, this.dataStart + info.dataOffsets[0], data);
    return { dtype: info.dtype, shape: info.shape, data };
  }

  /** Read a float tensor as f32 (f16/bf16 widen exactly, f64 rounds). */
  readF32(name: string): Float32Array {
    return rawToF32(this.read(name), `${this.path}: tensor '${name}'`);
  }

  readRange(name: string, start: number, length: number): Uint8Array {
    const info = this.info(name);
    if (this.fd === null) throw new SafetensorsError(`${this.path}: read of tensor '${name}' after close()`, this.path, name);
    const from = Math.min(Math.max(0, start), info.byteLength);
    const data = new Uint8Array(Math.min(length, info.byteLength - from));
    readInto(this.fd, this.path, name, this.dataStart + info.dataOffsets[0] + from, data);
    return data;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Convert a float RawTensor to f32. `what` names the tensor in the error for non-float dtypes.
 * For F32 the result is a view of raw.data (no copy) when raw.data is 4-byte aligned.
 */
export function rawToF32(raw: RawTensor, what: string): Float32Array {
  switch (raw.dtype) {
    case 'F32':
      return viewOf(Float32Array, raw.data);
    case 'F16':
      return f16ToF32(typedView(raw) as Uint16Array);
    case 'BF16':
      return bf16ToF32(typedView(raw) as Uint16Array);
    case 'F64':
      return Float32Array.from(typedView(raw) as Float64Array);
    default:
      throw new Error(`${what} is ${raw.dtype} ${formatShape(raw.shape)}; readF32 needs a float dtype (F32, F16, BF16 or F64)`);
  }
}

/** The natural typed-array view of a raw tensor (F16/BF16 as Uint16Array bit patterns, BOOL as Uint8Array). */
export function typedView(raw: RawTensor): ArrayBufferView {
  const d = raw.data;
  switch (raw.dtype) {
    case 'F64': return viewOf(Float64Array, d);
    case 'F32': return viewOf(Float32Array, d);
    case 'F16': case 'BF16': case 'U16': return viewOf(Uint16Array, d);
    case 'I64': return viewOf(BigInt64Array, d);
    case 'U64': return viewOf(BigUint64Array, d);
    case 'I32': return viewOf(Int32Array, d);
    case 'U32': return viewOf(Uint32Array, d);
    case 'I16': return viewOf(Int16Array, d);
    case 'I8': return new Int8Array(d.buffer, d.byteOffset, d.byteLength);
    case 'U8': case 'BOOL': return d;
  }
}

interface ViewCtor<T> {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

function viewOf<T>(Ctor: ViewCtor<T>, d: Uint8Array): T {
  const a = aligned(d, Ctor.BYTES_PER_ELEMENT);
  return new Ctor(a.buffer, a.byteOffset, a.byteLength / Ctor.BYTES_PER_ELEMENT);
}

// Typed-array views need element-aligned offsets; copy the rare unaligned input (e.g. a slice of a file buffer).
function aligned(d: Uint8Array, align: number): Uint8Array {
  return d.byteOffset % align === 0 ? d : d.slice();
}

function readExactly(fd: number, path: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  readInto(fd, path, null, position, out);
  return out;
}

function readInto(fd: number, path: string, tensor: string | null, position: number, out: Uint8Array): void {
  let done = 0;
  while (done < out.byteLength) {
    const n = readSync(fd, out, done, Math.min(MAX_READ, out.byteLength - done), position + done);
    if (n === 0) {
      // Only possible if the file shrank after open(): the header was validated against its size then.
      const what = tensor === null ? 'header' : `tensor '${tensor}'`;
      throw new SafetensorsError(`${path}: file ended while reading ${what} (got ${done} of ${out.byteLength} bytes)`, path, tensor ?? undefined);
    }
    done += n;
  }
}
