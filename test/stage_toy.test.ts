// The toy stages as commands, chained on a micro student (seconds): imitate → explore → improve give
// loadable models and a pool whose every row verifies; the distilled set rebuilt from --task equals the
// one imitate wrote; explore leaves out distilled problems; errors name what is wrong.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenizer } from '../src/loop/toy.ts';
import { distilledTrajectories } from '../src/loop/stage_toy.ts';
import { verifyRollout } from '../src/loop/verify.ts';
import { loadModel } from '../src/nn/load.ts';
import { getTask } from '../src/tasks/index.ts';
import type { Problem } from '../src/tasks/task.ts';
import { readRows, runStage } from './stage_helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'still-stage-toy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const at = (name: string) => join(tmp, name);

const addition = getTask('addition');
/** The addition problem a pool row is about (its gold answer is the sum of the question's operands). */
function problemOf(row: Record<string, any>): Problem {
  const answer = String((row.question as string).split('+').reduce((a, x) => a + BigInt(x), 0n));
  return { id: row.problemId, task: 'addition', level: row.level, question: row.question, answer };
}

// A micro student that learns the 100 one-digit sums well enough in ~3 s to solve some of them.
const MICRO = ['--task', 'addition', '--levels', '1', '--examples', '100', '--model-size', 'micro', '--epochs', '8', '--lr', '0.02', '--warmup', '5', '--quiet'];

describe('still imitate | explore | improve on a toy task', () => {
  it('chains imitate → explore → improve into loadable models and a verified pool', async () => {
    const im = await runStage(['imitate', ...MICRO, '--out', at('imitated')]);
    expect(im.summary).toMatchObject({ status: 'done', task: 'addition', levels: [1], distilled: 100 });
    expect(im.summary.loss).toBeLessThan(1);
    const student = loadModel(at('imitated'), { quiet: true });
    expect(student.config.vocabSize).toBe(tokenizer.vocabSize);
    expect(student.config.maxPositionEmbeddings).toBe(im.summary.context);
    const distilled = readRows(at('imitated/distilled.jsonl'));
    expect(distilled).toHaveLength(100);
    for (const row of distilled) expect(verifyRollout(addition, problemOf(row), row.completion).correct).toBe(true);

    // With its still_toy.json note, the student never explores what it was distilled on: all 100 sums were.
    await expect(runStage(['explore', '--model', at('imitated'), '--task', 'addition', '--levels', '1', '--quiet', '--out', at('none.jsonl')]))
      .rejects.toThrow('no new problems at levels 1 (all are distilled or in the pool)');

    // A `still run` round has no note: then level 1 is fair game, and the student solves some sums.
    mkdirSync(at('round'));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(at(`imitated/${f}`), at(`round/${f}`));
    const ex = await runStage(['explore', '--model', at('round'), '--task', 'addition', '--levels', '1', '--problems', '30', '--k', '8', '--quiet', '--out', at('pool.jsonl')]);
    expect(ex.summary).toMatchObject({ task: 'addition', round: 1, problems: 30, rollouts: 240 });
    expect(ex.summary.correct).toBeGreaterThan(0);
    expect(ex.summary.correct).toBeLessThan(240);
    const pool = readRows(at('pool.jsonl'));
    expect(pool.length).toBe(ex.summary.pool_size);
    expect(pool.length).toBeGreaterThan(0);
    expect(new Set(pool.map((r) => r.problemId)).size).toBe(pool.length); // --cap 1
    for (const row of pool) {
      expect(row).toMatchObject({ level: 1, round: 1 });
      expect(verifyRollout(addition, problemOf(row), row.completion).correct).toBe(true);
    }
    expect(ex.summary.solved_by_level['1']).toBeCloseTo((100 * pool.length) / 30, 10);

    // Exploring again with the pool is round 2: new problems, the old trajectories kept.
    const ex2 = await runStage(['explore', '--model', at('round'), '--task', 'addition', '--levels', '1', '--problems', '10', '--k', '8', '--pool', at('pool.jsonl'), '--quiet', '--out', at('pool2.jsonl')]);
    expect(ex2.summary.round).toBe(2);
    const pool2 = readRows(at('pool2.jsonl'));
    expect(pool2.slice(0, pool.length)).toEqual(pool);
    expect(pool2.length).toBe(pool.length + ex2.summary.added);
    for (const row of pool2.slice(pool.length)) expect(row.round).toBe(2);

    // improve: --distilled FILE and --task (rebuilt from the note) train on the same data, so on the same weights.
    const a = await runStage(['improve', '--model', at('imitated'), '--pool', at('pool.jsonl'), '--distilled', at('imitated/distilled.jsonl'), '--quiet', '--out', at('improved-a')]);
    const b = await runStage(['improve', '--model', at('imitated'), '--pool', at('pool.jsonl'), '--task', 'addition', '--quiet', '--out', at('improved-b')]);
    expect(a.summary).toMatchObject({ status: 'done', init: 'continue', round: 1, distilled: 100, pool: pool.length });
    expect(readFileSync(at('improved-b/model.safetensors'))).toEqual(readFileSync(at('improved-a/model.safetensors')));
    expect(readFileSync(at('improved-a/model.safetensors'))).not.toEqual(readFileSync(at('imitated/model.safetensors')));
    expect(JSON.parse(readFileSync(at('improved-a/still_toy.json'), 'utf8'))).toMatchObject({ task: 'addition', stage: 'improve', round: 1 });
    expect(loadModel(at('improved-a'), { quiet: true }).config.vocabSize).toBe(tokenizer.vocabSize);
    // The improved student's note says round 1 is done, so exploring with it is round 2.
    const ex3 = await runStage(['explore', '--model', at('improved-a'), '--task', 'addition', '--levels', '2', '--problems', '3', '--k', '2', '--quiet', '--out', at('pool3.jsonl')]);
    expect(ex3.summary.round).toBe(2);

    // --init base retrains a fresh student of the same shape on the same data.
    const c = await runStage(['improve', '--model', at('imitated'), '--pool', at('pool.jsonl'), '--task', 'addition', '--init', 'base', '--epochs', '2', '--quiet', '--out', at('improved-c')]);
    expect(c.summary.init).toBe('base');
    expect(c.summary.step).toBe(Math.ceil((2 * (100 + pool.length)) / 8)); // 2 epochs, batch 8
    const fresh = loadModel(at('improved-c'), { quiet: true });
    expect(fresh.config.hiddenSize).toBe(student.config.hiddenSize);
    expect(readFileSync(at('improved-c/model.safetensors'))).not.toEqual(readFileSync(at('improved-a/model.safetensors')));
  }, 60_000);

  it('takes the student shape and training settings from an experiment config', async () => {
    const cfg = at('exp.json');
    writeFileSync(cfg, JSON.stringify({
      name: 'x', seed: 5, task: 'multiplication',
      model: { hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32 },
      levels: { distill: [1, 2], explore: [3], eval: [3] },
      imitate: { examples: 12, epochs: 1, lr: 0.01, batchSize: 4, warmup: 1 },
      improve: { epochs: 1, lr: 0.01, batchSize: 4 },
    }));
    const r = await runStage(['imitate', '--config', cfg, '--quiet', '--out', at('from-config')]);
    expect(r.summary).toMatchObject({ task: 'multiplication', levels: [1, 2], distilled: 12, step: 3 });
    expect(loadModel(at('from-config'), { quiet: true }).config.hiddenSize).toBe(16);
    expect(JSON.parse(readFileSync(at('from-config/still_toy.json'), 'utf8')).distill).toMatchObject({ seed: 5, examples: 12 });
  }, 30_000);

  it('distils scarce levels as `still run` does, and keeps them in the note for explore and improve', async () => {
    const r = await runStage(['imitate', '--task', 'addition', '--levels', '1,2', '--examples', '6', '--scarce-levels', '4', '--scarce-examples', '3',
      '--step-style', 'compact', '--model-size', 'micro', '--epochs', '1', '--quiet', '--out', at('scarce')]);
    expect(r.summary).toMatchObject({ levels: [1, 2], scarce_levels: [4], distilled: 9 });
    const rows = readRows(at('scarce/distilled.jsonl'));
    expect(rows.map((t) => t.level)).toEqual([1, 1, 1, 2, 2, 2, 4, 4, 4]);
    const note = JSON.parse(readFileSync(at('scarce/still_toy.json'), 'utf8'));
    expect(note.distill).toMatchObject({ levels: [1, 2], examples: 6, scarceLevels: [4], scarceExamples: 3, stepStyle: 'compact' });
    expect(distilledTrajectories(addition, note.distill)).toEqual(rows);
    expect(distilledTrajectories(addition, { ...note.distill, stepStyle: 'restate' }).map((t) => t.completion)).not.toEqual(rows.map((t) => t.completion));
    // Rebuilt from the note, the distilled set is the same: --task and --distilled train to the same weights.
    writeFileSync(at('empty.jsonl'), '');
    const viaTask = await runStage(['improve', '--model', at('scarce'), '--pool', at('empty.jsonl'), '--task', 'addition', '--quiet', '--out', at('scarce-a')]);
    const viaFile = await runStage(['improve', '--model', at('scarce'), '--pool', at('empty.jsonl'), '--distilled', at('scarce/distilled.jsonl'), '--quiet', '--out', at('scarce-b')]);
    expect(viaTask.summary).toMatchObject({ distilled: 9, pool: 0, round: 1 });
    expect(readFileSync(at('scarce-a/model.safetensors'))).toEqual(readFileSync(at('scarce-b/model.safetensors')));
  }, 30_000);

  it('refuses what it cannot do, naming the flag, the task, the level or the file', async () => {
    const fail = (args: string[]) => runStage([...args, '--quiet', '--out', at('never')]);
    await expect(fail(['imitate', '--task', 'nope', '--levels', '1', '--examples', '3'])).rejects.toThrow('unknown task "nope"; known tasks: addition, multiplication, countdown');
    await expect(fail(['imitate', '--task', 'countdown', '--levels', '1,2', '--examples', '3'])).rejects.toThrow('--levels: level 1 is outside the range of task countdown [2, 6]');
    await expect(fail(['imitate', '--task', 'addition', '--levels', '1', '--examples', '3', '--lora-r', '4'])).rejects.toThrow('--lora-r does not apply to the toy stage');
    await expect(fail(['imitate'])).rejects.toThrow('still imitate needs --model DIR and --data FILE');
    await expect(fail(['imitate', '--task', 'addition', '--examples', '3'])).rejects.toThrow('the toy stage needs --levels');
    await expect(fail(['imitate', '--task', 'addition', '--levels', '1', '--examples', '3', '--scarce-levels', '3'])).rejects.toThrow('--scarce-levels 3 needs --scarce-examples N');
    await expect(fail(['explore', '--model', at('imitated'), '--task', 'addition', '--levels', '31'])).rejects.toThrow('level 31 is outside the range of task addition [1, 30]');
    await expect(fail(['explore', '--model', at('imitated'), '--task', 'addition'])).rejects.toThrow('--task needs --levels');
    await expect(fail(['explore', '--model', at('imitated'), '--levels', '2'])).rejects.toThrow('one of --task NAME (a toy student) or --data FILE');
    writeFileSync(at('still2.jsonl'), `${JSON.stringify({ question: 'q', combined_text: 't', domain: 'math' })}\n`);
    await expect(fail(['explore', '--model', at('imitated'), '--task', 'addition', '--levels', '2', '--pool', at('still2.jsonl')])).rejects.toThrow('holds STILL-2 rows, but --task explores into toy trajectories');
    writeFileSync(at('broken.jsonl'), `${JSON.stringify({ problemId: 'p', level: 1, question: '1+1', completion: 'x', round: 1 })}\n`);
    await expect(fail(['improve', '--model', at('imitated'), '--pool', at('broken.jsonl')])).rejects.toThrow(`${at('broken.jsonl')}:1: field 'reflection' must be true or false`);
    await expect(fail(['improve', '--model', at('imitated'), '--pool', at('broken.jsonl'), '--resume'])).rejects.toThrow('--resume does not apply to a toy student');
  }, 30_000);
});
