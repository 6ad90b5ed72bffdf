// Where CI requires the CUDA emulator (STILL_REQUIRE_EMULATOR=1, set by .ci/run when nvcc's headers are
// installed), a missing compiler fails the emulator test files instead of letting them skip.
import { describe, expect, it } from 'vitest';
import { emulatorAvailable } from './emu_helpers.ts';

describe('the emulator requirement', () => {
  const noCompiler = { PATH: '/nonexistent' };

  it('skips without g++ when not required', () => {
    expect(emulatorAvailable(noCompiler)).toBe(false);
  });

  it('fails, naming what is missing, without g++ when required', () => {
    expect(() => emulatorAvailable({ ...noCompiler, STILL_REQUIRE_EMULATOR: '1' }))
      .toThrow('STILL_REQUIRE_EMULATOR=1 but the CUDA emulator cannot be built here: g++ is not installed');
  });
});
