// `still serve`: an OpenAI-compatible server over a model directory (src/serve/server.ts).
//
//   still serve --model checkpoints/qwen --adapter round1=runs/x/round-1/improve --port 8000
//   curl localhost:8000/v1/completions -d '{"model": "qwen", "prompt": "1+1=", "max_tokens": 8}'
//
// Loopback by default; --host 0.0.0.0 needs --api-key-env NAME (the key is read from that variable and
// never printed or written). SIGINT/SIGTERM stop taking requests, let in-flight ones finish (up to
// --drain-s), then exit.
import type { Command } from 'commander';
import { startServer } from '../serve/server.ts';
import { useBackend } from './backend_option.ts';
import { stderrNotice } from './output.ts';
import { intFlag, numFlag } from './stage_options.ts';

interface ServeFlags {
  model: string;
  name?: string;
  adapter: string[];
  host: string;
  port: number;
  apiKeyEnv?: string;
  maxBatch: number;
  maxLen?: number;
  maxQueue: number;
  maxBodyMb: number;
  drainS: number;
}

/** --api-key-env NAME: the key in that variable (it must be set and non-empty). */
export function apiKeyFromEnv(name: string | undefined): string | null {
  if (name === undefined) return null;
  const key = process.env[name];
  if (!key) throw new Error(`--api-key-env ${name}: the environment variable ${name} is not set (or empty)`);
  return key;
}

function adapterFlag(v: string, acc: string[]): string[] {
  if (!/^[^=]+=.+$/.test(v)) throw new Error(`--adapter expects NAME=DIR, got '${v}'`);
  return [...acc, v];
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a model over the OpenAI-compatible API (completions, chat, streaming, LoRA adapters, /metrics)')
    .requiredOption('--model <dir>', 'HF model directory (with tokenizer.json)')
    .option('--name <name>', 'the model name requests use (default: the directory\'s name)')
    .option('--adapter <name=dir>', 'a PEFT LoRA adapter served as model NAME (repeatable)', adapterFlag, [])
    .option('--host <addr>', 'address to listen on; other than loopback needs --api-key-env', '127.0.0.1')
    .option('--port <n>', 'port', intFlag('--port', 0), 8000)
    .option('--api-key-env <NAME>', 'require the key in environment variable NAME as a bearer token on /v1/*')
    .option('--max-batch <n>', 'sequences decoded together', intFlag('--max-batch', 1), 16)
    .option('--max-len <n>', 'positions per sequence, prompt included (default: the model\'s context)', intFlag('--max-len', 2))
    .option('--max-queue <n>', 'requests waiting for a slot before new ones get 429', intFlag('--max-queue', 1), 256)
    .option('--max-body-mb <mb>', 'larger request bodies get 413', numFlag('--max-body-mb'), 16)
    .option('--drain-s <s>', 'on SIGINT/SIGTERM, seconds in-flight requests may take to finish', numFlag('--drain-s'), 30)
    .action(async function (this: Command, o: ServeFlags) {
      const backend = useBackend(this);
      const adapters = Object.fromEntries(o.adapter.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
      const server = await startServer({
        modelDir: o.model, name: o.name, adapters, host: o.host, port: o.port, apiKey: apiKeyFromEnv(o.apiKeyEnv),
        maxBatch: o.maxBatch, maxLen: o.maxLen, maxQueue: o.maxQueue, maxBodyBytes: Math.round(o.maxBodyMb * 2 ** 20), notice: stderrNotice,
      });
      stderrNotice(`serving ${server.engine.models().join(', ')} on the ${backend.name} backend at ${server.url}/v1 (max batch ${server.engine.generator.maxBatch}, context ${server.engine.maxLen})`);
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) process.exit(130);
          stopping = true;
          stderrNotice(`${signal}: draining (in-flight requests finish, up to ${o.drainS} s; send it again to exit now)`);
          void server.close({ drainMs: o.drainS * 1000 }).then(done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      stderrNotice('stopped');
    });
}
