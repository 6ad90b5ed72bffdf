// Shared by the tests that run the CUDA backend on the CPU emulator (kernels/cuda/emu): whether it can be
// built here (g++ and CUDA's cuda.h), and an environment whose STILL_CUDA_LIB_DIR points at a fresh build.
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error plain .mjs script without types
import { buildEmulator, findCudaInclude } from '../scripts/build_kernels.mjs';

export function emulatorAvailable(): boolean {
  try {
    execFileSync('g++', ['--version'], { stdio: 'ignore' });
    findCudaInclude();
    return true;
  } catch {
    return false;
  }
}

/** Build the emulator (a no-op when the sources are unchanged) and return an environment that loads it. */
export function emulatorEnv(): NodeJS.ProcessEnv {
  const dir = join(tmpdir(), 'still-cuda-emu');
  buildEmulator(dir);
  return { ...process.env, STILL_CUDA_LIB_DIR: dir };
}
