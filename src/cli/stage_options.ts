// Flags the standalone stage commands share (`still imitate|explore|improve`): number parsers, and the
// toy mode's training settings read from the SFT trainer's flags. `imitate` and `improve` are the SFT
// command with a toy mode added, so a flag the toy cannot honour (--lora-r, --resume, …) is refused by
// name rather than silently ignored, and flags left at their SFT default take the toy's default instead.
import type { Command } from 'commander';
import type { TrainStageConfig } from '../loop/config.ts';
import { parseLevels } from '../loop/stage_toy.ts';
import { STEP_STYLES, type StepStyle, type Task } from '../tasks/task.ts';

export function intFlag(flag: string, min = 0) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isInteger(x) || x < min) throw new Error(`${flag} expects an integer ≥ ${min}, got '${v}'`);
    return x;
  };
}

export function numFlag(flag: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new Error(`${flag} expects a number, got '${v}'`);
    return x;
  };
}

/** Was this option given on the command line (rather than left at its default)? */
export function given(cmd: Command, key: string): boolean {
  return cmd.getOptionValueSource(key) === 'cli';
}

/** Throw for the first option given on the command line that is not in `keep`; `why` completes the message. */
export function refuseFlags(cmd: Command, keep: ReadonlySet<string>, why: string): void {
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (!keep.has(key) && given(cmd, key)) throw new Error(`${opt.long} ${why}`);
  }
}

/** The SFT flags the toy trainer honours (the loop's TrainStageConfig, the seed, and the output switches). */
export const TOY_TRAIN_KEYS = ['epochs', 'lr', 'batchSize', 'warmup', 'schedule', 'weightDecay', 'maxGradNorm', 'seed', 'quiet', 'full', 'out', 'overwrite'] as const;

interface SftTrainFlags {
  epochs?: number;
  lr?: number;
  batchSize: number;
  warmup: string;
  schedule: string;
  weightDecay: number;
  maxGradNorm: number;
}

/** The toy stage's training settings: each SFT flag given on the command line, else the toy default. */
export function toyTrainSettings(cmd: Command, o: SftTrainFlags, d: TrainStageConfig): TrainStageConfig {
  const pick = <T>(key: string, value: T | undefined, dflt: T): T => (given(cmd, key) && value !== undefined ? value : dflt);
  const s: TrainStageConfig = {
    epochs: pick('epochs', o.epochs, d.epochs),
    lr: pick('lr', o.lr, d.lr),
    batchSize: pick('batchSize', o.batchSize, d.batchSize),
    warmup: given(cmd, 'warmup') ? Number(o.warmup) : d.warmup,
    schedule: pick('schedule', o.schedule as TrainStageConfig['schedule'], d.schedule),
    weightDecay: pick('weightDecay', o.weightDecay, d.weightDecay),
    maxGradNorm: pick('maxGradNorm', o.maxGradNorm, d.maxGradNorm),
  };
  if (!(s.epochs > 0)) throw new Error(`--epochs must be > 0, got ${s.epochs}`);
  if (!(s.lr > 0)) throw new Error(`--lr must be > 0, got ${s.lr}`);
  if (!(s.batchSize >= 1)) throw new Error(`--batch-size must be ≥ 1, got ${s.batchSize}`);
  if (!(s.warmup >= 0)) throw new Error(`--warmup expects whole steps or a fraction < 1, got '${o.warmup}'`);
  return s;
}

/** --scarce-levels / --scarce-examples, each falling back to `dflt` (a config's or a student note's). */
export function scarceSettings(
  o: { scarceLevels?: string; scarceExamples?: number }, task: Task, dflt: { scarceLevels: number[]; scarceExamples: number } | null,
): { scarceLevels: number[]; scarceExamples: number } {
  const scarceLevels = o.scarceLevels !== undefined ? parseLevels(o.scarceLevels, task, '--scarce-levels') : (dflt?.scarceLevels ?? []);
  const scarceExamples = o.scarceExamples ?? (dflt?.scarceExamples ?? 0);
  if (scarceLevels.length > 0 && scarceExamples === 0) throw new Error(`--scarce-levels ${scarceLevels.join(',')} needs --scarce-examples N (traces at those levels)`);
  if (scarceLevels.length === 0 && o.scarceExamples !== undefined) throw new Error('--scarce-examples goes with --scarce-levels');
  return { scarceLevels, scarceExamples: scarceLevels.length ? scarceExamples : 0 };
}

/** --step-style, checked against the task's styles; undefined = the task's default. */
export function stepStyleFlag(value: string | undefined): StepStyle | undefined {
  if (value === undefined) return undefined;
  if (!(STEP_STYLES as readonly string[]).includes(value)) throw new Error(`--step-style must be one of ${STEP_STYLES.join(', ')}, got '${value}'`);
  return value as StepStyle;
}
