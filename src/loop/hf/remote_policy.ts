// A STILL-2 run whose explore and eval stages sample on an OpenAI-compatible server (config "engine"):
// before a stage samples with a policy, the policy must be what the server serves. The base needs
// nothing; a LoRA adapter (each round's imitate/improve/DPO output) is loaded through vLLM's runtime
// endpoint /v1/load_lora_adapter, under a name made from its path, and the one loaded before it is unloaded.
// A server that cannot take it stops the run with a message that says why and what to check.
import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { OpenAIClient, RemoteError, type OpenAIEngineOptions } from '../../eval/remote_engine.ts';
import type { StageLog } from '../progress.ts';
import type { HfEngineConfig, HfExperimentConfig } from './config.ts';
import type { Policy } from './stages.ts';

/** The adapter's name on the server: the same path always gets the same name (a rerun reloads it). */
export function adapterServedName(adapterDir: string): string {
  return `still-${createHash('sha256').update(resolve(adapterDir)).digest('hex').slice(0, 12)}`;
}

export class RemotePolicies {
  private loaded: string | null = null;

  constructor(private readonly cfg: HfEngineConfig, private readonly log: StageLog) {}

  /** The engine options that sample `policy` on the server, after loading its adapter there if needed. */
  async use(policy: Policy): Promise<OpenAIEngineOptions> {
    const e = this.cfg;
    const apiKey = process.env[e.apiKeyEnv] || null;
    const base: OpenAIEngineOptions = { baseUrl: e.baseUrl, apiKey, model: e.model, concurrency: e.concurrency, timeoutS: e.timeoutS };
    if (policy.adapter === null) return base;
    const name = adapterServedName(policy.adapter);
    if (this.loaded === name) return { ...base, model: name };
    const client = new OpenAIClient(base);
    const path = resolve(policy.adapter);
    try {
      // Unload first: after a restart of this run the server may hold it already, from before.
      await client.unloadAdapter(name);
      await client.loadAdapter(name, path);
    } catch (err) {
      const why = err instanceof RemoteError ? err.message : String(err);
      throw new Error(`engine: the server at ${e.baseUrl} could not load the adapter ${path} as '${name}' (${why}). ` +
        'The path must be one the server can read (the same path on its machine, e.g. a shared disk), and the server must take runtime LoRA loads ' +
        '(vLLM: --enable-lora, a --max-lora-rank at least the adapter\'s r, and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; still serve always does)', { cause: err });
    }
    if (this.loaded !== null) await client.unloadAdapter(this.loaded);
    this.log.line(`engine: ${e.baseUrl} serves ${path} as '${name}'`);
    this.loaded = name;
    return { ...base, model: name };
  }
}

/** Before anything runs: the server answers and serves the base model under the configured name. */
export async function checkEngine(e: HfEngineConfig): Promise<void> {
  const client = new OpenAIClient({ baseUrl: e.baseUrl, apiKey: process.env[e.apiKeyEnv] || null, model: e.model, concurrency: e.concurrency, timeoutS: e.timeoutS, maxTries: 3 });
  let models: string[];
  try {
    models = await client.models();
  } catch (err) {
    throw new Error(`engine.baseUrl: no OpenAI-compatible server answers at ${e.baseUrl} (${(err as Error).message}); start it first (e.g. still serve --model DIR, or vllm serve DIR --enable-lora)`, { cause: err });
  }
  if (!models.includes(e.model)) throw new Error(`engine.model: '${e.model}' is not served at ${e.baseUrl} (it serves ${models.join(', ') || 'nothing'})`);
}

/** The engine block `still run --engine openai …` stands for, checked against the config as its reader does. */
export function engineFromOptions(cfg: HfExperimentConfig, o: { baseUrl?: string; apiKeyEnv?: string; model?: string; concurrency?: number; timeoutS?: number }): HfEngineConfig {
  if (!o.baseUrl || !/^https?:\/\//.test(o.baseUrl)) throw new Error(`--engine openai needs --base-url URL (e.g. http://127.0.0.1:8000/v1), got ${JSON.stringify(o.baseUrl ?? null)}`);
  for (const [field, mode] of [['imitate.mode', cfg.imitate.mode], ['improve.mode', cfg.improve.mode]] as const) {
    if (mode === 'full') throw new Error(`--engine openai: ${field} is 'full', but a server serves one base model and takes each round's policy as a runtime LoRA adapter; use 'lora'`);
  }
  return {
    kind: 'openai', baseUrl: o.baseUrl, apiKeyEnv: o.apiKeyEnv ?? 'OPENAI_API_KEY', model: o.model ?? basename(cfg.model),
    concurrency: o.concurrency ?? 64, timeoutS: o.timeoutS ?? 1800,
  };
}
