// Rollouts on a remote engine, over real HTTP on loopback: `still serve` runs as its own process (the CLI,
// as a user starts it), and `still explore --data` / `still eval` send their problems to it. With the same
// seed the rollouts equal an in-process run's; the server killed in the middle of a remote explore and
// restarted, the rerun finishes with every problem's rollouts once and the same as in-process; and a
// server that restarts while the client is retrying costs a pause, not the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../src/io/journal.ts';
import type { OpenAIEngineOptions } from '../src/eval/remote_engine.ts';
import { runEval } from '../src/eval/run.ts';
import { exploreText, loadExploreData, type TextRollout } from '../src/loop/explore_text.ts';
import type { StageLog } from '../src/loop/progress.ts';
import { TextPool } from '../src/loop/text_pool.ts';
import { tinyEvalModelDir } from './eval_helpers.ts';
import { readRows, runStage } from './stage_helpers.ts';
import { registerEval } from '../src/cli/eval.ts';
import { runCli } from './cli_helpers.ts';

const model = tinyEvalModelDir(512);
const tmp = mkdtempSync(join(tmpdir(), 'still-serve-rollouts-'));
const at = (name: string) => join(tmp, name);
const data = at('problems.jsonl');
writeFileSync(data, Array.from({ length: 10 }, (_, i) => JSON.stringify({ question: `What is ${i} plus ${i + 3}?`, answer: String(2 * i + 3) })).join('\n') + '\n');
const K = 3;
const FLAGS = ['--model', model, '--data', data, '--prompt', 'plain', '--k', String(K), '--max-new-tokens', '16', '--seed', '4', '--temperature', '1', '--quiet'];

/** `still serve` in a child process; resolves once it listens. */
async function serve(port = 0): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = spawn(process.execPath, ['bin/still.js', '--backend', 'cpu', 'serve', '--model', model, '--name', 'tiny', '--port', String(port), '--max-batch', '8'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((ok, fail) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = err.match(/at (http:\/\/127\.0\.0\.1:(\d+))\/v1/);
      if (m) ok(m[1]!);
    });
    child.on('exit', (code) => fail(new Error(`still serve exited (${code}) before listening: ${err}`)));
  });
  return { child, url, port: Number(url.split(':').at(-1)) };
}

const stop = (child: ChildProcess, signal: NodeJS.Signals) => new Promise<number | null>((ok) => {
  child.once('exit', (code) => ok(code));
  child.kill(signal);
});

let server: Awaited<ReturnType<typeof serve>>;
beforeAll(async () => {
  server = await serve();
}, 30_000);
afterAll(async () => {
  if (server.child.exitCode === null) await stop(server.child, 'SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
  rmSync(model, { recursive: true, force: true });
});

/** The rollouts as a comparable list: everything exact but the mean log-prob (batch mates round it). */
const comparable = (rows: Record<string, any>[]) => rows.map(({ logprob, ...rest }) => ({ ...rest, logprob: Math.round(logprob * 1e5) }));

let inProcess: Record<string, any>[];

describe('remote rollouts through still serve', () => {
  it('draw the same rollouts as in-process with the same seed (explore and eval)', async () => {
    await runStage(['explore', ...FLAGS, '--out', at('local.jsonl')]);
    const remote = await runStage(['explore', ...FLAGS, '--engine', 'openai', '--base-url', `${server.url}/v1`, '--concurrency', '4', '--out', at('remote.jsonl')]);
    expect(remote.summary).toMatchObject({ problems: 10, rollouts: 30 });
    inProcess = readRows(at('local.rollouts.jsonl'));
    expect(inProcess).toHaveLength(30);
    expect(new Set(inProcess.map((r) => r.text)).size).toBeGreaterThan(25); // sampled, not one answer repeated
    expect(comparable(readRows(at('remote.rollouts.jsonl')))).toEqual(comparable(inProcess));
    expect(readFileSync(at('remote.jsonl'), 'utf8')).toBe(readFileSync(at('local.jsonl'), 'utf8'));

    const sampling = { maxNewTokens: 12, n: 2, temperature: 0.8, seed: 9, stop: [], maxBatch: 8 };
    const local = await runEval({ model, bench: data, prompt: 'plain', sampling, out: at('eval-local') });
    const onServer = await runEval({ model, bench: data, prompt: 'plain', sampling, out: at('eval-remote'), engine: { baseUrl: server.url, model: 'tiny', concurrency: 3 } });
    expect(onServer.rollouts.map((r) => [r.id, r.sample, r.text, r.tokens, r.finish_reason])).toEqual(local.rollouts.map((r) => [r.id, r.sample, r.text, r.tokens, r.finish_reason]));
    expect(onServer.summary.config).toMatchObject({ engine: 'openai', served_model: 'tiny', backend: 'openai' });
  }, 60_000);

  it('survive the server being killed mid-explore: the rerun after its restart loses and repeats nothing', async () => {
    const problems = loadExploreData(data, null);
    const journal = at('killed.partial.jsonl');
    const engine: OpenAIEngineOptions = { baseUrl: server.url, model: 'tiny', concurrency: 2, maxTries: 2, backoffMs: 50 };
    const explore = (log: StageLog, resume: boolean) => exploreText({
      model, problems, prompt: 'plain', pool: new TextPool(1), round: 1, journal, resume, engine, log,
      sampling: { k: K, temperature: 1, topP: 1, maxNewTokens: 16, seed: 4, maxBatch: 8 }, settings: { data },
    });
    const lines: string[] = [];
    let killed: Promise<number | null> | null = null;
    const killing: StageLog = {
      quiet: true,
      line: (l) => lines.push(l),
      bar: () => ({
        // Kill -9 once three problems are back: nothing is drained, requests in flight die with it.
        update: (done) => {
          if (done >= 3 * K && !killed) killed = stop(server.child, 'SIGKILL');
        },
        stop: () => {},
      }),
    };
    await expect(explore(killing, false)).rejects.toThrow(/remote engine: problem '\d+' failed: .*fetch failed|ECONNREFUSED|ECONNRESET|other side closed/);
    await killed;
    const partial = readJournal<TextRollout>(journal, K);
    expect(partial.done.size).toBeGreaterThanOrEqual(3);
    expect(partial.done.size).toBeLessThan(10);

    server = await serve(server.port); // the same address: the rerun's URL is the old one
    const quiet: StageLog = { quiet: true, line: (l) => lines.push(l), bar: () => ({ update: () => {}, stop: () => {} }) };
    const rerun = await explore(quiet, true);
    expect(rerun.resumed).toBe(partial.done.size);
    const rows = rerun.graded.flat();
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((r) => `${r.id}/${r.sample}`)).size).toBe(30);
    const want = comparable(inProcess.map(({ question: _q, gold: _g, ...r }) => r));
    expect(comparable(rows as unknown as Record<string, any>[])).toEqual(want);
    expect(lines.some((l) => l.includes(`resuming ${journal}: ${partial.done.size} of 10 problems done`))).toBe(true);
  }, 60_000);

  it('keep going when the server restarts while the client retries', async () => {
    const out = at('restarted.jsonl');
    const run = runStage(['explore', ...FLAGS.filter((f) => f !== '--quiet'), '--engine', 'openai', '--base-url', server.url, '--concurrency', '2', '--out', out]);
    // Stop the server as soon as the run has journaled something, and bring it back a moment later.
    while (!existsSync(`${out}.partial.jsonl`) || readFileSync(`${out}.partial.jsonl`, 'utf8').split('\n').length < 3) await new Promise((ok) => setTimeout(ok, 10));
    await stop(server.child, 'SIGKILL');
    await new Promise((ok) => setTimeout(ok, 300));
    server = await serve(server.port);
    const { stderr } = await run;
    expect(stderr).toMatch(/retrying in/);
    expect(comparable(readRows(at('restarted.rollouts.jsonl')))).toEqual(comparable(inProcess));
  }, 60_000);

  it('refuse engine flags that do not fit, before anything is written', async () => {
    const evalArgs = ['eval', '--model', model, '--bench', data, '--prompt', 'plain', '--out', at('never')];
    await expect(runCli([registerEval], [...evalArgs, '--engine', 'openai'])).rejects.toThrow('--engine openai needs --base-url URL');
    await expect(runCli([registerEval], [...evalArgs, '--base-url', server.url])).rejects.toThrow('--base-url is for --engine openai');
    await expect(runCli([registerEval], [...evalArgs, '--engine', 'openai', '--base-url', server.url, '--adapter', 'fixtures/tiny-qwen2/lora']))
      .rejects.toThrow('--adapter applies to in-process sampling; with --engine openai, load the adapter into the server');
    await expect(runCli([registerEval], [...evalArgs, '--engine', 'openai', '--base-url', server.url, '--served-model', 'nope', '--max-new-tokens', '4']))
      .rejects.toThrow(`--served-model 'nope' is not served at ${server.url} (it serves tiny)`);
    expect(existsSync(at('never'))).toBe(false);
  }, 30_000);

  it('drains on SIGTERM: the server finishes what it is sampling, then exits 0', async () => {
    const long = fetch(`${server.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'x', max_tokens: 300, ignore_eos: true }) });
    await new Promise((ok) => setTimeout(ok, 150));
    const exited = stop(server.child, 'SIGTERM');
    const res = await long;
    expect(res.status).toBe(200);
    expect((await res.json()).usage.completion_tokens).toBe(300);
    expect(await exited).toBe(0);
  }, 30_000);

});
