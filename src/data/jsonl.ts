// Reading JSONL: one JSON object per non-blank line, each paired with its 1-based line number for errors.
import { readFileSync } from 'node:fs';

export interface JsonlRow {
  line: number;
  value: Record<string, unknown>;
}

export function readJsonl(file: string): JsonlRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseJsonl(text, file);
}

export function parseJsonl(text: string, file = '<jsonl>'): JsonlRow[] {
  const rows: JsonlRow[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${file}:${i + 1}: expected a JSON object per line, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
    }
    rows.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  return rows;
}
