// The training progress bar (cli-progress) on stderr: step, loss, tokens/s and ETA. Off when stderr is
// not a terminal or with --quiet, so logs and CI output stay clean; notes then go out as plain lines.
import cliProgress from 'cli-progress';
import type { StepStats } from './trainer.ts';

export class TrainProgress {
  private readonly multi: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;

  constructor(private readonly opts: { quiet?: boolean; label?: string } = {}) {
    if (!opts.quiet && process.stderr.isTTY === true) {
      // A MultiBar (of one) because only it can print lines above the bar without breaking it.
      this.multi = new cliProgress.MultiBar({
        format: `${opts.label ?? 'train'} |{bar}| {value}/{total} | loss {loss} | {tps} tok/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
        fps: 5,
      }, cliProgress.Presets.shades_classic);
    }
  }

  start(total: number, done: number): void {
    this.bar = this.multi?.create(total, done, { loss: '-', tps: '-' }) ?? null;
  }

  update(s: StepStats): void {
    this.bar?.update(s.step, { loss: s.loss.toFixed(4), tps: Math.round(s.tokens_per_s).toString() });
  }

  /** A line that must not be overwritten by the bar (eval loss, checkpoints, warnings); dropped with --quiet. */
  note(line: string): void {
    if (this.multi) this.multi.log(`${line}\n`);
    else if (!this.opts.quiet) process.stderr.write(`${line}\n`);
  }

  stop(): void {
    this.multi?.stop();
  }
}
