// The example scripts in examples/ run as users run them (a child process through tsx), at their --quick size.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('examples', () => {
  it('still_loop.ts runs the loop through the library API and reports accuracy after every round', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/still_loop.ts', '--quick'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = run.stderr; // the stage log, as the CLI's, goes to stderr
    const accuracy = String.raw`held-out greedy accuracy L2 \d+\.\d%, L3 \d+\.\d%, L4 \d+\.\d%$`;
    expect(out).toMatch(new RegExp(`^round 0 \\(imitate\\): ${accuracy}`, 'm'));
    expect(out).toMatch(/^round 1: \d+ of 32 rollouts correct; the pool holds \d+ trajectories$/m);
    expect(out).toMatch(new RegExp(`^round 1 \\(explore \\+ improve\\): ${accuracy}`, 'm'));
  }, 60_000);
});
