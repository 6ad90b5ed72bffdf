// `still run --config FILE` runs a whole STILL experiment; `still demo [--quick]` runs the bundled one.
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig } from '../loop/config.ts';
import { runExperiment } from '../loop/experiment.ts';
import type { Report } from '../loop/report.ts';
import { useBackend } from './backend_option.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url);

async function run(this: Command, configFile: string, out: string | undefined, quiet: boolean): Promise<Report> {
  const backend = useBackend(this);
  const cfg = loadConfig(configFile);
  const outDir = out ?? join('checkpoints', cfg.name);
  if (!quiet) process.stderr.write(`still: running ${configFile} on the ${backend.name} backend → ${outDir}\n`);
  const report = await runExperiment(cfg, { outDir, quiet });
  process.stdout.write(`hard_gain_points ${report.hard_gain_points.toFixed(1)} (level ${report.hardestLevel}); ` +
    `report: ${join(outDir, 'report.md')}, ${join(outDir, 'report.html')} (${report.totalWallSeconds.toFixed(0)} s)\n`);
  return report;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run a STILL experiment (imitate → explore → self-improve rounds) from a JSON config; resumes finished rounds')
    .requiredOption('--config <file>', 'experiment config (see examples/*.json)')
    .option('--out <dir>', 'output directory (default: checkpoints/<name>)')
    .option('--quiet', 'no progress output')
    .action(async function (this: Command, o: { config: string; out?: string; quiet?: boolean }) {
      await run.call(this, o.config, o.out, o.quiet ?? false);
    });

  program
    .command('demo')
    .description('the main job: train a tiny model from scratch to think slowly, then self-improve (CPU, minutes)')
    .option('--quick', 'a smaller run (≤ 2 minutes on 2 cores)')
    .option('--out <dir>', 'output directory (default: checkpoints/demo)')
    .option('--quiet', 'no progress output')
    .action(async function (this: Command, o: { quick?: boolean; out?: string; quiet?: boolean }) {
      const file = new URL(o.quick ? 'demo-quick.json' : 'demo.json', EXAMPLES).pathname;
      await run.call(this, file, o.out ?? join('checkpoints', o.quick ? 'demo-quick' : 'demo'), o.quiet ?? false);
    });
}
