// The four SFT row formats, detected per row by their keys and validated with errors that name the line.
//
//   {"input_ids": [...], "labels": [...]}            pre-tokenized (labels optional: default = input_ids)
//   {"prompt": "...", "completion": "..."}           plain text; loss on the completion only
//   {"messages": [{"role", "content"}, ...]}          chat; loss on assistant turns only
//   {"question", "combined_text", "domain"}           STILL-2 long-thought rows
// Extra keys (ids, metadata) are allowed and ignored; keys of two formats in one row are an error.
export type ChatTurn = { role: string; content: string };

export type SftRow =
  | { kind: 'tokens'; inputIds: number[]; labels: number[] | null }
  | { kind: 'prompt_completion'; prompt: string; completion: string }
  | { kind: 'messages'; messages: ChatTurn[] }
  | { kind: 'still2'; question: string; combinedText: string; domain: string | null };

const SIGNATURES: [SftRow['kind'], string[]][] = [
  ['tokens', ['input_ids']],
  ['prompt_completion', ['prompt', 'completion']],
  ['messages', ['messages']],
  ['still2', ['question', 'combined_text']],
];

export const FORMAT_HELP =
  'expected one of {"input_ids","labels"} | {"prompt","completion"} | {"messages":[{"role","content"}]} | {"question","combined_text","domain"}';

/** Detect and validate one row. `where` is 'file:line'. */
export function parseRow(value: Record<string, unknown>, where: string): SftRow {
  const kinds = SIGNATURES.filter(([, keys]) => keys.every((k) => k in value)).map(([k]) => k);
  if (kinds.length === 0) {
    throw new Error(`${where}: cannot tell the row format from its keys [${Object.keys(value).join(', ')}]; ${FORMAT_HELP}`);
  }
  if (kinds.length > 1) throw new Error(`${where}: the row has the keys of two formats (${kinds.join(' and ')}); keep one`);
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  const str = (key: string): string => {
    const v = value[key];
    if (typeof v !== 'string') return fail(`field '${key}' must be a string, got ${describe(v)}`);
    return v;
  };
  switch (kinds[0]) {
    case 'tokens': {
      const inputIds = intList(value.input_ids, 'input_ids', fail);
      if (inputIds.length < 2) fail(`field 'input_ids' has ${inputIds.length} tokens; a training row needs at least 2`);
      let labels: number[] | null = null;
      if (value.labels !== undefined && value.labels !== null) {
        labels = intList(value.labels, 'labels', fail);
        if (labels.length !== inputIds.length) fail(`'labels' has ${labels.length} entries but 'input_ids' has ${inputIds.length}; expected equal lengths`);
      }
      return { kind: 'tokens', inputIds, labels };
    }
    case 'prompt_completion':
      return { kind: 'prompt_completion', prompt: str('prompt'), completion: str('completion') };
    case 'messages': {
      const m = value.messages;
      if (!Array.isArray(m) || m.length === 0) return fail(`field 'messages' must be a non-empty list of {"role","content"}, got ${describe(m)}`);
      const messages = m.map((turn, i): ChatTurn => {
        if (turn === null || typeof turn !== 'object') return fail(`messages[${i}] must be an object {"role","content"}, got ${describe(turn)}`);
        const { role, content } = turn as Record<string, unknown>;
        if (typeof role !== 'string') return fail(`messages[${i}].role must be a string, got ${describe(role)}`);
        if (typeof content !== 'string') return fail(`messages[${i}].content must be a string, got ${describe(content)}`);
        return { role, content };
      });
      if (!messages.some((t) => t.role === 'assistant')) fail(`'messages' has no assistant turn, so nothing would be trained on`);
      return { kind: 'messages', messages };
    }
    case 'still2': {
      const d = value.domain;
      if (d !== undefined && d !== null && typeof d !== 'string') fail(`field 'domain' must be a string, got ${describe(d)}`);
      return { kind: 'still2', question: str('question'), combinedText: str('combined_text'), domain: (d as string | undefined) ?? null };
    }
  }
}

function intList(v: unknown, key: string, fail: (m: string) => never): number[] {
  if (!Array.isArray(v)) return fail(`field '${key}' must be a list of integers, got ${describe(v)}`);
  v.forEach((x, i) => {
    if (!Number.isInteger(x)) fail(`${key}[${i}] must be an integer, got ${describe(x)}`);
  });
  return v as number[];
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
