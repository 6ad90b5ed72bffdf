// `still run` on an HF checkpoint with "engine": explore and eval sample on a `still serve` (real HTTP on
// loopback) while training stays local. Each round's LoRA adapter is loaded into the server through
// /v1/load_lora_adapter before the policy samples, and what the server samples equals in-process
// sampling of the same adapter; a server that cannot take an adapter stops the run with a clear message.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import { runEval } from '../src/eval/run.ts';
import { parseHfExperimentConfig } from '../src/loop/hf/config.ts';
import { runHfExperiment } from '../src/loop/hf/experiment.ts';
import { adapterServedName, RemotePolicies } from '../src/loop/hf/remote_policy.ts';
import { stageLog } from '../src/loop/progress.ts';
import { startServer, type StillServer } from '../src/serve/server.ts';
import { setBackend } from '../src/tensor/context.ts';
import { writeJsonl } from './hf_helpers.ts';
import { readRows } from './stage_helpers.ts';

const CONFIG = 'examples/still2-tiny.json';
const MODEL = 'examples/tiny-math/model';
const tmp = mkdtempSync(join(tmpdir(), 'still-serve-run-'));
let server: StillServer;
beforeAll(async () => {
  setBackend(new CpuBackend());
  server = await startServer({ modelDir: MODEL, name: 'tiny-math', port: 0, maxBatch: 16 });
}, 30_000);
afterAll(async () => {
  await server.close({ drainMs: 1000 });
  rmSync(tmp, { recursive: true, force: true });
});

const provenance = { commit: null, version: 'test', backend: 'cpu', device: 'cpu', node: process.versions.node };

/** A short LoRA run of the tiny math model, with its explore and eval on `url`. */
function config(url: string) {
  const json = JSON.parse(readFileSync(CONFIG, 'utf8'));
  const distilled = writeJsonl(join(tmp, 'distilled.jsonl'), readRows('examples/tiny-math/distilled.jsonl').slice(0, 64));
  const test = readRows('examples/tiny-math/test.jsonl');
  const bench = writeJsonl(join(tmp, 'short.jsonl'), [2, 4].flatMap((level) => test.filter((r) => r.level === level).slice(0, 4)));
  return parseHfExperimentConfig({
    ...json,
    imitate: { ...json.imitate, data: [distilled], mode: 'lora', lr: 3e-3, epochs: 1, lora: { r: 4 } },
    explore: { ...json.explore, problemsPerRound: 4, k: 3 },
    improve: { ...json.improve, mode: 'lora', rounds: 1, epochs: 1 },
    eval: { ...json.eval, benches: [bench], hard: { bench: 'short', level: 4 } },
    engine: { baseUrl: `${url}/v1`, model: 'tiny-math', concurrency: 4 },
  }, CONFIG);
}

describe('still run with a remote engine', () => {
  it('loads each round\'s adapter into the server, and its samples there equal in-process ones', async () => {
    const cfg = config(server.url);
    const out = join(tmp, 'run');
    const lines: string[] = [];
    const log = { ...stageLog(true), line: (l: string) => lines.push(l) };
    const report = await runHfExperiment(cfg, { outDir: out, log, provenance });
    expect(report.rounds.map((r) => r.round)).toEqual([0, 1]);
    const round1 = report.rounds[1]!;
    expect(round1.explore).toMatchObject({ problems: 4, rollouts: 12 });
    // Round 0's adapter was loaded for round 0's eval and round 1's explore, then replaced by round 1's.
    const adapters = report.rounds.map((r) => r.policy.adapter!);
    expect(lines.filter((l) => l.startsWith('engine: '))).toEqual(adapters.map((a) => `engine: ${server.url}/v1 serves ${a} as '${adapterServedName(a)}'`));
    expect(server.engine.models()).toEqual(['tiny-math', adapterServedName(adapters[1]!)]);

    // The server's eval of round 1 equals an in-process eval of the same adapter.
    const remote = readRows(join(out, 'round-1', 'eval', 'short', 'results.jsonl'));
    const local = await runEval({
      model: cfg.model, adapter: adapters[1]!, bench: cfg.eval.benches[0]!.source, prompt: 'plain', out: join(tmp, 'local-eval'),
      sampling: { maxNewTokens: cfg.eval.maxNewTokens, n: 1, temperature: 0, topP: 1, seed: cfg.seed, stop: [], maxBatch: 16 },
    });
    expect(remote.map((r) => r.text)).toEqual(local.rollouts.map((r) => r.text));
    expect(remote.some((r) => r.correct)).toBe(true);
  }, 120_000);

  it('stops with a clear message when the server cannot take the adapter', async () => {
    // What the run calls before a stage samples: an adapter made for another base is refused by the server.
    const policies = new RemotePolicies(config(server.url).engine!, stageLog(true));
    await expect(policies.use({ model: MODEL, adapter: 'fixtures/tiny-qwen2/lora' }))
      .rejects.toThrow(/engine: the server at .* could not load the adapter .*fixtures\/tiny-qwen2\/lora as 'still-[0-9a-f]{12}' \(.*HTTP 400: lora_path .*\)\. The path must be one the server can read/);
  }, 60_000);

  it('reads the engine block field by field: full-model modes and a key in the config are refused', () => {
    const json = JSON.parse(readFileSync(CONFIG, 'utf8'));
    const engine = { baseUrl: 'http://127.0.0.1:8000/v1' };
    expect(() => parseHfExperimentConfig({ ...json, engine }, CONFIG)).toThrow(/imitate\.mode.*lora when "engine" is set/);
    const lora = { ...json, imitate: { ...json.imitate, mode: 'lora' } };
    expect(parseHfExperimentConfig({ ...lora, engine }, CONFIG).engine).toEqual({
      kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', apiKeyEnv: 'OPENAI_API_KEY', model: 'model', concurrency: 64, timeoutS: 1800,
    });
    expect(() => parseHfExperimentConfig({ ...lora, engine: { ...engine, apiKey: 'sk-1' } }, CONFIG)).toThrow(/engine\.apiKey.*name the environment variable/);
    expect(() => parseHfExperimentConfig({ ...lora, engine: { baseUrl: 'localhost:8000' } }, CONFIG)).toThrow(/engine\.baseUrl.*an http\(s\) URL/);
    expect(() => parseHfExperimentConfig({ ...lora, engine: { ...engine, concurency: 4 } }, CONFIG)).toThrow(/concurency/);
    expect(parseHfExperimentConfig(lora, CONFIG).engine).toBeNull();
  });
});
