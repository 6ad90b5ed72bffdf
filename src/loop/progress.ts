// Progress for the loop's stages: a bar on a terminal, and one summary line per stage everywhere. A run's
// stages go through RunProgress, which says in one sentence what each stage does as it starts and shows
// the time left for the whole run (run_clock.ts) beside the bars.
import cliProgress from 'cli-progress';
import { RunClock, timeLeftText, type PlannedStage, type WorkKind } from './run_clock.ts';

export interface StageBar {
  update(done: number, status?: string): void;
  stop(): void;
}

export interface StageLog {
  /** A finished stage's one-line summary (always shown unless quiet). */
  line(text: string): void;
  /**
   * A bar for a stage of `total` units, `start` of them done before this process (a resumed stage); returns
   * an updater and a stopper. Off a terminal (logs, CI) it prints a plain line at every tenth of the way
   * instead, with the status text given to update().
   */
  bar(label: string, total: number, unit: string, start?: number): StageBar;
  readonly quiet: boolean;
}

export function stageLog(quiet = false): StageLog {
  const tty = !quiet && process.stderr.isTTY === true;
  return {
    quiet,
    line: (text) => {
      if (!quiet) process.stderr.write(`${text}\n`);
    },
    bar: (label, total, unit, start = 0) => {
      if (!tty) {
        let shown = start;
        const every = Math.max(1, Math.ceil(total / 10));
        return {
          update: (done, status) => {
            if (quiet || done < shown + every || done >= total) return;
            shown = done - (done % every);
            process.stderr.write(`${label}: ${done}/${total} ${unit}${status ? ` | ${status}` : ''}\n`);
          },
          stop: () => {},
        };
      }
      const bar = new cliProgress.SingleBar({
        format: `${label.padEnd(22)} |{bar}| {value}/{total} ${unit} | {status} | stage ETA {eta_formatted}`,
        stream: process.stderr, hideCursor: true, fps: 5, etaBuffer: 50, clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      bar.start(total, start, { status: '' });
      return { update: (done, status) => bar.update(done, { status: status ?? '' }), stop: () => bar.stop() };
    },
  };
}

/** How a stage's bars count toward its work units. */
export interface StageWork {
  kind: WorkKind;
  /** Units the stage is planned to take (when it is not in the plan, or to correct the plan). */
  units?: number;
  /** Work units per bar unit: a train step's sequences (its batch; a DPO step's pairs count twice). Default 1. */
  perTick?: number;
  /** The stage's first bar gives its real size (a trainer's step count), replacing the planned one. */
  sizedByBar?: boolean;
}

/**
 * A run's stages, in order: each begins with one plain sentence (and the time left, once a speed has been
 * measured), and its bars feed the clock and show the time left for the whole run. `log` is the stage log
 * to hand to the stages.
 */
export class RunProgress {
  readonly log: StageLog;
  private current: { id: string; work: StageWork; base: number; sized: boolean } | null = null;

  constructor(
    private readonly out: StageLog,
    private readonly clock = new RunClock(),
    private readonly now: () => number = () => performance.now() / 1000,
  ) {
    this.log = {
      quiet: out.quiet,
      line: (text) => out.line(text),
      bar: (label, total, unit, start = 0) => this.bar(label, total, unit, start),
    };
  }

  /** The work still ahead (stages not started take these sizes; see RunClock.plan). */
  plan(stages: readonly PlannedStage[]): void {
    this.clock.plan(stages);
  }

  /** A stage starts: the one before it ends, and its sentence is printed with the time left. */
  stage(id: string, sentence: string, work: StageWork): void {
    const now = this.now();
    // A stage the plan left out still runs (unsized: it adds to the speeds, not to the work left).
    const units = work.units ?? (this.clock.has(id) ? undefined : 0);
    this.clock.begin(id, now, units !== undefined ? { kind: work.kind, units } : undefined);
    this.current = { id, work, base: 0, sized: false };
    const left = timeLeftText(this.clock.timeLeft(now));
    this.out.line(left ? `${sentence} · ${left}` : sentence);
  }

  /** The last stage ended (the run's report and files are written next). */
  finish(): void {
    if (this.current) this.clock.end(this.current.id, this.now());
    this.current = null;
  }

  /** The time left, in words (null before any speed is measured). */
  timeLeft(): string | null {
    return timeLeftText(this.clock.timeLeft(this.now()));
  }

  private bar(label: string, total: number, unit: string, start: number): StageBar {
    const inner = this.out.bar(label, total, unit, start);
    const stage = this.current;
    if (!stage) return inner;
    const perTick = stage.work.perTick ?? 1;
    if (stage.work.sizedByBar && !stage.sized) {
      this.clock.resize(stage.id, stage.base + Math.max(0, total - start) * perTick);
      stage.sized = true;
    }
    let last = start;
    return {
      update: (done, status) => {
        last = done;
        this.clock.progress(stage.id, stage.base + Math.max(0, done - start) * perTick);
        const left = this.timeLeft();
        inner.update(done, [status, left].filter(Boolean).join(' | '));
      },
      stop: () => {
        stage.base += Math.max(0, last - start) * perTick;
        inner.stop();
      },
    };
  }
}
