// What the HTTP path costs, on the project's tiny math model, with `still serve` in its own process:
// 1. explore: the same explore (problems × k rollouts, graded, journaled) in-process and with
//    --engine openai --concurrency 64 (the client grades while the server samples: two processes);
// 2. sampling alone: the same requests through Generator.generate() in-process, and as 64 concurrent
//    streaming clients (SSE, usage counted) against the server.
// Generated tokens per second, runs alternated (the shared 2-core box is noisy), the best of each kept.
// The goal is ≤ 10% overhead.
// Run: npx tsx bench/serve_overhead.ts [--problems 64] [--k 4] [--max-new-tokens 180] [--max-batch 64] [--reps 2] [--model DIR] [--backend cpu|cuda]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, type BackendChoice } from '../src/backends/select.ts';
import { exploreText, loadExploreData } from '../src/loop/explore_text.ts';
import type { StageLog } from '../src/loop/progress.ts';
import { TextPool } from '../src/loop/text_pool.ts';
import { loadHfTokenizer } from '../src/io/hf_tokenizer.ts';
import { promptIds } from '../src/eval/prompt.ts';
import { loadModel } from '../src/nn/load.ts';
import { Generator } from '../src/sample/generator.ts';
import { generatorOptions } from '../src/sample/sampling.ts';
import type { GenerationRequest } from '../src/sample/request.ts';
import { setBackend } from '../src/tensor/context.ts';

const arg = (name: string, dflt: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : dflt);
const MODEL = arg('--model', 'examples/tiny-math/model');
const PROBLEMS = Number(arg('--problems', '64'));
const K = Number(arg('--k', '4'));
const MAX_NEW = Number(arg('--max-new-tokens', '180'));
const MAX_BATCH = Number(arg('--max-batch', '64'));
const REPS = Number(arg('--reps', '2'));
const BACKEND = arg('--backend', 'cpu') as BackendChoice;
const CONCURRENCY = 64;

const backend = openBackend(BACKEND);
setBackend(backend);
const problems = loadExploreData('examples/tiny-math/explore.jsonl', null, PROBLEMS);
const tmp = mkdtempSync(join(tmpdir(), 'still-serve-bench-'));
const quiet: StageLog = { quiet: true, line: () => {}, bar: () => ({ update: () => {}, stop: () => {} }) };

async function serve(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/still.js', '--backend', BACKEND, 'serve', '--model', MODEL, '--name', 'bench', '--port', '0', '--max-batch', String(MAX_BATCH), '--max-queue', '1024'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((ok, fail) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = err.match(/at (http:\/\/127\.0\.0\.1:\d+)\/v1/);
      if (m) ok(m[1]!);
    });
    child.on('exit', (code) => fail(new Error(`still serve exited (${code}): ${err}`)));
  });
  child.on('exit', (code, signal) => signal !== 'SIGKILL' && console.error(`still serve exited (${code ?? signal}): ${err.slice(-2000)}`));
  return { child, url };
}

let run = 0;
async function explore(url: string | null): Promise<{ tokens: number; seconds: number; rollouts: number }> {
  const journal = join(tmp, `run-${run++}.partial.jsonl`);
  const t0 = performance.now();
  const r = await exploreText({
    model: MODEL, problems, prompt: 'plain', pool: new TextPool(1), round: 1, journal, log: quiet,
    sampling: { k: K, temperature: 0.7, topP: 1, maxNewTokens: MAX_NEW, seed: 1, maxBatch: MAX_BATCH },
    ...(url ? { engine: { baseUrl: url, model: 'bench', concurrency: CONCURRENCY } } : {}),
  });
  rmSync(journal, { force: true });
  return { tokens: r.tokens, seconds: (performance.now() - t0) / 1000, rollouts: r.rollouts };
}

// Sampling alone: each problem's prompt, k samples, the explore's settings.
const tok = loadHfTokenizer(MODEL);
const requests: GenerationRequest[] = problems.map((p, i) => ({
  prompt: promptIds(tok, p.problem, 'plain'), n: K, seedIndex: i, params: { temperature: 0.7, maxNewTokens: MAX_NEW, seed: 1 },
}));
const model = loadModel(MODEL, { quiet: true });

function generateInProcess(): { tokens: number; seconds: number } {
  const longest = Math.max(...requests.map((r) => r.prompt.length));
  const gen = new Generator(model, { ...generatorOptions(model.config, { maxBatch: MAX_BATCH, maxNewTokens: MAX_NEW, n: K, stop: [] }, tok), maxLen: Math.min(longest + MAX_NEW, model.config.maxPositionEmbeddings) });
  const t0 = performance.now();
  const results = gen.generate(requests);
  const seconds = (performance.now() - t0) / 1000;
  gen.dispose();
  return { tokens: results.reduce((s, r) => s + r.tokens.length, 0), seconds };
}

/** 64 clients, each streaming one request at a time until none is left; tokens as usage reports them. */
async function generateStreamed(url: string): Promise<{ tokens: number; seconds: number }> {
  let next = 0;
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests.length) {
      const i = next++;
      const r = requests[i]!;
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: 'bench', prompt: r.prompt, n: K, temperature: 0.7, max_tokens: r.params!.maxNewTokens, seed: 1, seed_index: i, stream: true, stream_options: { include_usage: true } }),
      });
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {'));
      tokens += JSON.parse(events.at(-1)!.slice(6)).usage.completion_tokens;
    }
  }));
  return { tokens, seconds: (performance.now() - t0) / 1000 };
}

const server = await serve();
try {
  // Sampling first, before the explore below loads the grader (a large CAS) into this process, so both
  // sides of the sampling comparison decode in a process holding only the model.
  const genLocal: number[] = [];
  const genRemote: number[] = [];
  let genTokens = 0;
  generateInProcess();
  await generateStreamed(server.url);
  for (let i = 0; i < REPS; i++) {
    const a = generateInProcess();
    const b = await generateStreamed(server.url);
    if (a.tokens !== b.tokens) console.error(`note: in-process generated ${a.tokens} tokens, streamed ${b.tokens}`);
    genTokens = a.tokens;
    genLocal.push(a.tokens / a.seconds);
    genRemote.push(b.tokens / b.seconds);
    console.error(`sampling rep ${i + 1}: in-process ${(a.tokens / a.seconds).toFixed(0)} tok/s, 64 streams ${(b.tokens / b.seconds).toFixed(0)} tok/s`);
  }
  // Warm both paths once (the grader's CAS loads on first use; the server's first requests JIT).
  await explore(null);
  await explore(server.url);
  const local: number[] = [];
  const remote: number[] = [];
  let tokens = 0;
  for (let i = 0; i < REPS; i++) {
    const a = await explore(null);
    const b = await explore(server.url);
    if (a.tokens !== b.tokens) console.error(`note: in-process generated ${a.tokens} tokens, remote ${b.tokens}`);
    tokens = a.tokens;
    local.push(a.tokens / a.seconds);
    remote.push(b.tokens / b.seconds);
    console.error(`rep ${i + 1}: in-process ${(a.tokens / a.seconds).toFixed(0)} tok/s (${a.seconds.toFixed(1)} s), through still serve ${(b.tokens / b.seconds).toFixed(0)} tok/s (${b.seconds.toFixed(1)} s)`);
  }
  const best = (xs: number[]) => Math.max(...xs);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  console.log(`\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}, ${backend.name} backend, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`${MODEL}: ${PROBLEMS} problems × k=${K}, up to ${MAX_NEW} new tokens (${tokens} generated), max batch ${MAX_BATCH}, ${CONCURRENCY} requests in flight`);
  console.log('| path | tok/s (best of ' + REPS + ') | all runs |');
  console.log('| --- | ---: | --- |');
  console.log(`| in-process | ${best(local).toFixed(0)} | ${local.map((x) => x.toFixed(0)).join(', ')} |`);
  console.log(`| still serve, HTTP | ${best(remote).toFixed(0)} | ${remote.map((x) => x.toFixed(0)).join(', ')} |`);
  console.log(`explore: HTTP path / in-process: best ${(best(remote) / best(local)).toFixed(3)}, median ${(median(remote) / median(local)).toFixed(3)}`);
  console.log(`| sampling alone (${genTokens} tokens) | | |`);
  console.log(`| Generator.generate() in-process | ${best(genLocal).toFixed(0)} | ${genLocal.map((x) => x.toFixed(0)).join(', ')} |`);
  console.log(`| 64 streaming clients → still serve | ${best(genRemote).toFixed(0)} | ${genRemote.map((x) => x.toFixed(0)).join(', ')} |`);
  console.log(`sampling: HTTP path / in-process: best ${(best(genRemote) / best(genLocal)).toFixed(3)}, median ${(median(genRemote) / median(genLocal)).toFixed(3)}`);
} finally {
  server.child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
