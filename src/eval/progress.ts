// The eval progress bar (cli-progress) on stderr: samples finished, tokens/s, ETA. Only on a terminal, so
// logs and piped output stay clean.
import cliProgress from 'cli-progress';
import type { StepEvent } from '../sample/generator.ts';

export interface EvalProgress {
  onStep(e: StepEvent): void;
  stop(): void;
}

export function evalProgress(label: string, stream: NodeJS.WriteStream = process.stderr): EvalProgress {
  if (stream.isTTY !== true) return { onStep: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} |{bar}| {value}/{total} samples | {tps} tok/s | ETA {eta_formatted}`,
    stream, hideCursor: true, fps: 5, etaBuffer: 50, clearOnComplete: true,
  }, cliProgress.Presets.shades_classic);
  // The rate counts from the first decode step, so model loading and the CAS import do not dilute it.
  let t0 = 0;
  let g0 = 0;
  let started = false;
  return {
    onStep: (e) => {
      if (!started) {
        bar.start(e.total, 0, { tps: '-' });
        started = true;
        t0 = performance.now();
        g0 = e.generated;
      }
      const s = (performance.now() - t0) / 1000;
      bar.update(e.finished, { tps: s >= 0.5 ? ((e.generated - g0) / s).toFixed(0) : '-' });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
