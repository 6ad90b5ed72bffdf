// `still demo`: the main job. Until the STILL loop lands, it runs the tiny HF fixture end to end:
// load, forward pass with a loss, and greedy generation with a KV cache.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { loadModel } from '../nn/load.ts';
import { shiftedLoss } from '../nn/loss.ts';
import { greedyGenerate } from '../sample/greedy.ts';
import { noGrad } from '../tensor/autograd.ts';
import { ids } from '../tensor/ops.ts';
import { useBackend } from './backend_option.ts';

const FIXTURE = 'fixtures/tiny-qwen2';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the main job on the default backend')
    .action(function (this: Command) {
      const backend = useBackend(this);
      const ref = JSON.parse(readFileSync(`${FIXTURE}/reference.json`, 'utf8'));
      const model = loadModel(FIXTURE, { quiet: true });
      const rows: number[][] = ref.input_ids;
      const t0 = performance.now();
      const loss = noGrad(() => shiftedLoss(model.forward(ids(rows.flat(), [rows.length, rows[0].length])), ref.lora.labels).item());
      const out = greedyGenerate(model, ref.greedy_prompt, 24);
      const same = JSON.stringify(out) === JSON.stringify(ref.greedy_output);
      console.log(`backend ${backend.name}: ${FIXTURE} loss ${loss.toFixed(4)}, greedy 24 tokens ${same ? 'match' : 'DIFFER from'} HF (${(performance.now() - t0).toFixed(0)} ms)`);
    });
}
