// Shared by the tests that run the CUDA backend on the CPU emulator (kernels/cuda/emu): whether it can be
// built here (g++ and CUDA's cuda.h), and an environment whose STILL_CUDA_LIB_DIR points at a fresh build.
// Where it cannot, those tests skip, unless STILL_REQUIRE_EMULATOR=1 (.ci/run sets it where nvcc's headers
// are installed): then the test file fails to load with the reason, so CI cannot lose them unnoticed.
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error plain .mjs script without types
import { buildEmulator, findCudaInclude } from '../scripts/build_kernels.mjs';

/** Why the emulator cannot be built here (g++ looked up on env's PATH), or null when it can. */
export function emulatorMissing(env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    execFileSync('g++', ['--version'], { stdio: 'ignore', env });
  } catch {
    return 'g++ is not installed';
  }
  try {
    findCudaInclude();
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

/** Whether the emulator tests can run; throws instead of returning false when STILL_REQUIRE_EMULATOR=1. */
export function emulatorAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  const missing = emulatorMissing(env);
  if (missing && env.STILL_REQUIRE_EMULATOR === '1') {
    throw new Error(`STILL_REQUIRE_EMULATOR=1 but the CUDA emulator cannot be built here: ${missing}`);
  }
  return missing === null;
}

/** Build the emulator (a no-op when the sources are unchanged) and return an environment that loads it. */
export function emulatorEnv(): NodeJS.ProcessEnv {
  const dir = join(tmpdir(), 'still-cuda-emu');
  buildEmulator(dir);
  return { ...process.env, STILL_CUDA_LIB_DIR: dir };
}
