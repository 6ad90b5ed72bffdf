// PEFT LoRA adapters on disk: adapter_config.json + adapter_model.safetensors, read and written with the
// exact field and tensor names PEFT uses, so adapters move freely between still-ts, PEFT and vLLM.
//
// Only what our LoraAdapter computes identically is accepted: plain or rsLoRA on the seven decoder
// projections. DoRA, per-module rank/alpha patterns, trained biases and modules_to_save change the
// model in ways we do not implement, so they are refused with the field named rather than ignored.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from './hf_config.ts';
import { writeJsonAtomic } from './atomic.ts';
import { SafetensorsFile, writeSafetensors, type TensorInput } from './safetensors.ts';
import { parsePeftSavedName, peftSavedName } from './peft_names.ts';
import {
  LORA_TARGETS, LoraAdapter, adaptedModules, checkLoraConfig, modulePath,
  type LoraConfig, type LoraTarget,
} from '../nn/lora.ts';
import { getBackend } from '../tensor/context.ts';
import { keep } from '../tensor/scope.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** The adapter_config.json field with the base model's fingerprint (adapter_base.ts); PEFT ignores unknown fields. */
export const FINGERPRINT_FIELD = 'still_base_fingerprint';

/** What an adapter_config.json says, reduced to what we compute with. */
export interface PeftLoraSpec {
  lora: LoraConfig;
  /** The module paths that carry an (A, B) pair. */
  modules: string[];
  baseModel: string | null;
}

/** Parse and validate an adapter_config.json object against a model config. */
export function parsePeftConfig(json: unknown, cfg: ModelConfig, file = ADAPTER_CONFIG): PeftLoraSpec {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return fail('must be a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA') fail(`peft_type ${JSON.stringify(c.peft_type)} is not supported (expected "LORA")`);
  const num = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`field '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const off = (key: string, what: string): void => {
    const v = c[key];
    const empty = v === undefined || v === null || v === false || (typeof v === 'object' && Object.keys(v as object).length === 0);
    if (!empty) fail(`field '${key}' is ${JSON.stringify(v)}: ${what} is not supported`);
  };
  off('use_dora', 'DoRA');
  off('rank_pattern', 'a per-module rank');
  off('alpha_pattern', 'a per-module alpha');
  off('modules_to_save', 'training full modules beside LoRA');
  off('fan_in_fan_out', 'fan_in_fan_out (Conv1D layouts)');
  off('lora_bias', 'a trained LoRA bias');
  off('layer_replication', 'layer replication');
  off('target_parameters', 'LoRA on raw parameters');
  if ((c.bias ?? 'none') !== 'none') fail(`field 'bias' is ${JSON.stringify(c.bias)}: only "none" is supported (base biases stay frozen)`);

  const lora: LoraConfig = {
    r: num('r'),
    alpha: num('lora_alpha'),
    dropout: num('lora_dropout', 0),
    targets: [],
    useRslora: c.use_rslora === true,
  };

  const layers = layerFilter(c.layers_to_transform, cfg.numLayers, fail);
  const spec = c.target_modules;
  let matches: (module: string) => boolean;
  if (spec === 'all-linear') {
    // PEFT's shorthand for every linear layer but the output head: here, the seven projections.
    matches = () => true;
  } else if (typeof spec === 'string') {
    // PEFT: a string is a regex that must match the whole module name.
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${spec})$`);
    } catch (e) {
      return fail(`target_modules regex ${JSON.stringify(spec)} does not compile (${(e as Error).message})`);
    }
    matches = (m) => re.test(m);
    for (const other of ['model.embed_tokens', 'lm_head']) {
      if (matches(other)) fail(`target_modules ${JSON.stringify(spec)} matches ${other}; only ${LORA_TARGETS.join(', ')} can be adapted`);
    }
  } else if (Array.isArray(spec) && spec.every((s) => typeof s === 'string') && spec.length > 0) {
    const unknown = spec.filter((s) => !(LORA_TARGETS as readonly string[]).includes(s));
    if (unknown.length > 0) fail(`target_modules ${JSON.stringify(unknown)} are not supported (expected some of ${LORA_TARGETS.join(', ')})`);
    matches = (m) => spec.some((s) => m.endsWith(`.${s}`));
  } else {
    return fail(`field 'target_modules' must be a list of module names or a regex string, got ${JSON.stringify(spec)}`);
  }
  const modules: string[] = [];
  const kinds = new Set<LoraTarget>();
  for (let l = 0; l < cfg.numLayers; l++) {
    if (!layers.has(l)) continue;
    for (const t of LORA_TARGETS) {
      const m = modulePath(l, t);
      if (matches(m)) {
        modules.push(m);
        kinds.add(t);
      }
    }
  }
  if (modules.length === 0) fail(`target_modules ${JSON.stringify(spec)} matches no projection of this ${cfg.numLayers}-layer model`);
  lora.targets = LORA_TARGETS.filter((t) => kinds.has(t));
  checkLoraConfig(lora, file);
  const base = c.base_model_name_or_path;
  return { lora, modules, baseModel: typeof base === 'string' ? base : null };
}

function layerFilter(v: unknown, numLayers: number, fail: (m: string) => never): Set<number> {
  const all = new Set(Array.from({ length: numLayers }, (_, i) => i));
  if (v === undefined || v === null) return all;
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => Number.isInteger(x) && x >= 0 && x < numLayers)) {
    fail(`field 'layers_to_transform' must be a layer index or a list of them in [0, ${numLayers}), got ${JSON.stringify(v)}`);
  }
  return new Set(list as number[]);
}

/**
 * Load a PEFT LoRA adapter directory for a model with config `cfg`. A and B become f32 trainable tensors
 * on the current backend (whatever dtype the file stores), kept out of tidy scopes.
 */
export function loadPeftAdapter(dir: string, cfg: ModelConfig, random: () => number = Math.random): LoraAdapter {
  const configPath = join(dir, ADAPTER_CONFIG);
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(configPath)) throw new Error(`${dir}: no ${ADAPTER_CONFIG} (expected a PEFT adapter directory)`);
  if (!existsSync(weightsPath)) {
    const bin = existsSync(join(dir, 'adapter_model.bin')) ? '; found adapter_model.bin, but only safetensors is supported (pickle files can run code)' : '';
    throw new Error(`${dir}: no ${ADAPTER_WEIGHTS}${bin}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
  const spec = parsePeftConfig(json, cfg, configPath);
  const file = SafetensorsFile.open(weightsPath);
  const adapter = new LoraAdapter(spec.lora, random);
  const backend = getBackend();
  try {
    const wanted = new Set(spec.modules);
    for (const name of file.names()) {
      const parsed = parsePeftSavedName(name);
      if (!parsed || !wanted.has(parsed.module)) {
        throw new Error(`${weightsPath}: unexpected tensor '${name}' (${ADAPTER_CONFIG} adapts ${spec.lora.targets.join(', ')}; expected names like '${peftSavedName(spec.modules[0], 'A')}')`);
      }
    }
    const shapes = new Map(adaptedModules(cfg, LORA_TARGETS).map((m) => [m.module, m]));
    for (const module of spec.modules) {
      const { inF, outF } = shapes.get(module)!;
      const r = spec.lora.r;
      const read = (half: 'A' | 'B', shape: number[]) => {
        const name = peftSavedName(module, half);
        if (!file.has(name)) throw new Error(`${weightsPath}: missing tensor '${name}' (${ADAPTER_CONFIG} targets ${module})`);
        const got = file.info(name).shape;
        if (got.length !== 2 || got[0] !== shape[0] || got[1] !== shape[1]) {
          throw new Error(`${weightsPath}: tensor '${name}' has shape [${got}], expected [${shape}] (r=${r}, ${module} is ${inF}→${outF})`);
        }
        return keep(backend.upload(file.readF32(name), shape, 'f32')).requireGrad();
      };
      adapter.pairs.set(module, { a: read('A', [r, inF]), b: read('B', [outF, r]) });
    }
  } catch (e) {
    adapter.dispose();
    throw e;
  } finally {
    file.close();
  }
  return adapter;
}

export interface SavePeftOptions {
  /** Recorded as base_model_name_or_path (PEFT and vLLM use it to find the base model). */
  baseModel?: string | null;
  /** The base's fingerprint (adapter_base.ts), checked when the adapter is loaded. */
  baseFingerprint?: string | null;
}

/** The adapter_config.json object PEFT writes for this adapter. */
export function peftConfigJson(adapter: LoraAdapter, cfg: ModelConfig, opts: SavePeftOptions = {}): Record<string, unknown> {
  const lora = adapter.config;
  const modules = [...adapter.pairs.keys()];
  const full = adaptedModules(cfg, lora.targets).map((m) => m.module);
  // A list of projection names means "every layer"; anything else is spelled out as a full-match regex.
  const everyLayer = full.length === modules.length && full.every((m) => adapter.pairs.has(m));
  const targetModules = everyLayer ? [...lora.targets] : modules.map((m) => m.replace(/\./g, '\\.')).join('|');
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: opts.baseModel ?? null,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: lora.r,
    rank_pattern: {},
    revision: null,
    target_modules: targetModules,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: lora.useRslora ?? false,
    ...(opts.baseFingerprint ? { [FINGERPRINT_FIELD]: opts.baseFingerprint } : {}),
  };
}

/** Write `dir`/adapter_config.json and `dir`/adapter_model.safetensors (f32), each atomically. */
export function savePeftAdapter(dir: string, adapter: LoraAdapter, cfg: ModelConfig, opts: SavePeftOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, TensorInput> = {};
  for (const [module, { a, b }] of adapter.pairs) {
    tensors[peftSavedName(module, 'A')] = { dtype: 'F32', shape: [...a.shape], data: toF32(a.toArray()) };
    tensors[peftSavedName(module, 'B')] = { dtype: 'F32', shape: [...b.shape], data: toF32(b.toArray()) };
  }
  // Weights first, config last: a directory with a config always has the weights that go with it.
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeJsonAtomic(join(dir, ADAPTER_CONFIG), peftConfigJson(adapter, cfg, opts));
}

function toF32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}
