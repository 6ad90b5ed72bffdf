// Converts the training-split problem sets in ../shared/data/train (see data/train/PROVENANCE.md) into
// the JSONL rows `still explore --data` and `still run` read: {"id", "problem", "answer", ...labels}.
// Run once from the repository root: npx tsx scripts/convert_train_data.ts ../shared/data/train
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const src = process.argv[2];
if (!src) throw new Error('usage: npx tsx scripts/convert_train_data.ts <dir with math_train.json, aime_1983_2023_train.json, gsm8k_train.jsonl>');
const out = 'data/train';
const jsonl = (rows: object[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

// MATH train: difficulty (a float 1–5; 0 for two rows) becomes the level label; rows without an answer are left out.
const math = JSON.parse(readFileSync(join(src, 'math_train.json'), 'utf8')) as { problem: string; answer: string | null; difficulty: number; type: string }[];
const mathRows = math.flatMap((r, i) => (r.answer === null || r.answer.trim() === '' ? [] : [{
  id: `math-train-${i + 1}`, problem: r.problem, answer: r.answer, ...(r.difficulty > 0 ? { level: String(Math.round(r.difficulty)) } : {}), subject: r.type,
}]));
writeFileSync(join(out, 'math_train.jsonl'), jsonl(mathRows));

// AIME 1983–2023: the year, contest (I/II) and problem number make the id; the worked solution is kept.
const aime = JSON.parse(readFileSync(join(src, 'aime_1983_2023_train.json'), 'utf8')) as { problem: string; solution: string; answer: string; year: number; aime_number: number; problem_number: number }[];
writeFileSync(join(out, 'aime_1983_2023.jsonl'), jsonl(aime.map((r) => ({
  id: `aime-${r.year}-${r.aime_number === 2 ? 'II' : 'I'}-${r.problem_number}`, problem: r.problem, answer: String(r.answer), year: r.year, solution: r.solution,
}))));

// GSM8K train: the final answer is the text after "####"; the worked solution stays as "solution".
const gsm = readFileSync(join(src, 'gsm8k_train.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { question: string; answer: string });
writeFileSync(join(out, 'gsm8k_train.jsonl'), jsonl(gsm.map((r, i) => {
  const at = r.answer.lastIndexOf('####');
  if (at < 0) throw new Error(`gsm8k_train.jsonl:${i + 1}: no "####" answer`);
  return { id: `gsm8k-train-${i + 1}`, problem: r.question, answer: r.answer.slice(at + 4).trim().replace(/,/g, ''), solution: r.answer.slice(0, at).trim() };
})));
console.log(`math_train.jsonl ${mathRows.length}, aime_1983_2023.jsonl ${aime.length}, gsm8k_train.jsonl ${gsm.length}`);
