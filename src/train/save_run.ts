// Saving a finished training run (SFT or DPO) into its output folder: the weights first (a PEFT adapter
// that records its base's fingerprint, or the full model), the merged model if asked, training_summary.json
// last, so a folder holding the summary holds a finished run; then the resume state, which would only block
// the next run into the folder, goes.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { baseFingerprint } from '../io/adapter_base.ts';
import { writeJsonAtomic } from '../io/atomic.ts';
import { savePeftAdapter } from '../io/peft.ts';
import { mergeLora } from '../nn/merge.ts';
import type { DecoderModel } from '../nn/model.ts';
import { saveHfModel } from '../nn/save.ts';

/** The file a finished training run leaves last. */
export const SFT_SUMMARY = 'training_summary.json';

/** The fields a run's summary gets from saving: where the adapter, merged model or model went. */
export interface SavedRun {
  adapter?: string;
  merged?: string;
  model?: string;
  checkpoint: string | null;
}

export interface SaveTargets {
  /** The base model's directory (the adapter records it and its fingerprint). */
  base: string;
  /** Where to write now (the output folder, or its --overwrite stand-in), and where it will be. */
  dir: string;
  out: string;
  mergeDir: string | null;
  mergeTo?: string;
  /** The resume state to drop once saved. */
  checkpointDir: string;
}

export function saveFinishedRun<S extends SavedRun>(model: DecoderModel, t: SaveTargets, summary: S): S {
  if (model.adapter) {
    savePeftAdapter(t.dir, model.adapter, model.config, { baseModel: resolve(t.base), baseFingerprint: baseFingerprint(t.base) });
    summary.adapter = t.out;
    if (t.mergeDir) {
      mergeLora(model);
      saveHfModel(model, t.mergeDir, { copyFilesFrom: t.base });
      summary.merged = t.mergeTo;
    }
  } else {
    saveHfModel(model, t.dir, { copyFilesFrom: t.base });
    summary.model = t.out;
  }
  summary.checkpoint = null;
  writeJsonAtomic(join(t.dir, SFT_SUMMARY), summary); // last: the folder now holds a finished run
  rmSync(t.checkpointDir, { recursive: true, force: true });
  return summary;
}
