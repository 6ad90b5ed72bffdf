// `still eval`: sample a model on an eval set (MATH-500, AIME, AMC, Minerva, OlympiadBench, GSM8K or a
// JSONL file), grade every rollout against the gold answer, and report pass@1, pass@k, maj@n and lengths.
//
//   still eval --model DIR --bench math500 --limit 50 --n 4 --temperature 0.6 --out runs/eval
//
// Writes DIR/results.jsonl (every rollout and its verdict) and DIR/summary.json; prints a table. While it
// runs, finished problems go to DIR/results.partial.jsonl, and --resume continues an interrupted run.
import { join } from 'node:path';
import type { Command } from 'commander';
import { EVAL_SETS } from '../verify/gold.ts';
import { evalProgress } from '../eval/progress.ts';
import { PROMPT_STYLES, promptStyle } from '../eval/prompt.ts';
import { runEval, type EvalRun } from '../eval/run.ts';
import { formatScoresTable } from '../eval/table.ts';
import { useBackend } from './backend_option.ts';
import { noteResumeCommand } from './interrupt.ts';
import { LONG_THOUGHT_TOKENS } from '../sample/sampling.ts';
import { addSamplingOptions, type SamplingFlags } from './sampling_options.ts';
import { addEngineOptions, engineFromFlags, type EngineFlags } from './engine_options.ts';

interface EvalFlags extends SamplingFlags, EngineFlags {
  model: string;
  adapter?: string;
  bench: string;
  limit?: number;
  prompt: string;
  out: string;
  resume?: boolean;
  overwrite?: boolean;
  force?: boolean;
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isInteger(x) || x < 1) throw new Error(`${flag} expects a positive integer, got '${v}'`);
    return x;
  };
}

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate a model on a math benchmark: sample, grade, report pass@1 / pass@k / maj@n')
    .requiredOption('--model <dir>', 'HF model directory (with tokenizer.json)')
    .option('--adapter <dir>', 'PEFT LoRA adapter to apply (merged into the weights)')
    .requiredOption('--bench <name|file>', `${EVAL_SETS.join(' | ')} | FILE.jsonl ({"problem", "answer"} rows)`)
    .option('--limit <n>', 'evaluate the first n problems', positiveInt('--limit'))
    .option('--prompt <style>', `${PROMPT_STYLES.join(' | ')}: STILL-2 instruction + question, or the bare question`, 'still2')
    .requiredOption('--out <dir>', 'write results.jsonl and summary.json here')
    .option('--resume', 'continue the interrupted eval in --out (same flags): sample only the problems it has not finished')
    .option('--overwrite', 'replace a finished eval (or other files) in --out; the old one stays until the new one is written')
    .option('--force', 'apply --adapter even if it records another base model than --model');
  addEngineOptions(addSamplingOptions(cmd, LONG_THOUGHT_TOKENS)).action(async function (this: Command, o: EvalFlags) {
    const style = promptStyle(o.prompt);
    const engine = await engineFromFlags(o, o.adapter);
    useBackend(this);
    const progress = evalProgress(`eval ${o.bench}`);
    let run: EvalRun;
    try {
      if (!o.overwrite) noteResumeCommand(`eval: finished problems are journaled in ${join(o.out, 'results.partial.jsonl')}`);
      run = await runEval({
        model: o.model, adapter: o.adapter, bench: o.bench, limit: o.limit, prompt: style, sampling: o, out: o.out,
        resume: o.resume === true, overwrite: o.overwrite === true, forceAdapter: o.force === true,
        onStep: (e) => progress.onStep(e), notice: (line) => process.stderr.write(`${line}\n`), engine,
      });
    } finally {
      progress.stop();
    }
    const s = run.summary;
    const title = `${s.bench}: ${s.overall.problems} problems × n=${s.n}, ${o.prompt} prompt, temperature ${s.config.temperature}`;
    process.stdout.write(formatScoresTable(title, s));
    process.stdout.write(
      `${s.generated_tokens} tokens in ${s.sample_s.toFixed(1)} s (${s.tokens_per_s.toFixed(1)} tok/s), wall ${s.wall_s.toFixed(1)} s → ${o.out}\n`,
    );
  });
}
