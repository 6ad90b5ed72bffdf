// Which base model an adapter belongs to. A LoRA adapter trained on one base fits the shapes of any model of
// the same architecture, so merging it into another base (Qwen2.5-Math-1.5B vs Qwen2.5-1.5B-Instruct) runs
// without an error and silently yields nonsense. An adapter therefore records a fingerprint of its base:
// a hash of config.json, every tensor's name, dtype and shape, and a few bytes sampled from each tensor.
// It takes milliseconds even for a 7B checkpoint (it reads kilobytes), and two different trainings of one
// architecture differ in the sampled bytes.
//
// Loading an adapter onto a model with another fingerprint is refused unless forced; an adapter made by
// another tool (no fingerprint) loads with a one-line notice.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openCheckpoint } from './safetensors_index.ts';
import type { ModelConfig } from './hf_config.ts';
import { ADAPTER_CONFIG, FINGERPRINT_FIELD, loadPeftAdapter } from './peft.ts';
import type { LoraAdapter } from '../nn/lora.ts';

const SAMPLES_PER_TENSOR = 4;
const SAMPLE_BYTES = 16;

/** A short hex fingerprint of the HF model in `modelDir`. */
export function baseFingerprint(modelDir: string): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(join(modelDir, 'config.json')));
  const source = openCheckpoint(modelDir);
  try {
    for (const name of source.names().sort()) {
      const info = source.info(name);
      hash.update(`${name}|${info.dtype}|${info.shape.join('x')}|`);
      for (let i = 0; i < SAMPLES_PER_TENSOR; i++) {
        const at = Math.floor((i * Math.max(0, info.byteLength - SAMPLE_BYTES)) / Math.max(1, SAMPLES_PER_TENSOR - 1));
        hash.update(source.readRange(name, at, SAMPLE_BYTES));
      }
    }
  } finally {
    source.close();
  }
  return hash.digest('hex').slice(0, 24);
}

export interface AdapterBaseCheck {
  /** Load it anyway when the fingerprints differ. */
  force?: boolean;
  notice?: (line: string) => void;
}

/** Refuse an adapter recorded for another base than `modelDir` (unless forced); note one without a record. */
export function checkAdapterBase(adapterDir: string, modelDir: string, o: AdapterBaseCheck = {}): void {
  const file = join(adapterDir, ADAPTER_CONFIG);
  if (!existsSync(file)) return; // loadPeftAdapter says what is missing
  let recorded: unknown;
  let base: unknown;
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    recorded = json[FINGERPRINT_FIELD];
    base = json.base_model_name_or_path;
  } catch {
    return; // loadPeftAdapter names the JSON error
  }
  if (typeof recorded !== 'string') {
    o.notice?.(`${adapterDir}: the adapter does not record which base it was trained on (made by another tool?); loading it onto ${modelDir} unchecked`);
    return;
  }
  const actual = baseFingerprint(modelDir);
  if (actual === recorded) return;
  const trainedOn = typeof base === 'string' && base ? ` (it was trained on ${base})` : '';
  const message = `${file}: the adapter was trained on another base model than ${resolve(modelDir)}${trainedOn}: ` +
    `field '${FINGERPRINT_FIELD}' is ${recorded}, this model's fingerprint is ${actual}`;
  if (!o.force) throw new Error(`${message}; use the base it was trained on, or pass --force to load it anyway`);
  o.notice?.(`${message}; loading it anyway (--force)`);
}

/** loadPeftAdapter for the model in `modelDir`, after checking that the adapter was trained on it. */
export function loadAdapterFor(adapterDir: string, modelDir: string, cfg: ModelConfig, o: AdapterBaseCheck = {}): LoraAdapter {
  checkAdapterBase(adapterDir, modelDir, o);
  return loadPeftAdapter(adapterDir, cfg);
}
