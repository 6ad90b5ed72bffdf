// The CLI around the trainer (run in-process; test/train_sft.test.ts spawns the real binary): `still imitate` on STILL-2 rows with a char-level toy model, `still sft
// --merge-to`, and `still forward --adapter --grads` against PEFT's reference gradients.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadPeftAdapter } from '../src/io/peft.ts';
import { initModel, loadModel } from '../src/nn/load.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import { saveHfModel } from '../src/nn/save.ts';
import { CharTokenizer } from '../src/tasks/char_tokenizer.ts';
import { noGrad } from '../src/tensor/autograd.ts';
import { ids } from '../src/tensor/ops.ts';
import { TrainRng } from '../src/tensor/rng.ts';
import { runStill, toyConfig } from './train_helpers.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'still-train-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function logits(model: DecoderModel, rows: number[][]): Float32Array {
  return noGrad(() => model.forward(ids(rows.flat(), [rows.length, rows[0].length])).toArray()) as Float32Array;
}

describe('still imitate', () => {
  it('trains a char-level toy model on STILL-2 rows (paper prompt + question → thought + solution) and saves an HF dir', async () => {
    const char = new CharTokenizer();
    const cfg = { ...toyConfig(char.vocabSize), maxPositionEmbeddings: 4096 };
    const rng = new TrainRng(1);
    const base = join(tmp, 'toy');
    saveHfModel(initModel(cfg, () => rng.next() - 0.5), base);
    const data = join(tmp, 'still2.jsonl');
    const row = (q: string, a: string) => ({
      question: q, domain: 'math',
      combined_text: `<|begin_of_thought|>\n\n${q} is easy.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\\boxed{${a}}<|end_of_solution|>`,
    });
    writeFileSync(data, [row('1+1', '2'), row('2+2', '4'), row('3+3', '6')].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(tmp, 'imitated');
    const log = join(tmp, 'imitate.jsonl');
    const r = await runStill(['imitate', '--model', base, '--data', data, '--tokenizer', 'char', '--full', '--steps', '2', '--grad-accum', '1',
      '--eval-split', '0.34', '--out', out, '--log', log]);
    expect(r.stderr).toContain('3 rows (3 still2)');
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ status: 'done', step: 2, model: out });
    expect(summary.eval_loss).toBeGreaterThan(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // imitate defaults: warmup 3% of 2 steps rounds to 0, then cosine from 1e-5 (full fine-tuning).
    expect(lines).toHaveLength(2);
    expect(lines[0].lr).toBe(1e-5);
    expect(lines[1].lr).toBeCloseTo(5e-6, 15);
    const trained = loadModel(out, { quiet: true });
    expect(trained.config.vocabSize).toBe(char.vocabSize);
    // A prompt-only forward differs from the base: the weights were really updated and saved.
    const prompt = [char.encode('1+1 is')];
    const before = logits(loadModel(base, { quiet: true }), prompt);
    const after = logits(trained, prompt);
    expect(after.some((v, i) => v !== before[i])).toBe(true);
  }, 60_000);
});

describe('still sft --merge-to and still forward --grads', () => {
  it('the merged export computes what the adapter does', async () => {
    const data = join(tmp, 'rows.jsonl');
    writeFileSync(data, (ref.input_ids as number[][]).map((r, i) => JSON.stringify({ input_ids: r, labels: ref.lora.labels[i] })).join('\n') + '\n');
    const out = join(tmp, 'lora-out');
    const merged = join(tmp, 'merged');
    const r = await runStill(['sft', '--model', DIR, '--data', data, '--lora-r', '4', '--lora-targets', 'q,v,down', '--steps', '3', '--lr', '1e-2',
      '--out', out, '--merge-to', merged, '--quiet']);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'done', adapter: out, merged });
    const adapted = loadModel(DIR, { quiet: true });
    adapted.adapter = loadPeftAdapter(out, adapted.config);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] });
    const a = logits(adapted, ref.input_ids);
    const b = logits(loadModel(merged, { quiet: true }), ref.input_ids);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThan(1e-5);
    expect(a.some((v, i) => v !== logits(loadModel(DIR, { quiet: true }), ref.input_ids)[i])).toBe(true);
  }, 60_000);

  it('forward --adapter --grads writes PEFT-named gradients equal to the reference', async () => {
    const tokens = join(tmp, 'tokens.json');
    const labels = join(tmp, 'labels.json');
    writeFileSync(tokens, JSON.stringify(ref.input_ids));
    writeFileSync(labels, JSON.stringify(ref.lora.labels));
    const grads = join(tmp, 'grads.safetensors');
    const r = await runStill(['forward', '--model', DIR, '--adapter', `${DIR}/lora`, '--tokens', tokens, '--labels', labels, '--grads', grads, '--out', join(tmp, 'f.json')]);
    // PEFT's adapter records no still-ts base fingerprint: one line says it is loaded unchecked, nothing else.
    expect(r.stderr).toBe(`still: ${DIR}/lora: the adapter does not record which base it was trained on (made by another tool?); loading it onto ${DIR} unchecked\n`);
    expect(Math.abs(JSON.parse(readFileSync(join(tmp, 'f.json'), 'utf8')).loss - ref.lora.loss)).toBeLessThan(1e-5);
    const got = SafetensorsFile.open(grads);
    const want = SafetensorsFile.open(`${DIR}/lora/reference_grads.safetensors`);
    expect(got.names().sort()).toEqual(want.names().sort());
    for (const name of want.names()) {
      const g = got.readF32(name);
      const w = want.readF32(name);
      let num = 0;
      let den = 0;
      w.forEach((x, i) => {
        num += (g[i] - x) ** 2;
        den += x * x;
      });
      expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
    }
    // Without an adapter every weight is trainable: gradients under the HF weight names.
    const fullGrads = join(tmp, 'full_grads.safetensors');
    await runStill(['forward', '--model', DIR, '--tokens', tokens, '--labels', labels, '--grads', fullGrads, '--out', join(tmp, 'f2.json')]);
    const all = SafetensorsFile.open(fullGrads);
    const model = loadModel(DIR, { quiet: true });
    expect(all.names().sort()).toEqual([...model.weights.keys()].sort());
    for (const [name, w] of model.weights) expect(all.info(name).shape).toEqual([...w.shape]);
    expect(all.readF32('model.embed_tokens.weight').some((v) => v !== 0)).toBe(true);
    await expect(runStill(['forward', '--model', DIR, '--tokens', tokens, '--grads', fullGrads])).rejects.toThrow('--grads needs --labels');
  }, 60_000);
});
