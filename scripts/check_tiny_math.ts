// Measures the premise of examples/tiny-math (made by scripts/make_tiny_math.ts) on the CPU:
//   (a) the base model's greedy accuracy per level of test.jsonl (high at the easy levels),
//   (b) after full SFT of the base on distilled.jsonl: greedy accuracy per level (low but not zero at the
//       hard level) and pass@k at temperature 0.7 on explore problems (clearly higher: exploration finds
//       correct rollouts to learn from).
// Grading is the HF explore stage's gate: the long-thought format, then the last \boxed{} of the solution
// block checked by the math grader against the gold answer.
//
//   npx tsx scripts/check_tiny_math.ts [--dir=examples/tiny-math] [--epochs=3] [--lr=0.001] [--k=8] [--explore=100]
//                                      [--temperature=0.7] [--save=DIR]
// --epochs=0 measures the base only; --save writes the fine-tuned model to DIR/model. The model runs on the
// CPU backend (the default backend of a script that selects none), so the numbers are reproducible.
import { join } from 'node:path';
import { loadSftDataset } from '../src/data/dataset.ts';
import { still2FormatProblem } from '../src/data/still2.ts';
import { loadHfTokenizer, type HfTokenizer } from '../src/io/hf_tokenizer.ts';
import { readJsonl } from '../src/data/jsonl.ts';
import { loadModel } from '../src/nn/load.ts';
import type { DecoderModel } from '../src/nn/model.ts';
import { saveHfModel } from '../src/nn/save.ts';
import { Generator } from '../src/sample/generator.ts';
import { train } from '../src/train/trainer.ts';
import { lastBoxed, solutionBlock } from '../src/verify/extract.ts';
import { gradeAnswer } from '../src/verify/grade.ts';

const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([\w-]+)=(.*)$/.exec(a)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]));
const DIR = args.dir ?? 'examples/tiny-math';
const EPOCHS = Number(args.epochs ?? 3);
const LR = Number(args.lr ?? 0.001);
const K = Number(args.k ?? 8);
const EXPLORE = Number(args.explore ?? 100);
const TEMPERATURE = Number(args.temperature ?? 0.7);
const SAVE = args.save; // write the fine-tuned model here (an HF directory), to look at it further

interface Item { problem: string; answer: string; level: number }
const items = (file: string): Item[] => readJsonl(join(DIR, file)).map((r) => r.value as unknown as Item);

/** Did this completion answer `gold` in the STILL-2 format? */
function correct(text: string, gold: string): boolean {
  if (still2FormatProblem(text) !== null) return false;
  const box = lastBoxed(solutionBlock(text) ?? '');
  return box !== null && gradeAnswer(box, gold);
}

/** For each item, how many of its n samples are correct (n = 1 and greedy when temperature is 0). */
function solve(model: DecoderModel, tok: HfTokenizer, problems: Item[], temperature: number, n: number): number[] {
  const gen = new Generator(model, {
    maxBatch: 64, maxLen: model.config.maxPositionEmbeddings, seed: 1,
    tokenizer: { vocabSize: tok.vocabSize, eosId: tok.eosId, padId: tok.padId, encode: (t) => tok.encode(t), decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }) },
  });
  try {
    const prompts = problems.map((p) => tok.encodeChat([{ role: 'user', content: p.problem }], { addGenerationPrompt: true }));
    const results = gen.generate(prompts.map((prompt, i) => ({
      prompt, n, seedIndex: i, params: { temperature, topP: 1, maxNewTokens: model.config.maxPositionEmbeddings - prompt.length },
    })));
    const solved = problems.map(() => 0);
    for (const r of results) if (correct(r.text ?? '', problems[r.request]!.answer)) solved[r.request]!++;
    return solved;
  } finally {
    gen.dispose();
  }
}

function greedyByLevel(model: DecoderModel, tok: HfTokenizer, problems: Item[]): string {
  const t0 = performance.now();
  const solved = solve(model, tok, problems, 0, 1);
  const levels = [...new Set(problems.map((p) => p.level))].sort((a, b) => a - b);
  const parts = levels.map((l) => {
    const at = problems.flatMap((p, i) => (p.level === l ? [solved[i]!] : []));
    return `L${l} ${((100 * at.reduce((a, x) => a + x, 0)) / at.length).toFixed(1)}% (${at.length})`;
  });
  return `${parts.join(', ')} [${((performance.now() - t0) / 1000).toFixed(1)} s]`;
}

const tok = loadHfTokenizer(join(DIR, 'model'));
const test = items('test.jsonl');
const model = loadModel(join(DIR, 'model'), { quiet: true });
console.log(`base, greedy on test.jsonl: ${greedyByLevel(model, tok, test)}`);

if (EPOCHS === 0) process.exit(0);
const ctx = { tokenizer: tok, chat: tok.renderChat.bind(tok), tokenizerLabel: DIR, still2Template: '', requireStill2Format: true };
const { examples, stats } = loadSftDataset(join(DIR, 'distilled.jsonl'), ctx, { vocabSize: tok.vocabSize });
const t0 = performance.now();
const run = await train(model, { train: examples }, { epochs: EPOCHS, lr: LR, batchSize: 8, schedule: 'cosine', warmup: 10, seed: 1, shuffle: true, maxGradNorm: 1 });
const sftSeconds = (performance.now() - t0) / 1000;
console.log(`SFT on distilled.jsonl: ${examples.length} rows, ${stats.tokens} tokens, ${EPOCHS} epochs, ${run.step} steps, lr ${LR}: ` +
  `${sftSeconds.toFixed(1)} s (${(sftSeconds / EPOCHS).toFixed(1)} s an epoch)`);
if (SAVE) saveHfModel(model, join(SAVE, 'model'), { copyFilesFrom: join(DIR, 'model') });
console.log(`after SFT, greedy on test.jsonl: ${greedyByLevel(model, tok, test)}`);
const explore = items('explore.jsonl').slice(0, EXPLORE);
if (explore.length === 0) process.exit(0);
const greedy = solve(model, tok, explore, 0, 1).filter((s) => s > 0).length;
const t1 = performance.now();
const solved = solve(model, tok, explore, TEMPERATURE, K);
const any = solved.filter((s) => s > 0).length;
const total = solved.reduce((a, s) => a + s, 0);
console.log(`after SFT, ${explore.length} explore problems × ${K} at temperature ${TEMPERATURE}: pass@${K} ${((100 * any) / explore.length).toFixed(1)}% ` +
  `(greedy ${((100 * greedy) / explore.length).toFixed(1)}%), ` +
  `${total} of ${explore.length * K} rollouts correct (${((100 * total) / (explore.length * K)).toFixed(1)}%) [${((performance.now() - t1) / 1000).toFixed(1)} s]`);
