// Ctrl-C and `kill` (SIGINT, SIGTERM) in a long command: keep what can be resumed and say exactly how to
// resume it. Training finishes its step and checkpoints (a second signal exits at once); sampling commands
// journal every finished problem as it goes, so they stop at once and the journal is what resumes.
import { stderrNotice } from './output.ts';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** The command line that continues this run: the same arguments, with --resume and without --overwrite. */
export function resumeCommand(argv: readonly string[] = process.argv.slice(2)): string {
  const args = argv.filter((a) => a !== '--overwrite');
  if (!args.includes('--resume')) args.push('--resume');
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

/**
 * Run `fn` (a journaled sampling job) so that SIGINT/SIGTERM exits at once with 130, after saying where
 * the finished work is kept and the exact command that resumes it.
 */
export async function withResumableExit<T>(journal: string, fn: () => Promise<T>): Promise<T> {
  const onSignal = (signal: string) => {
    stderrNotice(`${signal}: stopped; finished problems are kept in ${journal}. Resume with:\n  ${resumeCommand()}`);
    process.exit(130);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await fn();
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
