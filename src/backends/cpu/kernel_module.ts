// Which build of the CPU kernel module this process runs (kernels/wasm/build.ts makes two).
//
// The relaxed-SIMD build turns every multiply-add of the GEMM and decode attention into one fused
// instruction on CPUs with FMA (V8 emits vfmadd for f32x4.relaxed_madd): 1.2–1.3× the plain build's
// GEMM throughput for k ≥ 192 on the 2-core EPYC dev box (bench/NOTES.md). Node 20's V8 has relaxed SIMD
// behind a flag that only the command line or v8.setFlagsFromString can set (NODE_OPTIONS refuses it),
// so we set it before compiling; newer Nodes validate the module without it. Where neither works, or
// STILL_CPU_FMA=0 asks for it, the plain build runs: same kernels, results equal to within rounding.
import { setFlagsFromString } from 'node:v8';
import { CPU_KERNELS_FMA_WASM_BASE64, CPU_KERNELS_WASM_BASE64 } from './cpu_kernels_bytes.ts';

export type KernelFlavour = 'fma' | 'plain';

/** Lets this V8 validate relaxed-SIMD modules, if it has them behind the flag; harmless where it has not. */
export function enableRelaxedSimd(): void {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // a V8 without the flag either ships relaxed SIMD or lacks it; validate() below decides
  }
}

/** The flavour to run: 'fma' when wanted (STILL_CPU_FMA is not '0') and this runtime validates it. */
export function kernelFlavour(): KernelFlavour {
  const env = process.env.STILL_CPU_FMA;
  if (env !== undefined && env !== '0' && env !== '1') throw new Error(`STILL_CPU_FMA: expected 0 or 1, got '${env}'`);
  if (env === '0') return 'plain';
  const fma = kernelBytes('fma');
  if (WebAssembly.validate(fma)) return 'fma';
  enableRelaxedSimd();
  return WebAssembly.validate(fma) ? 'fma' : 'plain';
}

export function kernelBytes(flavour: KernelFlavour): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(flavour === 'fma' ? CPU_KERNELS_FMA_WASM_BASE64 : CPU_KERNELS_WASM_BASE64, 'base64'));
}
