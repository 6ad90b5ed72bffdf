// LoRA + PEFT interop on the tiny-qwen2 fixture: loss and gradients against PEFT's reference, adapter
// save/load round trips, merge/unmerge, merged HF export, and the config checks that refuse what we
// do not compute identically.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadPeftAdapter, parsePeftConfig, savePeftAdapter } from '../src/io/peft.ts';
import { peftParamName, peftSavedName } from '../src/io/peft_names.ts';
import { loadModel } from '../src/nn/load.ts';
import { createLora } from '../src/nn/lora.ts';
import { mergeLora, unmergeLora } from '../src/nn/merge.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import { saveHfModel } from '../src/nn/save.ts';
import { noGrad } from '../src/tensor/autograd.ts';
import { ids } from '../src/tensor/ops.ts';
import { lossGradients } from '../src/train/grads.ts';
import { TrainRng } from '../src/tensor/rng.ts';

const DIR = 'fixtures/tiny-qwen2';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8'));
const rows: number[][] = ref.input_ids;
const tmp = mkdtempSync(join(tmpdir(), 'still-peft-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function logits(model: DecoderModel): Float32Array {
  return noGrad(() => model.forward(ids(rows.flat(), [rows.length, rows[0].length])).toArray()) as Float32Array;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** ‖a − b‖ / ‖b‖: the per-tensor relative error (elementwise ratios blow up on near-zero entries). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

describe('PEFT LoRA fixture parity', () => {
  const model = loadModel(DIR, { quiet: true });
  model.adapter = loadPeftAdapter(`${DIR}/lora`, model.config);

  it('reads r, alpha and all 7 projections of both layers', () => {
    expect(model.adapter!.config).toMatchObject({ r: 8, alpha: 16, dropout: 0 });
    expect(model.adapter!.scale).toBe(2);
    expect(model.adapter!.pairs.size).toBe(14);
  });

  it('loss within 1e-5 and every gradient within 1e-4 relative error of PEFT', () => {
    const { loss, grads } = lossGradients(model, rows, ref.lora.labels);
    expect(Math.abs(loss - ref.lora.loss)).toBeLessThan(1e-5);
    const refGrads = SafetensorsFile.open(`${DIR}/lora/reference_grads.safetensors`);
    expect([...grads.keys()].sort()).toEqual(refGrads.names().sort());
    let worst = 0;
    for (const [name, g] of grads) {
      expect(g.shape).toEqual(refGrads.info(name).shape);
      worst = Math.max(worst, relErr(g.data, refGrads.readF32(name)));
    }
    refGrads.close();
    expect(worst).toBeLessThan(1e-4);
    // Gradients are taken, then cleared: the adapter is left as it was.
    expect(model.adapter!.parameters().every((t) => t.grad === null)).toBe(true);
  });

  it('an adapter saved and loaded back gives identical logits, and its files use PEFT names', () => {
    const before = logits(model);
    const out = join(tmp, 'roundtrip');
    savePeftAdapter(out, model.adapter!, model.config, { baseModel: 'tiny-qwen2' });
    const file = SafetensorsFile.open(join(out, 'adapter_model.safetensors'));
    expect(file.names()).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight');
    file.close();
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, task_type: 'CAUSAL_LM', base_model_name_or_path: 'tiny-qwen2' });
    const again = loadModel(DIR, { quiet: true });
    again.adapter = loadPeftAdapter(out, again.config);
    expect(maxAbsDiff(logits(again), before)).toBe(0);
  });

  it('merged logits match adapter-on logits; unmerge restores the base exactly; merged export reloads', () => {
    const m = loadModel(DIR, { quiet: true });
    const base = logits(m);
    const baseQ = m.weight('model.layers.0.self_attn.q_proj.weight').toArray().slice();
    m.adapter = loadPeftAdapter(`${DIR}/lora`, m.config);
    const adapted = logits(m);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-2); // the adapter does change the model
    const adapter = mergeLora(m);
    expect(m.adapter).toBeNull();
    expect(maxAbsDiff(logits(m), adapted)).toBeLessThan(1e-5);

    const out = join(tmp, 'merged');
    saveHfModel(m, out, { copyFilesFrom: DIR });
    const reloaded = loadModel(out, { quiet: true });
    expect(maxAbsDiff(logits(reloaded), logits(m))).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float32');

    unmergeLora(m, adapter);
    m.adapter = null;
    expect(maxAbsDiff(m.weight('model.layers.0.self_attn.q_proj.weight').toArray(), baseQ)).toBeLessThan(1e-6);
    expect(maxAbsDiff(logits(m), base)).toBeLessThan(1e-5);
  });

  it('a fresh adapter (B = 0) leaves the logits of the base model unchanged', () => {
    const m = loadModel(DIR, { quiet: true });
    const base = logits(m);
    const rng = new TrainRng(3);
    m.adapter = createLora(m.config, { r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'down_proj'] }, () => rng.next());
    expect(m.adapter.pairs.size).toBe(4);
    const a = m.adapter.pairs.get('model.layers.0.self_attn.q_proj')!.a.toArray();
    expect(Math.max(...Array.from(a, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(64)); // kaiming-uniform bound
    expect(maxAbsDiff(logits(m), base)).toBe(0);
  });
});

describe('adapter_config.json checks', () => {
  const cfg = loadModel(DIR, { quiet: true }).config;
  const good = JSON.parse(readFileSync(`${DIR}/lora/adapter_config.json`, 'utf8'));

  it('refuses what it would compute differently, naming the field', () => {
    expect(() => parsePeftConfig({ ...good, use_dora: true }, cfg, 'a.json')).toThrow("a.json: field 'use_dora' is true: DoRA is not supported");
    expect(() => parsePeftConfig({ ...good, rank_pattern: { q_proj: 4 } }, cfg, 'a.json')).toThrow("field 'rank_pattern'");
    expect(() => parsePeftConfig({ ...good, bias: 'all' }, cfg, 'a.json')).toThrow("field 'bias' is \"all\"");
    expect(() => parsePeftConfig({ ...good, target_modules: ['q_proj', 'lm_head'] }, cfg, 'a.json')).toThrow('target_modules ["lm_head"] are not supported');
    expect(() => parsePeftConfig({ ...good, peft_type: 'IA3' }, cfg, 'a.json')).toThrow('peft_type "IA3" is not supported');
  });

  it('accepts a full-match regex and layers_to_transform, as PEFT does', () => {
    const spec = parsePeftConfig({ ...good, target_modules: '.*\\.(q_proj|v_proj)' }, cfg);
    expect(spec.modules).toEqual([
      'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj',
    ]);
    expect(parsePeftConfig({ ...good, layers_to_transform: [1] }, cfg).modules.every((m) => m.startsWith('model.layers.1.'))).toBe(true);
    expect(parsePeftConfig({ ...good, use_rslora: true }, cfg).lora.useRslora).toBe(true);
    expect(parsePeftConfig({ ...good, target_modules: 'all-linear' }, cfg).modules).toHaveLength(14);
  });

  it('names the tensor when the weights do not match the config', () => {
    const dir = join(tmp, 'bad');
    cpSync(`${DIR}/lora`, dir, { recursive: true });
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...good, r: 4 }));
    expect(() => loadPeftAdapter(dir, cfg)).toThrow(`tensor '${peftSavedName('model.layers.0.self_attn.q_proj', 'A')}' has shape [8,64], expected [4,64]`);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...good, target_modules: ['q_proj'] }));
    expect(() => loadPeftAdapter(dir, cfg)).toThrow("unexpected tensor 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight'");
    expect(peftParamName('model.layers.0.mlp.up_proj', 'B')).toBe('model.layers.0.mlp.up_proj.lora_B.default.weight');
  });
});
