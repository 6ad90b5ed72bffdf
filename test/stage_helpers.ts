// Shared by the stage command tests: run `still imitate|explore|improve` in this process (no tsx start-up
// per run), with stdout and stderr captured, and read a JSONL file back.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerExplore } from '../src/cli/explore.ts';
import { registerImitate } from '../src/cli/imitate.ts';
import { registerImprove } from '../src/cli/improve.ts';

export async function runStage(args: string[]): Promise<{ stdout: string; stderr: string; summary: Record<string, any> }> {
  const program = new Command('still').option('--backend <name>', 'backend', 'cpu').exitOverride();
  for (const register of [registerImitate, registerExplore, registerImprove]) register(program);
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
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return { stdout, stderr, summary: last.startsWith('{') ? JSON.parse(last) : {} };
}

export function readRows(file: string): Record<string, any>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}
