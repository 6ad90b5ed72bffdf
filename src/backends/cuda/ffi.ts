// koffi plumbing shared by the CUDA bindings: load the first library that opens, bind functions by C
// prototype (optionally under several names, newest first), and pack kernel arguments.
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';
import { libraryCandidates, notFoundMessage, type LibraryQuery } from './libraries.ts';

export type NativeFn = (...args: unknown[]) => unknown;
export type Library = Koffi.LibraryHandle;

let koffiModule: typeof Koffi | null = null;
/**
 * koffi, loaded on first use: importing the CUDA backend (select.ts does, to list it) must not load a native
 * addon, so a machine where koffi cannot load still runs on the CPU. createRequire also resolves it next to
 * an esbuild bundle (.gpu/node_modules) where it stays external.
 */
export function koffi(): typeof Koffi {
  return (koffiModule ??= createRequire(import.meta.url)('koffi') as typeof Koffi);
}

/** A NUL-terminated C string at a native address. */
export function decodeString(ptr: bigint): string {
  return koffi().decode.string(ptr);
}

export interface LoadedLibrary {
  lib: Library;
  path: string;
}

/** Open the first candidate that loads; throw one line naming the library and where it was looked for. */
export function loadLibrary(q: LibraryQuery, env: NodeJS.ProcessEnv = process.env): LoadedLibrary {
  let lastError = '';
  for (const path of libraryCandidates(q, env)) {
    try {
      return { lib: koffi().load(path), path };
    } catch (e) {
      lastError = firstLine((e as Error).message);
    }
  }
  throw new Error(notFoundMessage(q, env, lastError || undefined));
}

/** Bind `ret name(args)`; with several names, the first one the library exports (e.g. cuX_v2 before cuX). */
export function bind(lib: Library, names: string | readonly string[], ret: string, args: string): NativeFn {
  const list = typeof names === 'string' ? [names] : names;
  let lastError: unknown;
  for (const name of list) {
    try {
      return lib.func(`${ret} ${name}(${args})`) as NativeFn;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`symbol ${list.join(' / ')} not found: ${firstLine((lastError as Error).message)}`);
}

/** Like bind, but null when the library lacks the symbol. */
export function bindOptional(lib: Library, names: string | readonly string[], ret: string, args: string): NativeFn | null {
  try {
    return bind(lib, names, ret, args);
  } catch {
    return null;
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

// ---- kernel arguments ----------------------------------------------------------------------------------
// cuLaunchKernel takes void** params: one pointer per argument to that argument's bytes. We pass a JS array
// of Buffers, which koffi turns into that array of pointers.
export type KernelArg = Buffer;

export function ptrArg(p: bigint | null): KernelArg {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(p ?? 0n);
  return b;
}
export function i32Arg(v: number): KernelArg {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
export function i64Arg(v: number): KernelArg {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(v));
  return b;
}
export function f32Arg(v: number): KernelArg {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return b;
}
/** A struct of int64 fields (every struct our kernels take is made of i64s, so no padding questions). */
export function i64StructArg(fields: readonly number[]): KernelArg {
  const b = Buffer.alloc(8 * fields.length);
  fields.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
  return b;
}
