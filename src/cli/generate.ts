// `still generate`: continue token-id prompts (greedy decoding with a KV cache).
import type { Command } from 'commander';
import { loadModel } from '../nn/load.ts';
import { greedyGenerate } from '../sample/greedy.ts';
import { useBackend } from './backend_option.ts';
import { readTokenRows } from './json_input.ts';
import { emitJson } from './output.ts';

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('generate continuations of token-id prompts')
    .requiredOption('--model <dir>', 'HF model directory')
    .requiredOption('--tokens <file>', 'JSON array of token-id prompt rows')
    .option('--max-new-tokens <n>', 'tokens to generate per row', (v) => parseInt(v, 10), 32)
    .option('--greedy', 'argmax decoding (the default until sampling options are given)', true)
    .option('--out <file>', 'write the JSON here instead of stdout')
    .action(function (this: Command, o: { model: string; tokens: string; maxNewTokens: number; out?: string }) {
      useBackend(this);
      const model = loadModel(o.model);
      const rows = readTokenRows(o.tokens);
      const sequences = greedyGenerate(model, rows, o.maxNewTokens, model.config.eosTokenIds);
      emitJson({ sequences }, o.out);
    });
}
