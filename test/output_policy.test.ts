// Nothing the user made is lost: every command refuses to write over an existing file or finished run
// (and leaves it byte for byte), --overwrite replaces atomically, inputs are checked before the first byte is
// written, one process writes a folder at a time, and faults name the file they are about.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerEval } from '../src/cli/eval.ts';
import { registerSft } from '../src/cli/sft.ts';
import { registerRun } from '../src/cli/run.ts';
import { injectWriteFault, writeFileAtomic } from '../src/io/atomic.ts';
import { LOCK_FILE, lockFolder } from '../src/io/folder_lock.ts';
import { claimOutputFile, claimOutputFolder } from '../src/io/output_policy.ts';
import { readRecord } from '../src/loop/run_folder.ts';
import { runSft } from '../src/train/sft_run.ts';
import { writeStill2Rows } from '../src/loop/stage_pool_rows.ts';
import { runCli } from './cli_helpers.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';
import { runStage } from './stage_helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'still-output-'));
const at = (name: string) => join(work, name);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const thought = (q: string, a: string) =>
  `<|begin_of_thought|>${q}: work it out. Check: ${a}.<|end_of_thought|><|begin_of_solution|>\\boxed{${a}}<|end_of_solution|>`;
const rows = (file: string, list: object[]) => (writeFileSync(file, list.map((r) => `${JSON.stringify(r)}\n`).join('')), file);
/** Every file under dir with its bytes, to check that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}
const still = (args: string[]) => runCli([registerSft, registerEval, registerRun], args);

describe('the output policy', () => {
  it('a file: refused when it exists, allowed when it is the input too, replaced with --overwrite; parent folders are made', () => {
    const file = at('policy/a/b/out.jsonl');
    claimOutputFile(file);
    expect(existsSync(at('policy/a/b'))).toBe(true);
    writeFileSync(file, 'mine\n');
    expect(() => claimOutputFile(file)).toThrow(`--out ${file} already exists; choose another path, or pass --overwrite to replace it`);
    expect(() => claimOutputFile(file, { inputs: [file] })).not.toThrow();
    expect(() => claimOutputFile(file, { overwrite: true })).not.toThrow();
    expect(() => claimOutputFile(at('policy/a'), { flag: '--log' })).toThrow(`--log ${at('policy/a')} is a folder`);
  });

  it('a folder: --overwrite writes beside the old run and swaps it in only on commit', () => {
    const dir = at('policy/run');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'done.json'), 'old');
    const spec = { what: 'thing', finished: 'done.json', resumable: 'partial' };
    expect(() => claimOutputFolder(dir, spec)).toThrow(`--out ${dir} already holds a finished thing (done.json); choose another folder, or pass --overwrite`);

    const failed = claimOutputFolder(dir, { ...spec, overwrite: true });
    writeFileSync(join(failed.dir, 'done.json'), 'half');
    failed.release(); // the new run failed: the old one is untouched, the half-written one gone
    expect(readFileSync(join(dir, 'done.json'), 'utf8')).toBe('old');
    expect(readdirSync(at('policy')).filter((e) => e.startsWith('.run'))).toEqual([]);

    const good = claimOutputFolder(dir, { ...spec, overwrite: true });
    expect(good.dir).not.toBe(dir);
    writeFileSync(join(good.dir, 'done.json'), 'new');
    good.commit();
    expect(readdirSync(dir)).toEqual(['done.json']);
    expect(readFileSync(join(dir, 'done.json'), 'utf8')).toBe('new');
    expect(readdirSync(at('policy')).filter((e) => e.startsWith('.run'))).toEqual([]); // no staging or old copy left

    writeFileSync(join(dir, 'notes.txt'), 'x');
    rmSync(join(dir, 'done.json'));
    expect(() => claimOutputFolder(dir, spec)).toThrow(`--out ${dir} holds files that are not a thing (notes.txt)`);
    // A workflow's own folder ('auto'): what a killed attempt left without its marker is started over.
    expect(claimOutputFolder(dir, { ...spec, resume: 'auto' })).toMatchObject({ dir, resume: false, finished: false });
    mkdirSync(join(dir, 'partial'));
    expect(() => claimOutputFolder(dir, spec)).toThrow('holds an unfinished thing (partial); add --resume to continue it');
    expect(claimOutputFolder(dir, { ...spec, resume: true })).toMatchObject({ dir, resume: true });
  });

  it('one writer per folder: a live holder is named, a dead one\'s lock is taken over, a folder it made and left empty goes', async () => {
    const dir = at('policy/locked');
    const sleeper: ChildProcess = spawn('sleep', ['30']);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: sleeper.pid, command: 'still run --config x.json', started: '2026-12-03T08:00:00Z' }));
      expect(() => lockFolder(dir)).toThrow(`${dir} is in use by another still process (pid ${sleeper.pid}, since 2026-12-03T08:00:00Z: still run --config x.json)`);
    } finally {
      sleeper.kill();
    }
    await new Promise((r) => sleeper.once('exit', r));
    const release = lockFolder(dir); // its holder is gone
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    release();
    expect(readdirSync(dir)).toEqual([]);

    const fresh = at('policy/never-written');
    lockFolder(fresh)();
    expect(existsSync(fresh)).toBe(false);
  });

  it('a failed write names its file and leaves the old contents (here: an injected full disk)', () => {
    const file = at('policy/kept.json');
    writeFileAtomic(file, 'before');
    injectWriteFault((p) => (p === file ? Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) : null));
    try {
      expect(() => writeFileAtomic(file, 'after')).toThrow(`${file}: cannot write (ENOSPC: ENOSPC: no space left on device, write); free some disk space`);
    } finally {
      injectWriteFault(null);
    }
    expect(readFileSync(file, 'utf8')).toBe('before');
    expect(readdirSync(at('policy')).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  });

  it('a damaged record names its file and the way out', () => {
    const file = at('policy/metrics.json');
    writeFileSync(file, '{"round": 1, "accuracy": [{"lev');
    expect(() => readRecord(file)).toThrow(`${file}: not valid JSON (`);
    expect(() => readRecord(file)).toThrow('delete it to redo that stage');
  });
});

describe('commands leave what exists byte-identical', () => {
  const model = tinyEvalModelDir();
  const distilled = rows(at('distilled.jsonl'), [{ question: 'What is 2+2?', combined_text: thought('2+2', '4'), domain: 'math' }]);
  const problems = rows(at('hard.jsonl'), [{ question: 'What is 1+1?', answer: '2' }]);
  const exploreFlags = ['--model', model, '--data', problems, '--k', '2', '--max-new-tokens', '4', '--quiet'];
  const sftFlags = ['sft', '--model', model, '--data', distilled, '--lora-r', '2', '--steps', '1', '--quiet'];

  it('explore --out over the distilled data is refused; --pool F --out F extends F; --overwrite replaces', async () => {
    const before = readFileSync(distilled);
    await expect(runStage(['explore', ...exploreFlags, '--out', distilled])).rejects.toThrow(`--out ${distilled} already exists`);
    expect(readFileSync(distilled)).toEqual(before);

    const pool = at('pool.jsonl');
    writeStill2Rows(pool, [{ question: 'What is 3+3?', combined_text: thought('3+3', '6'), domain: 'math' }]);
    const extended = await runStage(['explore', ...exploreFlags, '--pool', pool, '--out', pool]);
    expect(extended.summary.pool_size).toBe(1); // the old row is kept
    const again = await runStage(['explore', ...exploreFlags, '--pool', pool, '--out', pool]);
    expect(readFileSync(again.summary.rollouts_file, 'utf8').trim().split('\n')).toHaveLength(4); // both runs' rollouts

    await expect(runStage(['explore', ...exploreFlags, '--out', pool])).rejects.toThrow(`--out ${pool} already exists`);
    const replaced = await runStage(['explore', ...exploreFlags, '--out', pool, '--overwrite']);
    expect(replaced.summary.pool_size).toBe(0);
    expect(readFileSync(replaced.summary.rollouts_file, 'utf8').trim().split('\n')).toHaveLength(2);
  }, 60_000);

  it('explore warns when its problems are in a shipped benchmark\'s test set', async () => {
    const math500 = readFileSync('data/eval/math500.jsonl', 'utf8').split('\n').slice(0, 2).map((l) => JSON.parse(l));
    const leaked = rows(at('leaked.jsonl'), math500.map((r) => ({ question: `  ${r.problem.toUpperCase()} `, answer: r.answer })));
    const r = await runStage(['explore', '--model', model, '--data', leaked, '--k', '1', '--max-new-tokens', '2', '--out', at('leaked-pool.jsonl')]);
    expect(r.stderr).toMatch(/warning: 2 of 2 problems in the explore data are in the math500 test set/);
    const clean = await runStage(['explore', '--model', model, '--data', problems, '--k', '1', '--max-new-tokens', '2', '--out', at('clean-pool.jsonl')]);
    expect(clean.stderr).not.toMatch(/warning/);
    // Training on them is warned about too.
    const rows2 = rows(at('leaked-sft.jsonl'), [...math500, { problem: 'What is 2+2?' }].map((r) => ({ question: r.problem, combined_text: thought('q', '1'), domain: 'math' })));
    const notes: string[] = [];
    await runSft({ model, data: rows2, out: at('leaked-sft'), steps: 1, mode: { kind: 'lora', r: 2 } }, undefined, { note: (l) => notes.push(l) });
    expect(notes.filter((l) => l.startsWith('warning:'))).toEqual([expect.stringMatching(/^warning: 2 of 3 problems in the training data are in the math500 test set/)]);
  }, 60_000);

  it('sft: a finished run, foreign files and a full model are refused; --overwrite swaps; --log may name a new folder', async () => {
    const out = at('sft');
    const log = at('logs/new/train.log'); // the folder does not exist yet
    await still([...sftFlags, '--out', out, '--log', log]);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    const before = snapshot(out);
    await expect(still([...sftFlags, '--out', out])).rejects.toThrow(`--out ${out} already holds a finished training run (training_summary.json)`);
    expect(snapshot(out)).toEqual(before);

    const full = at('full-model');
    await still([...sftFlags.filter((f) => f !== '--lora-r' && f !== '2'), '--full', '--out', full]);
    rmSync(join(full, 'training_summary.json')); // a plain HF model folder now
    const fullBefore = snapshot(full);
    await expect(still([...sftFlags, '--out', full])).rejects.toThrow(`--out ${full} holds files that are not a training run`);
    expect(snapshot(full)).toEqual(fullBefore);

    await still([...sftFlags, '--seed', '5', '--out', out, '--overwrite']);
    expect(snapshot(out)).not.toEqual(before);
    expect(JSON.parse(readFileSync(join(out, 'training_summary.json'), 'utf8'))).toMatchObject({ status: 'done', adapter: out });
    expect(readdirSync(work).filter((e) => e.includes('.sft.'))).toEqual([]);
  }, 60_000);

  it('an adapter trained on another base is refused unless --force, before its eval folder is made', async () => {
    const adapter = at('sft-a');
    await still([...sftFlags, '--out', adapter]);
    expect(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')).still_base_fingerprint).toMatch(/^[0-9a-f]{24}$/);
    const other = tinyEvalModelDir(4096); // same shapes, another config
    const flags = ['eval', '--bench', problems, '--max-new-tokens', '2', '--adapter', adapter];
    await expect(still([...flags, '--model', other, '--out', at('eval-other')]))
      .rejects.toThrow(/adapter_config.json: the adapter was trained on another base model than .*field 'still_base_fingerprint' is [0-9a-f]+, this model's fingerprint is [0-9a-f]+; use the base it was trained on, or pass --force/);
    expect(existsSync(at('eval-other'))).toBe(false);
    const forced = await still([...flags, '--model', other, '--out', at('eval-forced'), '--force']);
    expect(forced.stderr).toMatch(/loading it anyway \(--force\)/);
    await still([...flags, '--model', model, '--out', at('eval-same')]); // its own base: no word
  }, 60_000);

  it('eval: a bad flag fails before anything is written, and the corrected command then runs; a finished eval is kept', async () => {
    const out = at('eval');
    const base = ['eval', '--model', model, '--bench', problems, '--max-new-tokens', '2', '--out', out];
    for (const bad of [['--n', '0'], ['--temperature', '-1'], ['--max-new-tokens', '0']]) {
      await expect(still([...base, ...bad])).rejects.toThrow();
      expect(existsSync(out)).toBe(false);
    }
    await still(base);
    const before = snapshot(out);
    await expect(still(['eval', '--model', model, '--bench', 'aime24', '--limit', '1', '--max-new-tokens', '2', '--out', out]))
      .rejects.toThrow(`--out ${out} already holds a finished eval (summary.json)`);
    expect(snapshot(out)).toEqual(before);
  }, 60_000);

  it('SIGTERM during eval stops it at once, keeps the finished problems, and the command it printed resumes them', async () => {
    const many = rows(at('many.jsonl'), Array.from({ length: 12 }, (_, i) => ({ id: `p${i}`, question: `What is ${i}+1?`, answer: String(i + 1) })));
    const out = at('eval-killed');
    const args = ['--backend', 'cpu', 'eval', '--model', model, '--bench', many, '--max-new-tokens', '32', '--temperature', '1', '--max-batch', '1', '--out', out];
    const child = spawn(process.execPath, ['bin/still.js', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const journal = join(out, 'results.partial.jsonl');
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(journal) && readFileSync(journal, 'utf8').split('\n').length > 2) {
          clearInterval(poll);
          child.kill('SIGTERM');
        }
      }, 20);
      child.on('exit', (_, s) => (clearInterval(poll), resolve(s)));
    });
    expect(signal).toBe('SIGTERM');
    expect(stderr).toContain(`still: eval: finished problems are journaled in ${journal}; if this run is interrupted, resume it with:\n  still ${args.join(' ')} --resume\n`);
    const resumed = await still([...args.slice(2), '--resume']);
    expect(resumed.stderr).toMatch(/resuming .*: \d+ of 12 problems done/);
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
  }, 90_000);

  it('NaN weights: the error names the model and the weight', async () => {
    const broken = tinyEvalModelDir();
    const file = join(broken, 'model.safetensors');
    const bytes = readFileSync(file);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    const name = 'model.norm.weight';
    const start = 8 + Number(bytes.readBigUInt64LE(0)) + header[name].data_offsets[0];
    expect(header[name].dtype).toBe('F32');
    for (let i = 0; i < header[name].data_offsets[1] - header[name].data_offsets[0]; i += 4) bytes.writeFloatLE(Number.NaN, start + i);
    writeFileSync(file, bytes);
    for (const temperature of ['1', '0']) { // sampled and greedy
      await expect(still(['eval', '--model', broken, '--bench', problems, '--max-new-tokens', '2', '--temperature', temperature, '--out', at(`eval-nan-${temperature}`)]))
        .rejects.toThrow(`${broken}: weight 'model.norm.weight' holds NaN or infinite values`);
    }
  }, 60_000);
});

describe('still run: configs are checked before anything is written', () => {
  const MICRO = {
    name: 'micro', seed: 3, task: 'addition',
    model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
    levels: { distill: [1, 2], explore: [3], eval: [2, 3] },
    imitate: { examples: 24, epochs: 1, lr: 0.003, batchSize: 8 },
    explore: { problemsPerLevel: 2, k: 2, temperature: 1, maxNewTokens: 48 },
    improve: { rounds: 1, epochs: 1, lr: 0.002, batchSize: 8 },
    eval: { problemsPerLevel: 2, k: 1, temperature: 0, maxNewTokens: 48 },
    maxBatch: 8,
  };
  const config = (name: string, value: object) => (writeFileSync(at(name), JSON.stringify(value)), at(name));

  it('a typo names the nearest field, a range error names the field, nothing is written; the corrected config runs there', async () => {
    const out = at('run');
    const typo = config('typo.json', { ...MICRO, explore: { ...MICRO.explore, problemsPerlevel: 3 } });
    await expect(still(['run', '--config', typo, '--out', out, '--quiet']))
      .rejects.toThrow(`${typo}: unknown field 'explore.problemsPerlevel'; did you mean 'explore.problemsPerLevel'?`);
    const cases: [object, string][] = [
      [{ ...MICRO, explore: { ...MICRO.explore, topP: 5 } }, "field 'explore.topP' must be a number > 0 and ≤ 1, got 5"],
      [{ ...MICRO, imitate: { ...MICRO.imitate, reflectionRate: 3 } }, "field 'imitate.reflectionRate' must be a number ≥ 0 and ≤ 1, got 3"],
      [{ ...MICRO, model: { ...MICRO.model, numLayers: 0 } }, "field 'model.numLayers' must be an integer ≥ 1, got 0"],
      [{ ...MICRO, levels: { ...MICRO.levels, explore: [31] } }, "field 'levels.explore' must be a non-empty list of addition levels, integers in [1, 30]"],
      [{ ...MICRO, imitate: { ...MICRO.imitate, batchSize: 0 } }, "field 'imitate.batchSize' must be an integer ≥ 1, got 0"],
      [{ ...MICRO, improve: { ...MICRO.improve, epochs: 0 } }, "field 'improve.epochs' must be a number > 0, got 0"],
    ];
    for (const [bad, message] of cases) {
      await expect(still(['run', '--config', config('bad.json', bad), '--out', out, '--quiet'])).rejects.toThrow(message);
    }
    expect(existsSync(out)).toBe(false);

    // A run that failed after it recorded its config (nothing else) takes the corrected one; a stale lock is taken over.
    mkdirSync(out);
    writeFileSync(join(out, 'config.json'), JSON.stringify({ ...MICRO, seed: 99 }));
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 17, command: 'still run', started: 'then' }));
    await still(['run', '--config', config('good.json', MICRO), '--out', out, '--quiet']);
    expect(existsSync(join(out, 'report.json'))).toBe(true);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    // Rerunning the finished run recomputes nothing: same report.
    const report = readFileSync(join(out, 'report.json'));
    await still(['run', '--config', at('good.json'), '--out', out, '--quiet']);
    expect(readFileSync(join(out, 'report.json'))).toEqual(report);
    await expect(still(['run', '--config', config('other.json', { ...MICRO, seed: 4 }), '--out', out, '--quiet']))
      .rejects.toThrow("this folder holds a run with a different config (field 'seed' differs); choose another --out, or pass --overwrite");
  }, 120_000);

  it('a second run on one folder exits at once, naming the first one\'s pid', async () => {
    const out = at('busy');
    const first = spawn(process.execPath, ['bin/still.js', '--backend', 'cpu', 'run', '--config', at('good.json'), '--out', out, '--quiet'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 30_000;
      while (!existsSync(join(out, LOCK_FILE)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      await expect(still(['run', '--config', at('good.json'), '--out', out, '--quiet'])).rejects.toThrow(`is in use by another still process (pid ${first.pid}`);
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      first.kill('SIGKILL');
    }
  }, 60_000);
});
