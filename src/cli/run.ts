// `still run --config FILE` runs a whole STILL experiment: the toy loop (a "task" config) or STILL-2 on an
// HF checkpoint (a config whose "model" names a directory); `still demo [--quick]` runs the bundled toy one.
// Rerunning into the same --out resumes; --dry-run prints the plan and runs nothing.
import type { Command } from 'commander';
import { join } from 'node:path';
import { describeBackend } from '../backends/select.ts';
import { runExperiment } from '../loop/experiment.ts';
import { loadExperimentConfig, planToyExperiment } from '../loop/experiment_config.ts';
import { runHfExperiment } from '../loop/hf/experiment.ts';
import { planHfExperiment } from '../loop/hf/plan.ts';
import { engineFromOptions } from '../loop/hf/remote_policy.ts';
import { packageProvenance } from '../loop/provenance.ts';
import { runSeeds } from '../loop/seeds.ts';
import { useBackend } from './backend_option.ts';
import { noteResumeCommand } from './interrupt.ts';
import { addEngineOptions, type EngineFlags } from './engine_options.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url);

interface RunFlags extends Partial<EngineFlags> {
  out?: string;
  overwrite?: boolean;
  quiet?: boolean;
  dryRun?: boolean;
  seeds?: number[];
}

async function run(this: Command, configFile: string, o: RunFlags, defaultOut?: string): Promise<void> {
  const loaded = loadExperimentConfig(configFile);
  if (o.seeds && loaded.kind === 'hf') throw new Error('--seeds is for toy configs (a "task" config); an HF run is one seed');
  if (o.engine !== undefined && o.engine !== 'local') {
    if (o.engine !== 'openai') throw new Error(`--engine must be local or openai, got '${o.engine}'`);
    if (loaded.kind !== 'hf') throw new Error('--engine openai is for STILL-2 runs on HF checkpoints (a config whose "model" names a directory)');
    // Recorded with the config, so a rerun into the same --out must name the same server (or resume is refused).
    loaded.config.engine = engineFromOptions(loaded.config, {
      baseUrl: o.baseUrl, apiKeyEnv: o.apiKeyEnv, model: o.servedModel, concurrency: o.concurrency, timeoutS: o.requestTimeoutS,
    });
  }
  if (o.dryRun) {
    process.stdout.write(`${loaded.kind === 'hf' ? planHfExperiment(loaded.config) : planToyExperiment(loaded.config)}\n`);
    return;
  }
  const backend = useBackend(this);
  const outDir = o.out ?? defaultOut ?? join('checkpoints', loaded.config.name);
  const quiet = o.quiet ?? false;
  if (!quiet) process.stderr.write(`still: running ${configFile} on the ${backend.name} backend → ${outDir}\n`);
  // Finished stages and journaled problems survive a kill; the same command (without --overwrite) resumes.
  if (!quiet && !o.overwrite) noteResumeCommand(`finished stages are kept in ${outDir}`, { resumeFlag: false });
  if (loaded.kind === 'hf') {
    const report = await runHfExperiment(loaded.config, {
      outDir, quiet, overwrite: o.overwrite, provenance: { ...packageProvenance(), backend: backend.name, device: describeBackend(backend) },
    });
    const hard = `${report.hard.bench}${report.hard.level !== null ? ` level ${report.hard.level}` : ''}`;
    process.stdout.write(`hard_gain_points ${report.hard_gain_points.toFixed(1)} (${hard}: ${report.hardAccuracy.map((a) => a.toFixed(1)).join(' → ')}); ` +
      `report: ${join(outDir, 'report.md')}, ${join(outDir, 'report.html')} (${report.totalWallSeconds.toFixed(0)} s)\n`);
    return;
  }
  if (o.seeds) {
    const r = await runSeeds(loaded.config, o.seeds, { outDir, quiet, overwrite: o.overwrite });
    process.stdout.write(`hard_gain_points ${r.hard_gain_points.mean.toFixed(1)} ± ${r.hard_gain_points.halfWidth.toFixed(1)} over seeds ${r.seeds.join(',')} ` +
      `(level ${r.hardestLevel}); report: ${join(outDir, 'seeds.md')}, ${join(outDir, 'seeds.html')}\n`);
    return;
  }
  const report = await runExperiment(loaded.config, { outDir, quiet, overwrite: o.overwrite });
  process.stdout.write(`hard_gain_points ${report.hard_gain_points.toFixed(1)} (level ${report.hardestLevel}); ` +
    `report: ${join(outDir, 'report.md')}, ${join(outDir, 'report.html')} (${report.totalWallSeconds.toFixed(0)} s)\n`);
}

function seedList(v: string): number[] {
  const seeds = v.split(',').map((x) => Number(x.trim()));
  if (seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0)) throw new Error(`--seeds expects a list of non-negative integers like 1,2,3, got '${v}'`);
  return seeds;
}

export function registerRun(program: Command): void {
  const runCmd = program
    .command('run')
    .description('run a STILL experiment from a JSON config: the toy loop, or STILL-2 on an HF checkpoint (imitate → explore → refine → improve → eval rounds); resumes')
    .requiredOption('--config <file>', 'experiment config (see examples/*.json)')
    .option('--out <dir>', 'output directory (default: checkpoints/<name>)')
    .option('--seeds <list>', 'toy: run every arm once per seed (e.g. 1,2,3) into OUT/seed-N and report each number as a mean ± 95% interval (seeds.md/html)', seedList)
    .option('--overwrite', 'start over: run beside the old run and replace it when the new one completes (a plain rerun resumes)')
    .option('--dry-run', 'print the plan (problems, rollouts, tokens to generate and train, memory) and run nothing')
    .option('--quiet', 'no progress output');
  addEngineOptions(runCmd).action(async function (this: Command, o: RunFlags & { config: string }) {
    await run.call(this, o.config, o);
  });

  program
    .command('demo')
    .description('the main job: train a tiny model from scratch to think slowly, then self-improve (CPU, minutes)')
    .option('--quick', 'a smaller run (about 1½ minutes on 2 cores)')
    .option('--out <dir>', 'output directory (default: checkpoints/demo, or checkpoints/demo-quick with --quick)')
    .option('--overwrite', 'start over: run beside the old run and replace it when the new one completes (a plain rerun resumes)')
    .option('--dry-run', 'print the plan and run nothing')
    .option('--quiet', 'no progress output')
    .action(async function (this: Command, o: RunFlags & { quick?: boolean }) {
      const file = new URL(o.quick ? 'demo-quick.json' : 'demo.json', EXAMPLES).pathname;
      await run.call(this, file, o, join('checkpoints', o.quick ? 'demo-quick' : 'demo'));
    });
}
