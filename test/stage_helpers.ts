// Shared by the stage command tests: run `still imitate|explore|improve` in this process (no tsx start-up
// per run), with stdout and stderr captured, and read a JSONL file back.
import { readFileSync } from 'node:fs';
import { registerExplore } from '../src/cli/explore.ts';
import { registerImitate } from '../src/cli/imitate.ts';
import { registerImprove } from '../src/cli/improve.ts';
import { runCli } from './cli_helpers.ts';

export async function runStage(args: string[]): Promise<{ stdout: string; stderr: string; summary: Record<string, any> }> {
  const { stdout, stderr } = await runCli([registerImitate, registerExplore, registerImprove], args);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return { stdout, stderr, summary: last.startsWith('{') ? JSON.parse(last) : {} };
}

export function readRows(file: string): Record<string, any>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}
