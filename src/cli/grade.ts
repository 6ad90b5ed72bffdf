// `still grade FILE.jsonl`: grade model outputs against gold answers, one JSON verdict per input line.
//
// Input lines: {"pred": "<model output text>", "gold": "<gold answer>", "dataset"?: "math500|aime24|…"}.
// Output (stdout, same order): {"correct": bool, "pred_answer": "..."|null, "gold_answer": "..."}.
// A malformed line is reported on stderr with its line number and gets an output line with "error"
// (correct: false), so outputs stay aligned with inputs; the exit code is then 1.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { EVAL_SETS, evalSetName } from '../verify/gold.ts';

export interface GradeSummary {
  graded: number;
  correct: number;
  malformed: number;
}

/** Validates one parsed input line; returns the fields or a message saying what was expected. */
function readInput(value: unknown): { pred: string; gold: string; dataset?: string } | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'expected a JSON object';
  const row = value as Record<string, unknown>;
  if (typeof row.pred !== 'string') return `field 'pred' must be a string (the model output), got ${JSON.stringify(row.pred) ?? 'nothing'}`;
  if (typeof row.gold !== 'string' && typeof row.gold !== 'number') {
    return `field 'gold' must be a string or number (the gold answer), got ${JSON.stringify(row.gold) ?? 'nothing'}`;
  }
  if (row.dataset === undefined || row.dataset === null) return { pred: row.pred, gold: String(row.gold) };
  const dataset = typeof row.dataset === 'string' ? evalSetName(row.dataset) : null;
  if (dataset === null) return `field 'dataset' must be one of ${EVAL_SETS.join(', ')}, got ${JSON.stringify(row.dataset)}`;
  return { pred: row.pred, gold: String(row.gold), dataset };
}

/**
 * Grades JSONL lines in order. `write` receives each output line (with its newline), `warn` each error.
 * Blank lines are skipped and produce no output.
 */
type Grader = typeof import('../verify/grade.ts')['grade'];

async function loadGrader(): Promise<Grader> {
  return (await import('../verify/grade.ts')).grade;
}

export async function gradeJsonl(
  lines: AsyncIterable<string> | Iterable<string>,
  file: string,
  write: (line: string) => void,
  warn: (line: string) => void,
  grader?: Grader,
): Promise<GradeSummary> {
  const summary: GradeSummary = { graded: 0, correct: 0, malformed: 0 };
  // The CAS behind the grader takes seconds to load, so it is imported when grading starts, not when the
  // CLI starts (every other command would pay for it). Callers reading a stream pass it in loaded: an
  // await between opening a readline interface and iterating it can drop the lines emitted meanwhile.
  grader ??= await loadGrader();
  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    const text = raw.trim();
    if (text.length === 0) continue;
    let input: ReturnType<typeof readInput>;
    try {
      input = readInput(JSON.parse(text));
    } catch (err) {
      input = `not valid JSON (${(err as Error).message})`;
    }
    if (typeof input === 'string') {
      const message = `${file}:${lineNo}: ${input}`;
      warn(`still grade: ${message}\n`);
      summary.malformed++;
      write(`${JSON.stringify({ correct: false, pred_answer: null, gold_answer: null, error: message })}\n`);
      continue;
    }
    const result = grader(input.pred, input.gold, input.dataset);
    summary.graded++;
    if (result.correct) summary.correct++;
    write(`${JSON.stringify(result)}\n`);
  }
  return summary;
}

export function formatSummary(s: GradeSummary): string {
  const accuracy = s.graded > 0 ? (s.correct / s.graded).toFixed(4) : 'n/a';
  return `graded ${s.graded}, correct ${s.correct}, accuracy ${accuracy}, malformed ${s.malformed}`;
}

export function registerGrade(program: Command): void {
  program
    .command('grade')
    .description('grade model outputs against gold answers (JSONL in: pred, gold, dataset?; JSONL out: verdicts)')
    .argument('<file>', 'JSONL file of {"pred", "gold", "dataset"?} lines, or - for stdin')
    .action(async (file: string) => {
      const grader = await loadGrader();
      const stream = file === '-' ? process.stdin : createReadStream(file, { encoding: 'utf8' });
      // Surface a missing file as a user error naming the path, not as an unhandled stream error.
      const opened = new Promise<void>((resolve, reject) => {
        if (file === '-') return resolve();
        stream.once('open', () => resolve());
        stream.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`grade: cannot read ${file} (${err.code ?? err.message})`)));
      });
      await opened;
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      const name = file === '-' ? 'stdin' : file;
      const summary = await gradeJsonl(lines, name, (l) => process.stdout.write(l), (l) => process.stderr.write(l), grader);
      process.stderr.write(`still grade: ${formatSummary(summary)}\n`);
      if (summary.malformed > 0) process.exitCode = 1;
    });
}
