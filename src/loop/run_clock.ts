// The time left for a whole run, from its work units. A run is a plan of stages, each of one kind of work:
// sequences trained (a train step of batch b is b sequences; a DPO pair is two) or rollouts sampled. Each
// kind's speed is measured as the run goes (seconds spent in that kind's stages per unit they finished), and
// the time left is the units still planned for each kind at its measured speed. A kind not measured yet has
// no speed to guess from: the estimate then counts only the measured kinds and says it is a lower bound.
// Pure: every call is given the time, so the arithmetic is tested on made-up clocks.

export type WorkKind = 'train' | 'sample';

export interface PlannedStage {
  id: string;
  kind: WorkKind;
  /** Units of work the stage is expected to take (sequences trained or rollouts sampled). */
  units: number;
}

export interface TimeLeft {
  seconds: number;
  /** False while a kind with work left has no measured speed: `seconds` then counts only the others. */
  complete: boolean;
  /** Kinds with work left and no measured speed yet. */
  unmeasured: WorkKind[];
}

interface StageState extends PlannedStage {
  started: number | null;
  ended: number | null;
  done: number;
}

export class RunClock {
  private readonly stages = new Map<string, StageState>();

  constructor(plan: readonly PlannedStage[] = []) {
    this.plan(plan);
  }

  /**
   * Set the plan of the stages not started yet (sizes change as the run learns, e.g. the pool grows): a
   * stage not started takes its new size, new ids are added, and unstarted stages missing from `plan` are
   * dropped. Started and finished stages keep their record.
   */
  plan(plan: readonly PlannedStage[]): void {
    const wanted = new Set(plan.map((s) => s.id));
    for (const [id, s] of this.stages) if (s.started === null && !wanted.has(id)) this.stages.delete(id);
    for (const p of plan) {
      if (!(p.units >= 0)) throw new Error(`run clock: stage ${p.id} has ${p.units} units`);
      const s = this.stages.get(p.id);
      if (!s) this.stages.set(p.id, { ...p, started: null, ended: null, done: 0 });
      else if (s.started === null) Object.assign(s, { kind: p.kind, units: p.units });
    }
  }

  /** A stage starts (stages not in the plan are added with `units`); the one running before it ends. */
  begin(id: string, now: number, size?: { kind: WorkKind; units: number }): void {
    for (const s of this.stages.values()) if (s.started !== null && s.ended === null) s.ended = now;
    let s = this.stages.get(id);
    if (!s) {
      if (!size) throw new Error(`run clock: stage ${id} is not in the plan`);
      s = { id, ...size, started: null, ended: null, done: 0 };
      this.stages.set(id, s);
    } else if (size) Object.assign(s, size);
    s.started = now;
    s.ended = null;
    s.done = 0;
  }

  has(id: string): boolean {
    return this.stages.has(id);
  }

  /** The running stage's real size, once known (e.g. from its trainer's step count). */
  resize(id: string, units: number): void {
    const s = this.get(id);
    s.units = units;
  }

  /** Units the stage has finished so far (in this process). */
  progress(id: string, done: number): void {
    const s = this.get(id);
    if (s.started === null) throw new Error(`run clock: stage ${id} has not begun`);
    s.done = Math.max(s.done, done);
  }

  /** The running stage ends (also implied by the next begin()). */
  end(id: string, now: number): void {
    const s = this.get(id);
    if (s.started !== null && s.ended === null) s.ended = now;
  }

  /** Seconds per unit of each kind, from the stages that finished at least one unit. */
  speeds(now: number): Partial<Record<WorkKind, number>> {
    const spent: Partial<Record<WorkKind, { seconds: number; units: number }>> = {};
    for (const s of this.stages.values()) {
      if (s.started === null || s.done <= 0) continue;
      const t = (spent[s.kind] ??= { seconds: 0, units: 0 });
      t.seconds += (s.ended ?? now) - s.started;
      t.units += s.done;
    }
    const out: Partial<Record<WorkKind, number>> = {};
    for (const [kind, t] of Object.entries(spent) as [WorkKind, { seconds: number; units: number }][]) out[kind] = t.seconds / t.units;
    return out;
  }

  /** Units of each kind still to do: all of a stage not begun, the rest of a running one, none of a finished one. */
  remaining(): Partial<Record<WorkKind, number>> {
    const out: Partial<Record<WorkKind, number>> = {};
    for (const s of this.stages.values()) {
      if (s.ended !== null) continue;
      const left = Math.max(0, s.units - s.done);
      if (left > 0) out[s.kind] = (out[s.kind] ?? 0) + left;
    }
    return out;
  }

  timeLeft(now: number): TimeLeft {
    const speeds = this.speeds(now);
    let seconds = 0;
    const unmeasured: WorkKind[] = [];
    for (const [kind, units] of Object.entries(this.remaining()) as [WorkKind, number][]) {
      const perUnit = speeds[kind];
      if (perUnit === undefined) unmeasured.push(kind);
      else seconds += units * perUnit;
    }
    return { seconds, complete: unmeasured.length === 0, unmeasured };
  }

  private get(id: string): StageState {
    const s = this.stages.get(id);
    if (!s) throw new Error(`run clock: stage ${id} is not in the plan`);
    return s;
  }
}

/** A duration as a person says it: "about 40 s", "about 6 min", "about 1 h 20 min". */
export function roughDuration(seconds: number): string {
  if (seconds < 10) return 'a few seconds';
  if (seconds < 90) return `about ${Math.round(seconds / 10) * 10} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `about ${h} h${m ? ` ${m} min` : ''}`;
}

const KIND_WORDS: Record<WorkKind, string> = { train: 'training', sample: 'sampling' };

/**
 * The estimate in words, or null when there is nothing to say yet (no kind measured). A partial estimate
 * is a lower bound and says which speed is still unknown.
 */
export function timeLeftText(t: TimeLeft): string | null {
  if (t.complete) return `${roughDuration(t.seconds)} left for the whole run`;
  if (t.seconds <= 0) return null;
  return `at least ${roughDuration(t.seconds).replace(/^about /, '')} left for the whole run (${t.unmeasured.map((k) => KIND_WORDS[k]).join(' and ')} speed not measured yet)`;
}
