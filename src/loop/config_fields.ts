// Reading one JSON object of a config, field by field: each read names the file and the field's path in
// its error, states the expected type and range, and an unknown key (a typo of an optional field) is an
// error rather than a silently ignored setting.
import { readFileSync } from 'node:fs';

/** A config file's JSON; a missing file or a syntax error names the file. */
export function readConfigJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read the experiment config (${(e as Error).message})`);
  }
}

export class ConfigObject {
  private readonly read = new Set<string>();

  constructor(readonly file: string, readonly path: string, private readonly value: Record<string, unknown>) {}

  static root(json: unknown, file: string): ConfigObject {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: expected a JSON object`);
    return new ConfigObject(file, '', json as Record<string, unknown>);
  }

  /** The full path of a key, as errors name it. */
  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  fail(key: string, expected: string, got?: unknown): never {
    const v = got === undefined ? this.value[key] : got;
    throw new Error(`${this.file}: field '${this.at(key)}' must be ${expected}${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  }

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  private take(key: string): unknown {
    this.read.add(key);
    return this.value[key];
  }

  /** A nested object (absent reads as empty, so its fields take their defaults). */
  object(key: string): ConfigObject {
    const v = this.take(key);
    if (v === undefined) return new ConfigObject(this.file, this.at(key), {});
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'an object');
    return new ConfigObject(this.file, this.at(key), v as Record<string, unknown>);
  }

  string(key: string, dflt?: string): string {
    const v = this.take(key) ?? dflt;
    if (typeof v !== 'string' || v === '') this.fail(key, 'a non-empty string', v);
    return v;
  }

  optionalString(key: string): string | null {
    const v = this.take(key);
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v === '') this.fail(key, 'a non-empty string or null');
    return v;
  }

  /** A string, or a list of strings (read as a list of one). */
  strings(key: string, dflt?: string[]): string[] {
    const v = this.take(key) ?? dflt;
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x !== '')) {
      this.fail(key, 'a non-empty string or list of strings', v);
    }
    return list as string[];
  }

  /** Labels (strings or numbers, read as strings), one or a list; absent or null = null. */
  optionalLabels(key: string): string[] | null {
    const v = this.take(key);
    if (v === undefined || v === null) return null;
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0 || !list.every((x) => (typeof x === 'string' && x !== '') || (typeof x === 'number' && Number.isFinite(x)))) {
      this.fail(key, 'a label or a non-empty list of labels (strings or numbers), or null');
    }
    return list.map(String);
  }

  /** A number in [min, max] (integer when asked); `exclusiveMin` makes the lower bound strict. */
  number(key: string, dflt: number | undefined, range: { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean } = {}): number {
    const v = this.take(key) ?? dflt;
    const { min = -Infinity, max = Infinity, int = false, exclusiveMin = false } = range;
    const ok = typeof v === 'number' && Number.isFinite(v) && (exclusiveMin ? v > min : v >= min) && v <= max && (!int || Number.isInteger(v));
    if (!ok) {
      const bounds = [Number.isFinite(min) ? `${exclusiveMin ? '>' : '≥'} ${min}` : '', Number.isFinite(max) ? `≤ ${max}` : ''].filter(Boolean).join(' and ');
      this.fail(key, `${int ? 'an integer' : 'a number'}${bounds ? ` ${bounds}` : ''}`, v);
    }
    return v as number;
  }

  /** A number as above, or null (absent = `dflt`). */
  optionalNumber(key: string, dflt: number | null, range: { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean } = {}): number | null {
    const v = this.value[key];
    if (v === null || (v === undefined && dflt === null)) {
      this.take(key);
      return null;
    }
    return this.number(key, dflt ?? undefined, range);
  }

  boolean(key: string, dflt: boolean): boolean {
    const v = this.take(key) ?? dflt;
    if (typeof v !== 'boolean') this.fail(key, 'true or false', v);
    return v;
  }

  choice<T extends string>(key: string, options: readonly T[], dflt: T): T {
    const v = this.take(key) ?? dflt;
    if (!options.includes(v as T)) this.fail(key, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, v);
    return v as T;
  }

  /** A choice as above, or undefined when absent. */
  optionalChoice<T extends string>(key: string, options: readonly T[]): T | undefined {
    return this.has(key) ? this.choice(key, options, options[0]!) : (this.take(key), undefined);
  }

  /** Refuse keys nobody read: a misspelt optional field would otherwise leave its default in force. */
  done(): void {
    for (const key of Object.keys(this.value)) {
      if (!this.read.has(key)) {
        const guess = nearestName(key, [...this.read]);
        const known = [...this.read].sort().join(', ');
        throw new Error(`${this.file}: unknown field '${this.at(key)}'${guess ? `; did you mean '${this.at(guess)}'?` : ''}${known ? ` (known here: ${known})` : ''}`);
      }
    }
  }
}

/** The known name closest to a misspelt one (case-insensitive edit distance), when it is close enough to be a typo. */
export function nearestName(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
