// `still forward`: logits (and the HF-style shifted loss) of a model on given token ids.
import type { Command } from 'commander';
import { loadAdapterFor } from '../io/adapter_base.ts';
import { loadModel } from '../nn/load.ts';
import { shiftedLoss } from '../nn/loss.ts';
import { noGrad } from '../tensor/autograd.ts';
import { ids } from '../tensor/ops.ts';
import { lossGradients, writeGradients } from '../train/grads.ts';
import { useBackend } from './backend_option.ts';
import { readTokenRows } from './json_input.ts';
import { claimOutputFile } from '../io/output_policy.ts';
import { emitJson, stderrNotice } from './output.ts';

export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('run a forward pass: logits, and the loss when labels are given')
    .requiredOption('--model <dir>', 'HF model directory (config.json + safetensors)')
    .requiredOption('--tokens <file>', 'JSON array of token-id rows (batch × seq)')
    .option('--labels <file>', 'JSON labels, same shape as tokens, -100 = ignored (shifted inside, as HF)')
    .option('--out <file>', 'write the JSON here instead of stdout')
    .option('--adapter <dir>', 'apply this PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)')
    .option('--grads <file>', 'with --labels: write the loss gradient of every trainable tensor here (safetensors; LoRA under PEFT names without base_model.model., else every weight)')
    .option('--overwrite', 'replace an existing --out or --grads')
    .option('--force', 'apply --adapter even if it records another base model')
    .action(function (this: Command, o: { model: string; tokens: string; labels?: string; out?: string; adapter?: string; grads?: string; overwrite?: boolean; force?: boolean }) {
      if (o.grads && !o.labels) throw new Error('--grads needs --labels (the gradient is of the labelled loss)');
      if (o.out) claimOutputFile(o.out, { overwrite: o.overwrite });
      if (o.grads) claimOutputFile(o.grads, { flag: '--grads', overwrite: o.overwrite });
      useBackend(this);
      const model = loadModel(o.model);
      if (o.adapter) model.adapter = loadAdapterFor(o.adapter, o.model, model.config, { force: o.force, notice: stderrNotice });
      const rows = readTokenRows(o.tokens);
      const labels = o.labels ? readTokenRows(o.labels, 'labels') : null;
      if (labels && (labels.length !== rows.length || labels[0].length !== rows[0].length)) {
        throw new Error(`${o.labels}: labels are ${labels.length}×${labels[0].length}, tokens are ${rows.length}×${rows[0].length}`);
      }
      if (o.grads) {
        const { loss, logits, grads } = lossGradients(model, rows, labels!);
        writeGradients(o.grads, grads);
        emitJson({ logits, loss }, o.out);
        return;
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
