// The flags that send a command's rollouts to an OpenAI-compatible server (`still eval`, `still explore
// --data`): --engine openai --base-url URL [--api-key-env NAME] [--served-model NAME] [--concurrency N].
// The key comes from the environment only (OPENAI_API_KEY, or the variable --api-key-env names).
import type { Command } from 'commander';
import { OpenAIClient, type OpenAIEngineOptions } from '../eval/remote_engine.ts';
import { intFlag, numFlag } from './stage_options.ts';

export interface EngineFlags {
  engine: string;
  baseUrl?: string;
  apiKeyEnv?: string;
  servedModel?: string;
  concurrency?: number;
  requestTimeoutS?: number;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('--engine <kind>', 'where rollouts are sampled: local (in-process) or openai (an OpenAI-compatible server: vLLM, SGLang, still serve)', 'local')
    .option('--base-url <url>', 'openai: the server, e.g. http://127.0.0.1:8000/v1')
    .option('--api-key-env <NAME>', 'openai: the environment variable holding the API key (default OPENAI_API_KEY, when set)')
    .option('--served-model <name>', 'openai: the model name on the server (default: the one model it lists)')
    .option('--concurrency <n>', 'openai: requests in flight at once (default 64)', intFlag('--concurrency', 1))
    .option('--request-timeout-s <s>', 'openai: seconds one request may take (default 1800)', numFlag('--request-timeout-s'));
}

/** The remote engine the flags name, or undefined for in-process sampling. */
export async function engineFromFlags(o: EngineFlags, adapter: string | undefined): Promise<OpenAIEngineOptions | undefined> {
  if (o.engine === 'local') {
    for (const [flag, v] of [['--base-url', o.baseUrl], ['--api-key-env', o.apiKeyEnv], ['--served-model', o.servedModel], ['--concurrency', o.concurrency], ['--request-timeout-s', o.requestTimeoutS]] as const) {
      if (v !== undefined) throw new Error(`${flag} is for --engine openai (rollouts on a server); this run samples in-process`);
    }
    return undefined;
  }
  if (o.engine !== 'openai') throw new Error(`--engine must be local or openai, got '${o.engine}'`);
  if (!o.baseUrl) throw new Error('--engine openai needs --base-url URL (the server, e.g. http://127.0.0.1:8000/v1)');
  if (adapter !== undefined) {
    throw new Error('--adapter applies to in-process sampling; with --engine openai, load the adapter into the server (still serve --adapter NAME=DIR, or vLLM\'s /v1/load_lora_adapter) and pass --served-model NAME');
  }
  let apiKey: string | null = process.env.OPENAI_API_KEY || null;
  if (o.apiKeyEnv !== undefined) {
    apiKey = process.env[o.apiKeyEnv] || null;
    if (!apiKey) throw new Error(`--api-key-env ${o.apiKeyEnv}: the environment variable ${o.apiKeyEnv} is not set (or empty)`);
  }
  const engine: OpenAIEngineOptions = { baseUrl: o.baseUrl, apiKey, model: o.servedModel ?? '', concurrency: o.concurrency ?? 64, timeoutS: o.requestTimeoutS };
  // Asked now, so a wrong address or name fails before the command claims its output.
  const models = await new OpenAIClient({ ...engine, maxTries: 3 }).models();
  if (!engine.model) {
    if (models.length !== 1) throw new Error(`${o.baseUrl} serves ${models.length} models (${models.join(', ')}); name one with --served-model`);
    engine.model = models[0]!;
  } else if (!models.includes(engine.model)) {
    throw new Error(`--served-model '${engine.model}' is not served at ${o.baseUrl} (it serves ${models.join(', ') || 'nothing'})`);
  }
  return engine;
}
