// safetensors: round trips for every dtype, HF byte-compatibility, and one test per corruption case.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SafetensorsFile,
  ST_ITEMSIZE,
  encodeSafetensors,
  openCheckpoint,
  typedView,
  writeSafetensors,
  type StDType,
  type TensorInput,
} from '../src/io/safetensors.ts';
import { numberToBf16, numberToF16 } from '../src/tensor/half.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'tiny-qwen2');
const dir = mkdtempSync(join(tmpdir(), 'still-io-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmp = (name = `t${fileNo++}.safetensors`): string => join(dir, name);

/** Write a file from a header (object or raw text), data bytes and an optional forged length field. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  const path = tmp();
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);

describe('safetensors round trip', () => {
  it('writes and reads back every dtype bit-exactly, aligned, with metadata', () => {
    const tensors: Record<string, TensorInput> = {
      f64: { dtype: 'F64', shape: [3], data: Float64Array.from([1.5, -(2 ** -1074), 1e308]) },
      f32: { dtype: 'F32', shape: [2, 2], data: f32(1, -0, Infinity, 3.25) },
      f16: { dtype: 'F16', shape: [3], data: Uint16Array.from([0x3c00, 0x0001, 0xfc00]) },
      bf16: { dtype: 'BF16', shape: [1, 3], data: Uint16Array.from([0x3f80, 0xc040, 0x7f80]) },
      i64: { dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 62n), 7n]) },
      i32: { dtype: 'I32', shape: [3], data: Int32Array.from([-1, 0, 2 ** 31 - 1]) },
      i16: { dtype: 'I16', shape: [1], data: Int16Array.from([-300]) },
      i8: { dtype: 'I8', shape: [3], data: Int8Array.from([-128, 0, 127]) },
      u8: { dtype: 'U8', shape: [5], data: Uint8Array.from([0, 1, 2, 3, 255]) },
      bool: { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
      u16: { dtype: 'U16', shape: [1], data: Uint16Array.from([65535]) },
      u32: { dtype: 'U32', shape: [1], data: Uint32Array.from([2 ** 32 - 1]) },
      u64: { dtype: 'U64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
      scalar: { dtype: 'F32', shape: [], data: f32(42) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    };
    const path = tmp();
    writeSafetensors(path, tensors, { format: 'pt', note: 'round trip' });

    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);

    const f = SafetensorsFile.open(path);
    expect(f.metadata).toEqual({ format: 'pt', note: 'round trip' });
    expect(f.names()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const info = f.info(name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      // Every tensor starts at a multiple of its item size in the file, so views need no copy.
      expect((8 + headerLength + info.dataOffsets[0]) % ST_ITEMSIZE[t.dtype]).toBe(0);
      const raw = f.read(name);
      expect(raw.dtype).toBe(t.dtype);
      expect(Array.from(typedView(raw) as unknown as ArrayLike<number | bigint>)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
    expect(Array.from(f.readF32('f16'))).toEqual([1, 2 ** -24, -Infinity]);
    expect(Array.from(f.readF32('bf16'))).toEqual([1, -3, Infinity]);
    expect(Array.from(f.readF32('f64'))).toEqual([1.5, -0, Infinity]); // f64 -> f32 rounds
    expect(Array.from(f.readF32('scalar'))).toEqual([42]);
    expect(f.readF32('empty').length).toBe(0);
    f.close();
  });

  it('rounds Float32Array data to F16/BF16 on write', () => {
    const path = tmp();
    const x = f32(1 + 2 ** -11, 0.1, -65520);
    writeSafetensors(path, { h: { dtype: 'F16', shape: [3], data: x }, b: { dtype: 'BF16', shape: [3], data: x } });
    const f = SafetensorsFile.open(path);
    expect(Array.from(typedView(f.read('h')) as Uint16Array)).toEqual(Array.from(x, numberToF16));
    expect(Array.from(typedView(f.read('b')) as Uint16Array)).toEqual(Array.from(x, numberToBf16));
    f.close();
  });

  it('is deterministic: insertion order does not change the bytes', () => {
    const a = { w: { dtype: 'F32' as const, shape: [2], data: f32(1, 2) }, b: { dtype: 'I64' as const, shape: [1], data: BigInt64Array.from([3n]) } };
    const b = { b: a.b, w: a.w };
    expect(Buffer.concat(encodeSafetensors('x', a))).toEqual(Buffer.concat(encodeSafetensors('x', b)));
  });

  it("re-encoding HF's tiny-qwen2 files reproduces them byte for byte", () => {
    for (const rel of ['model.safetensors', 'lora/adapter_model.safetensors', 'lora/reference_grads.safetensors']) {
      const path = join(FIXTURE, rel);
      const f = SafetensorsFile.open(path);
      const tensors = Object.fromEntries(f.names().map((n) => [n, f.read(n)]));
      const ours = Buffer.concat(encodeSafetensors(path, tensors, f.metadata));
      f.close();
      expect(ours.equals(readFileSync(path)), rel).toBe(true);
    }
  });

  it('reads the tiny-qwen2 checkpoint with the shapes its config implies', () => {
    const ckpt = openCheckpoint(FIXTURE);
    expect(ckpt.names()).toHaveLength(2 * 12 + 2); // per layer: 7 weights, 3 biases, 2 norms; + embed, norm (lm_head tied)
    expect(ckpt.info('model.embed_tokens.weight').shape).toEqual([512, 64]);
    expect(ckpt.info('model.layers.1.self_attn.k_proj.weight').shape).toEqual([32, 64]); // 2 kv heads x 16
    expect(ckpt.info('model.layers.0.self_attn.q_proj.bias').shape).toEqual([64]);
    expect(ckpt.info('model.layers.0.mlp.down_proj.weight').shape).toEqual([64, 176]);
    const norm = ckpt.readF32('model.norm.weight');
    expect(norm).toHaveLength(64);
    expect(norm.every(Number.isFinite)).toBe(true);
    ckpt.close();
  });

  it('rejects mismatched writer input with the tensor name', () => {
    expect(() => encodeSafetensors('out.safetensors', { 'lm_head.weight': { dtype: 'F32', shape: [512, 64], data: new Float32Array(1024) } })).toThrow(
      "out.safetensors: tensor 'lm_head.weight' has 4096 bytes, shape [512,64] F32 needs 131072",
    );
    expect(() => encodeSafetensors('out.safetensors', { w: { dtype: 'F32', shape: [2], data: Int32Array.from([1, 2]) } as unknown as TensorInput })).toThrow(
      "out.safetensors: tensor 'w' is F32 but its data is a Int32Array",
    );
  });
});

describe('safetensors corruption: each case has its own message', () => {
  const good = { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };
  const data16 = new Uint8Array(16);

  it('file shorter than the length field', () => {
    const path = tmp();
    writeFileSync(path, Buffer.from([1, 2, 3]));
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: file is 3 bytes, too short for the 8-byte header length`);
  });

  it('header length beyond the file', () => {
    const path = rawFile(good, data16, 1000n);
    expect(() => SafetensorsFile.open(path)).toThrow(/header length 1000 exceeds the file \(\d+ bytes, so at most \d+\)/);
  });

  it('header is not JSON', () => {
    const path = rawFile('{"w": {"dtype": "F32",', data16);
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: header is not valid JSON`);
  });

  it('header is JSON but not an object', () => {
    expect(() => SafetensorsFile.open(rawFile('[1, 2]'))).toThrow('header must be a JSON object, got an array');
  });

  it('header is not UTF-8', () => {
    const path = tmp();
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(2n);
    writeFileSync(path, Buffer.concat([len, Buffer.from([0xff, 0xfe])]));
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: header is not valid UTF-8`);
  });

  it('missing data_offsets', () => {
    const path = rawFile({ 'model.norm.weight': { dtype: 'F32', shape: [4] } }, data16);
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: tensor 'model.norm.weight' has no data_offsets`);
  });

  it('malformed data_offsets', () => {
    const path = rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [16, 0] } }, data16);
    expect(() => SafetensorsFile.open(path)).toThrow("tensor 'w' has data_offsets [16,0]; expected [begin, end] with integers 0 <= begin <= end");
  });

  it('missing dtype', () => {
    expect(() => SafetensorsFile.open(rawFile({ w: { shape: [4], data_offsets: [0, 16] } }, data16))).toThrow("tensor 'w' has no dtype");
  });

  it('unknown dtype', () => {
    const path = rawFile({ w: { dtype: 'F8_E4M3', shape: [16], data_offsets: [0, 16] } }, data16);
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: tensor 'w' has dtype "F8_E4M3", which is not supported (expected one of F64, F32, F16, BF16`);
  });

  it('bad shape', () => {
    const path = rawFile({ w: { dtype: 'F32', shape: [2, -2], data_offsets: [0, 16] } }, data16);
    expect(() => SafetensorsFile.open(path)).toThrow("tensor 'w' has shape [2,-2]; expected an array of non-negative integers");
  });

  it('byte length differs from shape x itemsize', () => {
    const path = rawFile({ 'lm_head.weight': { dtype: 'F32', shape: [512, 64], data_offsets: [0, 4096] } }, new Uint8Array(4096));
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: tensor 'lm_head.weight' has 4096 bytes, shape [512,64] F32 needs 131072`);
  });

  it('offsets outside the data region', () => {
    const path = rawFile(
      { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [1000, 1016] } },
      new Uint8Array(32),
    );
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: tensor 'b' has data_offsets [1000,1016] outside the data region (32 bytes)`);
  });

  it('truncated data', () => {
    const path = tmp();
    writeSafetensors(path, { a: { dtype: 'F32', shape: [8], data: new Float32Array(8) }, b: { dtype: 'F32', shape: [8], data: new Float32Array(8) } });
    truncateSync(path, readFileSync(path).length - 10);
    expect(() => SafetensorsFile.open(path)).toThrow(
      `${path}: file is truncated: tensor 'b' needs data bytes [32, 64), but the file holds only 54 data bytes (the header describes 64)`,
    );
  });

  it('gap between tensors', () => {
    const path = rawFile(
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } },
      new Uint8Array(20),
    );
    expect(() => SafetensorsFile.open(path)).toThrow("tensor 'b' starts at data byte 12, but the previous tensor 'a' ends at 8 (a gap of 4 bytes; tensors must be contiguous)");
  });

  it('overlapping tensors', () => {
    const path = rawFile(
      { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } },
      data16,
    );
    expect(() => SafetensorsFile.open(path)).toThrow("tensor 'b' starts at data byte 8, but the previous tensor 'a' ends at 16 (an overlap of 8 bytes");
  });

  it('trailing bytes after the last tensor', () => {
    const path = tmp();
    writeSafetensors(path, { a: { dtype: 'F32', shape: [1], data: f32(1) } });
    appendFileSync(path, Buffer.from([0, 0, 0]));
    expect(() => SafetensorsFile.open(path)).toThrow(`${path}: 3 unexpected bytes after the last tensor (tensors cover 4 of 7 data bytes)`);
  });

  it('non-string metadata', () => {
    expect(() => SafetensorsFile.open(rawFile({ __metadata__: { step: 3 }, ...good }, data16))).toThrow("__metadata__ value 'step' must be a string, got 3");
  });

  it('unknown tensor name, non-float readF32, read after close', () => {
    const path = tmp();
    writeSafetensors(path, { ids: { dtype: 'I32', shape: [2], data: Int32Array.from([1, 2]) } });
    const f = SafetensorsFile.open(path);
    expect(() => f.info('lm_head.weight')).toThrow(`${path}: no tensor 'lm_head.weight' (it has 1: ids)`);
    expect(() => f.readF32('ids')).toThrow(`${path}: tensor 'ids' is I32 [2]; readF32 needs a float dtype`);
    f.close();
    expect(() => f.read('ids')).toThrow(`${path}: read of tensor 'ids' after close()`);
  });
});

describe('sharded checkpoints', () => {
  function shardedDir(weightMap: Record<string, string>, shards: Record<string, Record<string, TensorInput>>): string {
    const d = mkdtempSync(join(dir, 'shards-'));
    for (const [file, tensors] of Object.entries(shards)) writeSafetensors(join(d, file), tensors);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 24 }, weight_map: weightMap }));
    return d;
  }
  const t = (...xs: number[]): TensorInput => ({ dtype: 'F32', shape: [xs.length], data: f32(...xs) });
  const S1 = 'model-00001-of-00002.safetensors';
  const S2 = 'model-00002-of-00002.safetensors';

  it('reads tensors across shards through the index', () => {
    const d = shardedDir({ a: S1, b: S2, c: S2 }, { [S1]: { a: t(1, 2) }, [S2]: { b: t(3), c: t(4, 5, 6) } });
    const ckpt = openCheckpoint(d);
    expect(ckpt.names()).toEqual(['a', 'b', 'c']);
    expect(Array.from(ckpt.readF32('c'))).toEqual([4, 5, 6]);
    expect(ckpt.fileOf('b')).toBe(join(d, S2));
    expect(ckpt.metadata).toEqual({ total_size: '24' });
    ckpt.close();
  });

  it('index pointing at a missing shard file', () => {
    const d = shardedDir({ a: S1, 'lm_head.weight': S2 }, { [S1]: { a: t(1) } });
    expect(() => openCheckpoint(d)).toThrow(
      `${join(d, 'model.safetensors.index.json')}: tensor 'lm_head.weight' is mapped to shard '${S2}', which does not exist`,
    );
  });

  it('index naming a tensor the shard lacks', () => {
    const d = shardedDir({ a: S1, 'model.norm.weight': S1 }, { [S1]: { a: t(1) } });
    expect(() => openCheckpoint(d)).toThrow(`tensor 'model.norm.weight' is mapped to shard '${S1}', which has no such tensor`);
  });

  it('index without weight_map, and a shard path leaving the directory', () => {
    const d = mkdtempSync(join(dir, 'shards-'));
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {} }));
    expect(() => openCheckpoint(d)).toThrow('model.safetensors.index.json: has no weight_map');
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    expect(() => openCheckpoint(d)).toThrow("tensor 'a' maps to '../x.safetensors', outside the checkpoint directory");
  });

  it('a directory without safetensors says what it looked for, and refuses pickles', () => {
    const d = mkdtempSync(join(dir, 'empty-'));
    writeFileSync(join(d, 'pytorch_model.bin'), 'not loaded');
    expect(() => openCheckpoint(d)).toThrow(
      `${d}: no model.safetensors or model.safetensors.index.json; found pytorch_model.bin, but only safetensors is supported`,
    );
  });
});

// Keep the dtype list honest: every dtype the reader accepts must round-trip through the writer.
it('every supported dtype has an item size and a typed view', () => {
  for (const dtype of Object.keys(ST_ITEMSIZE) as StDType[]) {
    const raw = { dtype, shape: [2], data: new Uint8Array(2 * ST_ITEMSIZE[dtype]) };
    expect((typedView(raw) as ArrayBufferView).byteLength).toBe(raw.data.byteLength);
  }
});
