// Ctrl-C and `kill` (SIGINT, SIGTERM) in a long command: keep what can be resumed and say exactly how to
// resume it. Training finishes its step and checkpoints (a second signal exits at once); sampling commands
// journal every finished problem as it goes, so they stop at once and the journal is what resumes.
import { stderrNotice } from './output.ts';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * The command line that continues this run: the same arguments without --overwrite, and with --resume
 * (`withFlag` false: commands like `still run` whose plain rerun resumes).
 */
export function resumeCommand(argv: readonly string[] = process.argv.slice(2), withFlag = true): string {
  const args = argv.filter((a) => a !== '--overwrite');
  if (withFlag && !args.includes('--resume')) args.push('--resume');
  return ['still', ...args].map(shellQuote).join(' ');
}

/**
 * Run `fn` with SIGINT/SIGTERM asking it to stop: `stopRequested()` turns true, and a second signal exits
 * with 130 at once. For commands that checkpoint between steps.
 */
export async function withGracefulStop<T>(note: (line: string) => void, fn: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSignal = (signal: string) => {
    if (stop) process.exit(130);
    stop = true;
    note(`${signal}: finishing this step, then saving a checkpoint (send it again to abort without one)`);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await fn(() => stop);
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

/** After a training run stopped before its end: where it stands and how to go on (exit code 130 when interrupted). */
export function noteStoppedRun(note: (line: string) => void, r: { status: string; step: number; totalSteps: number; checkpoint: string | null }, out: string, overwrite: boolean): void {
  note(overwrite
    ? `stopped at step ${r.step}/${r.totalSteps}; ${out} is unchanged (an interrupted --overwrite starts over when rerun)`
    : `stopped at step ${r.step}/${r.totalSteps}; checkpoint ${r.checkpoint}. Resume with:\n  ${resumeCommand()}`);
  if (r.status === 'interrupted') process.exitCode = 130;
}

/**
 * Say, before a journaled job starts, how to resume it. Sampling runs synchronously between journal writes,
 * so a signal handler could only run once the job is over: these commands let SIGINT/SIGTERM kill them at
 * once (the journal holds every finished problem, fsynced) and print the resume command up front instead.
 */
export function noteResumeCommand(kept: string, o: { resumeFlag?: boolean } = {}): void {
  stderrNotice(`${kept}; if this run is interrupted, resume it with:\n  ${resumeCommand(undefined, o.resumeFlag ?? true)}`);
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
