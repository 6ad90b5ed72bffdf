// Reading the CLI's JSON inputs (token-id matrices) with errors that name the file and what was expected.
import { readFileSync } from 'node:fs';

/** A JSON array of equal-length integer rows, e.g. [[1,2,3],[4,5,6]]. */
export function readTokenRows(file: string, what = 'token ids'): number[][] {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read ${what} as JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every(Array.isArray)) {
    throw new Error(`${file}: expected a non-empty JSON array of rows of ${what}, e.g. [[1,2,3]]`);
  }
  const rows = value as unknown[][];
  rows.forEach((row, r) => {
    if (row.length === 0) throw new Error(`${file}: row ${r} is empty`);
    row.forEach((x, i) => {
      if (!Number.isInteger(x)) throw new Error(`${file}: row ${r}, position ${i}: expected an integer, got ${JSON.stringify(x)}`);
    });
    if (row.length !== rows[0].length) {
      throw new Error(`${file}: row ${r} has ${row.length} ${what}, row 0 has ${rows[0].length}; rows must have equal length`);
    }
  });
  return rows as number[][];
}
