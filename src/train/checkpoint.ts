// Training checkpoints: everything a resumed run needs to continue bit for bit.
//
//   <root>/step-000120/  adapter_config.json + adapter_model.safetensors (LoRA)  or  config.json + model.safetensors (full, f32 masters)
//                        optimizer.safetensors   exp_avg.<param>, exp_avg_sq.<param> (f32)
//                        trainer_state.json      step, data position, RNG state, per-parameter AdamW steps, run settings
//   <root>/latest.json   {"step": 120, "dir": "step-000120"}
// Every file is written atomically, trainer_state.json last in its directory, and latest.json only after
// the directory is complete; older step directories are deleted after that. A crash at any point leaves
// latest.json naming a whole checkpoint.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';
import { saveConfig } from '../io/hf_config.ts';
import { ADAPTER_WEIGHTS, savePeftAdapter } from '../io/peft.ts';
import { SafetensorsFile, writeSafetensors, type TensorInput } from '../io/safetensors.ts';
import type { DecoderModel } from '../nn/model.ts';
import { tidy } from '../tensor/scope.ts';
import type { AdamW } from './adamw.ts';
import { syncValues, type Param, type TrainMode } from './params.ts';

export const CHECKPOINT_FORMAT = 'still-sft-checkpoint';
const LATEST = 'latest.json';
const STATE = 'trainer_state.json';
const OPTIMIZER = 'optimizer.safetensors';
const FULL_WEIGHTS = 'model.safetensors';

export interface TrainerState {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  mode: TrainMode;
  /** Optimizer steps completed. */
  step: number;
  /** Examples consumed from the epoch stream (epoch = floor(consumed / N)). */
  consumed: number;
  /** Dropout RNG state. */
  rngState: number;
  /** AdamW step count per parameter name. */
  optimizerSteps: Record<string, number>;
  /** Settings that must be the same on resume (schedule, batch, data, …), by option name. */
  settings: Record<string, unknown>;
}

/** Write a checkpoint for `state` under `root`; returns its directory. */
export function saveCheckpoint(root: string, model: DecoderModel, params: Param[], opt: AdamW, state: TrainerState): string {
  const name = `step-${String(state.step).padStart(6, '0')}`;
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true }); // a half-written one from a crash; latest.json never named it
  mkdirSync(dir, { recursive: true });
  if (state.mode === 'lora') {
    savePeftAdapter(dir, model.adapter!, model.config);
  } else {
    const tensors: Record<string, TensorInput> = {};
    for (const p of params) tensors[p.key] = f32(p.master.shape, p.master.toArray());
    writeSafetensors(join(dir, FULL_WEIGHTS), tensors, { format: 'pt' });
    saveConfig(dir, { ...model.config, torchDtype: 'float32' });
  }
  const moments: Record<string, TensorInput> = {};
  for (const p of params) {
    const s = opt.state.get(p.name);
    if (!s) continue;
    moments[`exp_avg.${p.name}`] = f32(s.m.shape, s.m.toArray());
    moments[`exp_avg_sq.${p.name}`] = f32(s.v.shape, s.v.toArray());
  }
  writeSafetensors(join(dir, OPTIMIZER), moments, { format: 'pt', step: String(state.step) });
  writeJsonAtomic(join(dir, STATE), state);
  writeJsonAtomic(join(root, LATEST), { step: state.step, dir: name });
  for (const other of readdirSync(root)) {
    if (other !== name && /^step-\d+$/.test(other)) rmSync(join(root, other), { recursive: true, force: true });
  }
  return dir;
}

/** The latest checkpoint under `root`, or null when there is none. */
export function findCheckpoint(root: string): { dir: string; state: TrainerState } | null {
  const latest = join(root, LATEST);
  if (!existsSync(latest)) return null;
  const pointer = readJson(latest) as { dir?: unknown };
  if (typeof pointer.dir !== 'string') throw new Error(`${latest}: expected {"step", "dir"}, got ${JSON.stringify(pointer)}`);
  const dir = join(root, pointer.dir);
  const statePath = join(dir, STATE);
  if (!existsSync(statePath)) throw new Error(`${latest} names ${dir}, which has no ${STATE}`);
  const state = readJson(statePath) as TrainerState;
  if (state.format !== CHECKPOINT_FORMAT || state.version !== 1) {
    throw new Error(`${statePath}: not a still-ts SFT checkpoint (format ${JSON.stringify(state.format)} version ${JSON.stringify(state.version)})`);
  }
  return { dir, state };
}

/** Load parameter values and AdamW moments from a checkpoint directory into a live run. */
export function restoreCheckpoint(dir: string, state: TrainerState, params: Param[], opt: AdamW): void {
  const weightsPath = join(dir, state.mode === 'lora' ? ADAPTER_WEIGHTS : FULL_WEIGHTS);
  const weights = SafetensorsFile.open(weightsPath);
  const moments = SafetensorsFile.open(join(dir, OPTIMIZER));
  try {
    const load = (file: SafetensorsFile, name: string, into: Param['master'], what: string) => {
      if (!file.has(name)) throw new Error(`${file.path}: no tensor '${name}' (${what}); was the checkpoint made with other LoRA targets or another model?`);
      const shape = file.info(name).shape;
      if (shape.length !== into.rank || shape.some((d, i) => d !== into.shape[i])) {
        throw new Error(`${file.path}: tensor '${name}' has shape [${shape}], the run has [${into.shape}]`);
      }
      tidy(() => into.backend.copyInto(into, into.backend.upload(file.readF32(name), into.shape, 'f32')));
    };
    for (const p of params) {
      load(weights, p.key, p.master, 'a trainable parameter');
      const steps = state.optimizerSteps[p.name] ?? 0;
      if (steps === 0) continue;
      const slot = opt.slot(p);
      load(moments, `exp_avg.${p.name}`, slot.m, 'AdamW first moment');
      load(moments, `exp_avg_sq.${p.name}`, slot.v, 'AdamW second moment');
      slot.step = steps;
    }
  } finally {
    weights.close();
    moments.close();
  }
  syncValues(params);
}

function f32(shape: readonly number[], data: ArrayLike<number>): TensorInput {
  return { dtype: 'F32', shape: [...shape], data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read checkpoint JSON (${(e as Error).message})`);
  }
}
