// Progress for the loop's stages: a bar on a terminal, and one summary line per stage everywhere.
import cliProgress from 'cli-progress';

export interface StageLog {
  /** A finished stage's one-line summary (always shown unless quiet). */
  line(text: string): void;
  /** A bar for a stage of `total` units; returns an updater and a stopper. */
  bar(label: string, total: number, unit: string): { update(done: number): void; stop(): void };
  readonly quiet: boolean;
}

export function stageLog(quiet = false): StageLog {
  const tty = !quiet && process.stderr.isTTY === true;
  return {
    quiet,
    line: (text) => {
      if (!quiet) process.stderr.write(`${text}\n`);
    },
    bar: (label, total, unit) => {
      if (!tty) return { update: () => {}, stop: () => {} };
      const bar = new cliProgress.SingleBar({
        format: `${label.padEnd(22)} |{bar}| {value}/{total} ${unit} | ETA {eta_formatted}`,
        stream: process.stderr, hideCursor: true, fps: 5, etaBuffer: 50, clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      bar.start(total, 0);
      return { update: (done) => bar.update(done), stop: () => bar.stop() };
    },
  };
}
