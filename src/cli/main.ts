// The `still` command line. Each subcommand lives in its own file and registers itself here.
// Run: npx still --help
import { Command } from 'commander';
import { registerDpo } from './dpo.ts';
import { registerEval } from './eval.ts';
import { registerExplore } from './explore.ts';
import { registerForward } from './forward.ts';
import { registerGenerate } from './generate.ts';
import { registerGrade } from './grade.ts';
import { registerImitate } from './imitate.ts';
import { registerImprove } from './improve.ts';
import { registerInfo } from './info.ts';
import { registerSample } from './sample.ts';
import { registerServe } from './serve.ts';
import { registerRun } from './run.ts';
import { registerSft } from './sft.ts';

const program = new Command('still')
  .description('still-ts: imitate, explore and self-improve slow-thinking models (STILL-2)')
  .option('--backend <name>', 'compute backend: auto | cpu | cuda (env STILL_BACKEND)', process.env.STILL_BACKEND ?? 'auto')
  .showHelpAfterError();

for (const register of [registerEval, registerForward, registerGenerate, registerGrade, registerInfo, registerSample, registerRun, registerSft, registerDpo, registerImitate, registerExplore, registerImprove, registerServe]) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // User-facing errors carry their own context (file, field, expectation); print them without a stack.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`still: ${message}\n`);
  if (process.env.STILL_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
