// Atomic writes: the target is replaced whole or not at all, and no temp files are left behind.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeJsonAtomic } from '../src/io/atomic.ts';

const dir = mkdtempSync(join(tmpdir(), 'still-io-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('writes strings, buffers and chunk lists, replacing the old file', () => {
    const path = join(dir, 'a.bin');
    writeFileAtomic(path, 'first');
    expect(readFileSync(path, 'utf8')).toBe('first');
    writeFileAtomic(path, Uint8Array.from([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    writeFileAtomic(path, [Uint8Array.from([9]), new Uint8Array(0), Uint8Array.from([8, 7])]);
    expect([...readFileSync(path)]).toEqual([9, 8, 7]);
    expect(readdirSync(dir)).toEqual(['a.bin']); // no temp files left
  });

  it('leaves the old file intact and removes its temp file when a write fails midway', () => {
    const path = join(dir, 'keep.txt');
    writeFileSync(path, 'old content');
    const bad = [Buffer.from('new '), 'not bytes' as unknown as Uint8Array];
    expect(() => writeFileAtomic(path, bad)).toThrow('writeFileAtomic: chunks must be Uint8Array, got string');
    expect(readFileSync(path, 'utf8')).toBe('old content');
    expect(readdirSync(dir).filter((f) => f.includes('keep.txt'))).toEqual(['keep.txt']);
  });

  it('fails cleanly when the directory does not exist', () => {
    expect(() => writeFileAtomic(join(dir, 'missing', 'x.json'), '{}')).toThrow(/ENOENT/);
  });

  it('writeJsonAtomic writes pretty JSON with a trailing newline', () => {
    const path = join(dir, 'state.json');
    writeJsonAtomic(path, { step: 3, rng: [1, 2] });
    expect(readFileSync(path, 'utf8')).toBe('{\n  "step": 3,\n  "rng": [\n    1,\n    2\n  ]\n}\n');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ step: 3, rng: [1, 2] });
  });
});
