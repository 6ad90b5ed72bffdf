// `still explore`: the STILL explore stage on its own. k rollouts per problem, each verified; the correct
// ones go into a pool (deduplicated, capped per problem, shortest first), merged into --pool if given.
//
//   still explore --model runs/imitated --task addition --levels 4,5 --problems 50 --out pool.jsonl
//   still explore --model Qwen2.5-Math --data hard.jsonl --k 8 --temperature 0.7 --out pool.jsonl
//
// Toy (--task): a char-level student on fresh task problems, checked by the task; the pool holds toy
// trajectory rows. Real (--data, rows {"question"|"problem", "answer"}): an HF model prompted as `still
// eval --prompt still2`, graded by the math grader; the pool holds STILL-2 rows for `still imitate --data`.
// Finished problems are journaled in OUT.partial.jsonl while it runs; --resume continues an interrupted run.
// Prints a JSON summary line on stdout.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { discardJournal } from '../io/journal.ts';
import { stageLog } from '../loop/progress.ts';
import { PROMPT_STYLES, type PromptStyle } from '../eval/prompt.ts';
import { exploreText, loadExploreData } from '../loop/explore_text.ts';
import { readRolloutsFile, rolloutsFileRows, rolloutsPathFor, writeRolloutsFile } from '../loop/rollouts_file.ts';
import { claimOutputFile } from '../io/output_policy.ts';
import { TextPool } from '../loop/text_pool.ts';
import { exploreToy } from '../loop/stage_explore.ts';
import { poolFormat, writeStill2Rows, writeTrajectories, type PoolFormat } from '../loop/stage_pool_rows.ts';
import { loadToyModel, parseLevels, readToyNote } from '../loop/stage_toy.ts';
import { getTask, taskNames } from '../tasks/index.ts';
import { LONG_THOUGHT_TOKENS } from '../sample/sampling.ts';
import { EVAL_SETS, evalSetName } from '../verify/gold.ts';
import { useBackend } from './backend_option.ts';
import { noteResumeCommand } from './interrupt.ts';
import { intFlag, numFlag, refuseFlags } from './stage_options.ts';
import { addEngineOptions, engineFromFlags, type EngineFlags } from './engine_options.ts';

interface ExploreFlags extends EngineFlags {
  model: string;
  adapter?: string;
  task?: string;
  levels?: string;
  problems?: number;
  data?: string;
  benchFormat?: string;
  prompt: string;
  k: number;
  temperature: number;
  topP: number;
  maxNewTokens?: number;
  seed?: number;
  cap: number;
  pool?: string;
  maxBatch?: number;
  out: string;
  resume?: boolean;
  overwrite?: boolean;
  force?: boolean;
  quiet?: boolean;
}

const ENGINE_KEYS = ['engine', 'baseUrl', 'apiKeyEnv', 'servedModel', 'concurrency', 'requestTimeoutS'];
const COMMON = ['model', 'k', 'temperature', 'topP', 'maxNewTokens', 'seed', 'cap', 'pool', 'maxBatch', 'out', 'overwrite', 'quiet', 'problems'];

export function registerExplore(program: Command): void {
  const cmd = program
    .command('explore')
    .description('STILL explore stage: k rollouts per problem, verify, keep the correct ones in a pool (toy --task or real --data)')
    .requiredOption('--model <dir>', 'the policy: a toy student (still imitate --task) or an HF model directory with tokenizer.json')
    .option('--adapter <dir>', 'real: a PEFT LoRA adapter merged into --model (e.g. still imitate\'s output)')
    .option('--task <name>', `toy: explore fresh problems of this task (${taskNames().join(' | ')})`)
    .option('--levels <list>', 'toy: levels to explore, e.g. 4,5 or 4-6')
    .option('--problems <n>', 'toy: problems per level (default 50); real: the first n rows of --data (default all)', intFlag('--problems', 1))
    .option('--data <file>', 'real: JSONL of {"question"|"problem", "answer"} rows ("gold" or a boxed "solution" also read)')
    .addOption(new Option('--prompt <style>', 'real: the paper\'s instruction + question (still2), or the bare question (plain), as still eval --prompt').choices([...PROMPT_STYLES]).default('still2'))
    .addOption(new Option('--bench-format <name>', 'real: read --data rows in the layout of a shipped eval set (and grade by its rules)').choices([...EVAL_SETS]))
    .option('--k <n>', 'rollouts per problem', intFlag('--k', 1), 8)
    .option('--temperature <t>', 'sampling temperature (0 = one greedy rollout)', numFlag('--temperature'), 0.7)
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]', numFlag('--top-p'), 1)
    .option('--max-new-tokens <m>', `most tokens per rollout (default: toy, the context the levels need; real, ${LONG_THOUGHT_TOKENS}, cut to the context)`, intFlag('--max-new-tokens', 1))
    .option('--seed <s>', 'seed for problems and sampling (default: toy, the student\'s; real, 0)', intFlag('--seed'))
    .option('--cap <n>', 'correct rollouts kept per problem, the shortest first', intFlag('--cap', 1), 1)
    .option('--pool <file>', 'an existing pool to merge into (same kind: toy trajectories or STILL-2 rows)')
    .option('--max-batch <n>', 'sequences decoded together (default: toy 64, real 16)', intFlag('--max-batch', 1))
    .requiredOption('--out <file>', 'the pool to write (JSONL); may be the same file as --pool')
    .option('--resume', 'real: continue the interrupted run journaled in OUT.partial.jsonl (same flags), sampling only the problems it lacks')
    .option('--overwrite', 'replace an existing --out (and its rollouts file) instead of refusing; --pool F --out F always extends F')
    .option('--force', 'real: apply --adapter even if it records another base model than --model')
    .option('--quiet', 'no progress output');
  addEngineOptions(cmd).action(async function (this: Command, o: ExploreFlags) {
      if ((o.task === undefined) === (o.data === undefined)) throw new Error('still explore needs one of --task NAME (a toy student) or --data FILE (an HF model)');
      if (!(o.temperature >= 0)) throw new Error(`--temperature must be ≥ 0, got ${o.temperature}`);
      if (!(o.topP > 0 && o.topP <= 1)) throw new Error(`--top-p must be in (0, 1], got ${o.topP}`);
      if (o.pool !== undefined) checkPoolKind(o.pool, o.task !== undefined ? 'toy' : 'still2');
      const log = stageLog(o.quiet);
      const summary = o.task !== undefined ? await exploreToyCommand(this, o, log) : await exploreDataCommand(this, o, log);
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}

async function exploreToyCommand(cmd: Command, o: ExploreFlags, log: ReturnType<typeof stageLog>): Promise<Record<string, unknown>> {
  refuseFlags(cmd, new Set([...COMMON, 'task', 'levels']), 'does not apply to a toy student (--task); it is for --data');
  const task = getTask(o.task!);
  if (o.levels === undefined) throw new Error(`--task needs --levels, e.g. --levels ${Math.min(task.minLevel + 3, task.maxLevel)}`);
  const levels = parseLevels(o.levels, task);
  const backend = useBackend(cmd);
  const model = loadToyModel(o.model);
  const note = readToyNote(o.model);
  if (note && note.task !== task.name) log.line(`explore: ${o.model} was distilled on ${note.task}, exploring ${task.name}`);
  const seed = o.seed ?? note?.distill.seed ?? 1;
  claimOutputFile(o.out, { inputs: [o.pool], overwrite: o.overwrite });
  log.line(`explore: ${o.model} on the ${backend.name} backend`);
  const r = exploreToy({
    model, note, task, levels, problemsPerLevel: o.problems ?? 50, seed, cap: o.cap, poolIn: o.pool, maxBatch: o.maxBatch ?? 64, log,
    sampling: { k: o.k, temperature: o.temperature, topP: o.topP, maxNewTokens: o.maxNewTokens ?? 0 },
  });
  writeTrajectories(o.out, r.pool.all());
  const solved = Object.entries(r.solvedByLevel).map(([l, v]) => `${l}: ${v.toFixed(0)}%`).join(', ');
  log.line(`explore round ${r.round}: ${r.problems} problems, ${r.rollouts} rollouts, ${r.correct} correct; solved by level ${solved}; ` +
    `pool ${r.poolSize} (+${r.added}) → ${o.out} (${r.seconds.toFixed(1)} s, ${Math.round(r.tokens / Math.max(r.seconds, 1e-9))} tok/s)`);
  return {
    pool: o.out, task: task.name, round: r.round, problems: r.problems, problems_by_level: r.problemsByLevel, rollouts: r.rollouts,
    correct: r.correct, solved_by_level: r.solvedByLevel, reflection_rate: r.reflectionRate, added: r.added, pool_size: r.poolSize,
    max_new_tokens: r.maxNewTokens, tokens: r.tokens, seconds: r.seconds,
  };
}

async function exploreDataCommand(cmd: Command, o: ExploreFlags, log: ReturnType<typeof stageLog>): Promise<Record<string, unknown>> {
  refuseFlags(cmd, new Set([...COMMON, 'data', 'benchFormat', 'adapter', 'force', 'resume', 'prompt', ...ENGINE_KEYS]), 'does not apply to --data (it is for a toy student, with --task)');
  const engine = await engineFromFlags(o, o.adapter);
  const format = o.benchFormat === undefined ? null : evalSetName(o.benchFormat);
  const problems = loadExploreData(o.data!, format, o.problems);
  const journal = `${o.out}.partial.jsonl`;
  if (o.resume && !existsSync(journal)) throw new Error(`nothing to resume: ${journal} does not exist (it is deleted once the pool is written)`);
  const backend = useBackend(cmd);
  log.line(`explore: ${o.model}${o.adapter ? ` + ${o.adapter}` : ''} ${engine ? `on ${engine.baseUrl} (model '${engine.model}', ${engine.concurrency} requests at once)` : `on the ${backend.name} backend`}, ${problems.length} problems from ${o.data}`);
  const pool = o.pool ? TextPool.load(o.pool, o.cap) : new TextPool(o.cap);
  // The pool file and the rollouts beside it are one output: extending a pool (--pool F --out F) extends its
  // rollouts file too; a new --out must not clobber either.
  const rollouts = rolloutsPathFor(o.out);
  const extending = o.pool !== undefined && resolve(o.pool) === resolve(o.out);
  claimOutputFile(o.out, { inputs: [o.pool], overwrite: o.overwrite });
  if (!extending) claimOutputFile(rollouts, { flag: '--out (its rollouts file)', overwrite: o.overwrite });
  const earlier = extending && existsSync(rollouts) ? readRolloutsFile(rollouts) : [];
  if (!o.quiet) noteResumeCommand(`explore: finished problems are journaled in ${journal}`);
  const r = await exploreText({
    model: o.model, adapter: o.adapter, forceAdapter: o.force === true, problems, dataset: format ?? undefined, prompt: o.prompt as PromptStyle, pool, round: 1, log, journal, resume: o.resume === true,
    sampling: {
      k: o.k, temperature: o.temperature, topP: o.topP, maxNewTokens: o.maxNewTokens ?? LONG_THOUGHT_TOKENS, seed: o.seed ?? 0, maxBatch: o.maxBatch ?? 16,
    },
    settings: { data: resolve(o.data!) }, engine,
  });
  writeRolloutsFile(rollouts, [...earlier, ...rolloutsFileRows(problems, r.graded)]);
  writeStill2Rows(o.out, pool.rows());
  discardJournal(journal); // its rollouts are verified and in the pool now
  const byLevel = Object.entries(r.solvedByLevel).map(([l, v]) => `${l}: ${v.toFixed(0)}%`).join(', ');
  log.line(`explore: ${r.problems} problems, ${r.rollouts} rollouts, ${r.correct} verified (${r.unformatted} not in the STILL-2 format); ` +
    `solved ${r.solved.toFixed(0)}%${byLevel ? ` (by level ${byLevel})` : ''}; pool ${pool.size} (+${r.added}) → ${o.out}, every rollout → ${rollouts} (${r.seconds.toFixed(1)} s)`);
  return {
    pool: o.out, rollouts_file: rollouts, data: o.data, problems: r.problems, rollouts: r.rollouts, correct: r.correct, unformatted: r.unformatted,
    solved: r.solved, solved_by_level: r.solvedByLevel, added: r.added, pool_size: pool.size, tokens: r.tokens, seconds: r.seconds,
  };
}

/** A toy student explores into a toy pool, a text model into a STILL-2 one; an empty file is either. */
function checkPoolKind(file: string, want: PoolFormat): void {
  const kind = poolFormat(file);
  if (kind !== null && kind !== want) {
    throw new Error(`--pool ${file} holds ${kind === 'toy' ? 'toy trajectories' : 'STILL-2 rows'}, but ${want === 'toy' ? '--task explores into toy trajectories' : '--data explores into STILL-2 rows'}`);
  }
}
