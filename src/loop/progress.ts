// Progress for the loop's stages: a bar on a terminal, and one summary line per stage everywhere.
import cliProgress from 'cli-progress';

export interface StageLog {
  /** A finished stage's one-line summary (always shown unless quiet). */
  line(text: string): void;
  /**
   * A bar for a stage of `total` units; returns an updater and a stopper. Off a terminal (logs, CI) it
   * prints a plain line at every tenth of the way instead, with the status text given to update().
   */
  bar(label: string, total: number, unit: string): { update(done: number, status?: string): void; stop(): void };
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
      if (!tty) {
        let shown = 0;
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
        format: `${label.padEnd(22)} |{bar}| {value}/{total} ${unit} | {status} | ETA {eta_formatted}`,
        stream: process.stderr, hideCursor: true, fps: 5, etaBuffer: 50, clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      bar.start(total, 0, { status: '' });
      return { update: (done, status) => bar.update(done, { status: status ?? '' }), stop: () => bar.stop() };
    },
  };
}
