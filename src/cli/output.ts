// Writing CLI results: JSON to --out (atomically) or to stdout.
import { writeFileAtomic } from '../io/atomic.ts';

export function emitJson(value: unknown, out?: string): void {
  const text = JSON.stringify(value);
  if (out) writeFileAtomic(out, text + '\n');
  else process.stdout.write(text + '\n');
}

/** A library notice (one line, no prefix) as the CLI prints it: `still: …` on stderr. */
export function stderrNotice(line: string): void {
  process.stderr.write(`still: ${line}\n`);
}
