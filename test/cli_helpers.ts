// Run `still <args>` in this process (no tsx start-up per run): a fresh commander program with the given
// commands, stdout and stderr captured. Errors are thrown, not printed.
import { Command } from 'commander';

export type Register = (program: Command) => void;

export async function runCli(registers: Register[], args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command('still').option('--backend <name>', 'backend', 'cpu').exitOverride();
  for (const register of registers) register(program);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(['node', 'still', ...args]);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return { stdout, stderr };
}
