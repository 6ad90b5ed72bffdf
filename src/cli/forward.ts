// `still forward`: logits (and the HF-style shifted loss) of a model on given token ids.
import type { Command } from 'commander';
import { loadModel } from '../nn/load.ts';
import { shiftedLoss } from '../nn/loss.ts';
import { noGrad } from '../tensor/autograd.ts';
import { ids } from '../tensor/ops.ts';
import { useBackend } from './backend_option.ts';
import { readTokenRows } from './json_input.ts';
import { emitJson } from './output.ts';

export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('run a forward pass: logits, and the loss when labels are given')
    .requiredOption('--model <dir>', 'HF model directory (config.json + safetensors)')
    .requiredOption('--tokens <file>', 'JSON array of token-id rows (batch × seq)')
    .option('--labels <file>', 'JSON labels, same shape as tokens, -100 = ignored (shifted inside, as HF)')
    .option('--out <file>', 'write the JSON here instead of stdout')
    .action(function (this: Command, o: { model: string; tokens: string; labels?: string; out?: string }) {
      useBackend(this);
      const model = loadModel(o.model);
      const rows = readTokenRows(o.tokens);
      const labels = o.labels ? readTokenRows(o.labels, 'labels') : null;
      if (labels && (labels.length !== rows.length || labels[0].length !== rows[0].length)) {
        throw new Error(`${o.labels}: labels are ${labels.length}×${labels[0].length}, tokens are ${rows.length}×${rows[0].length}`);
      }
      const result = noGrad(() => {
        const input = ids(rows.flat(), [rows.length, rows[0].length]);
        const logits = model.forward(input);
        const loss = labels ? shiftedLoss(logits, labels).item() : null;
        return { logits: logits.view([rows.length, rows[0].length, -1]).toNested(), loss };
      });
      emitJson(result, o.out);
    });
}
