// Every task, every level: teacher traces verify, are well-formed STILL-2 text, tokenize, and are seeded.
import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../src/tasks/char_tokenizer.ts';
import { getTask, TASKS, taskNames } from '../src/tasks/index.ts';
import { Rng } from '../src/tasks/rng.ts';
import { parseCompletion } from '../src/tasks/still_format.ts';
import { STEP_STYLES, type Problem, type Task, type TeacherOptions } from '../src/tasks/task.ts';
import { extractAnswer } from '../src/verify/extract.ts';

const tok = new CharTokenizer();
const SPECIAL_IDS = ['<|begin_of_thought|>', '<|end_of_thought|>', '<|begin_of_solution|>', '<|end_of_solution|>'] as const;

/** Seeded problems and traces at one level; the teacher gets its own stream per problem. */
function sample(task: Task, level: number, n: number, seed: number, options: TeacherOptions = {}): { p: Problem; trace: string }[] {
  const rng = new Rng(`${task.name}/${level}/${seed}`);
  return Array.from({ length: n }, () => {
    const p = task.generate(level, rng);
    return { p, trace: task.teacher(p, rng.fork(p.id), options) };
  });
}

describe.each(TASKS.map((t) => [t.name, t] as const))('task %s', (_name, task) => {
  const levels = Array.from({ length: task.maxLevel - task.minLevel + 1 }, (_, i) => task.minLevel + i);

  const cases = levels.flatMap((level) => STEP_STYLES.map((stepStyle) => [level, stepStyle] as const));
  it.each(cases)('level %i, %s steps: every teacher trace is well-formed and verifies as correct', (level, stepStyle) => {
    for (const { p, trace } of sample(task, level, 40, 1, { stepStyle })) {
      expect(p.task).toBe(task.name);
      expect(p.level).toBe(level);
      expect(p.id).toMatch(new RegExp(`^${task.name}-${level}-[0-9a-f]{16}$`));
      const parsed = parseCompletion(trace);
      expect(parsed, trace).not.toBeNull();
      expect(parsed!.steps.length).toBeGreaterThanOrEqual(2);
      for (const step of parsed!.steps) {
        expect(step.length).toBeGreaterThan(0);
        expect(step).not.toMatch(/^\n|\n$/);
      }
      expect(parsed!.steps.some((s) => s.startsWith('Check: '))).toBe(true);
      const answer = extractAnswer(trace);
      expect(answer, trace).not.toBeNull();
      expect(task.check(answer!, p), trace).toBe(true);
      expect(task.check(p.answer, p)).toBe(true);
    }
  });

  it('round-trips questions and traces through the char tokenizer, tags as single ids', () => {
    for (const level of levels) {
      for (const { p, trace } of [...sample(task, level, 10, 2, { reflectionRate: 0.5 }), ...sample(task, level, 5, 2, { stepStyle: 'compact' })]) {
        expect(tok.decode(tok.encode(p.question))).toBe(p.question);
        const ids = tok.encode(trace);
        expect(tok.decode(ids)).toBe(trace);
        for (const s of SPECIAL_IDS) expect(ids.filter((id) => id === tok.specialId(s)).length).toBe(1);
        // Nothing but the four tags is special: no stray pad/eos inside a trace.
        expect(ids.filter((id) => id < 7).length).toBe(4);
      }
    }
  });

  it('is deterministic per seed, and different seeds give different problems', () => {
    const level = Math.min(task.maxLevel, task.minLevel + 2);
    const a = sample(task, level, 20, 3);
    const b = sample(task, level, 20, 3);
    const c = sample(task, level, 20, 4);
    expect(b).toEqual(a);
    expect(c.map((x) => x.p.question)).not.toEqual(a.map((x) => x.p.question));
  });

  it('gives the same question the same id, and different questions different ids', () => {
    const all = levels.flatMap((level) => sample(task, level, 40, 5).map((x) => x.p));
    const idOf = new Map<string, string>();
    for (const p of all) {
      const seen = idOf.get(p.question);
      if (seen !== undefined) expect(p.id).toBe(seen);
      idOf.set(p.question, p.id);
    }
    expect(new Set(idOf.values()).size).toBe(idOf.size);
  });

  it('puts a caught slip or dead end in ~30% of traces by default, and hasReflection sees exactly those', () => {
    let withMarker = 0;
    let total = 0;
    for (const level of levels.slice(0, 5)) {
      for (const { trace } of sample(task, level, 400, 6)) {
        const steps = parseCompletion(trace)!.steps;
        const marked = steps.some((s) => s.startsWith('Wait, ') || s.endsWith(' no'));
        expect(task.hasReflection(trace)).toBe(marked);
        if (marked) withMarker++;
        total++;
      }
    }
    expect(withMarker / total).toBeGreaterThan(0.26);
    expect(withMarker / total).toBeLessThan(0.34);
  });

  it('follows reflectionRate: 0 gives clean traces, 1 gives a self-correction in every trace', () => {
    for (const level of levels.slice(0, 4)) {
      for (const { p, trace } of sample(task, level, 50, 7, { reflectionRate: 0 })) {
        expect(task.hasReflection(trace)).toBe(false);
        expect(task.check(extractAnswer(trace)!, p)).toBe(true);
      }
      for (const { p, trace } of sample(task, level, 50, 7, { reflectionRate: 1, stepStyle: level % 2 ? 'compact' : 'restate' })) {
        expect(task.hasReflection(trace), trace).toBe(true);
        expect(task.check(extractAnswer(trace)!, p)).toBe(true);
      }
    }
  });

  it('rejects levels it does not generate', () => {
    expect(() => task.generate(task.minLevel - 1, new Rng(1))).toThrow(/level must be an integer in/);
    expect(() => task.generate(task.maxLevel + 1, new Rng(1))).toThrow(/level must be an integer in/);
    expect(() => task.generate(task.minLevel + 0.5, new Rng(1))).toThrow(/level must be an integer in/);
  });

  it('rejects a missing or empty answer', () => {
    const [{ p }] = sample(task, task.minLevel + 1, 1, 8);
    expect(task.check('', p!)).toBe(false);
    expect(task.check('banana', p!)).toBe(false);
  });
});

describe('hasReflection', () => {
  it('ignores marker words outside the thought and mid-step', () => {
    const task = getTask('addition');
    const clean = '<|begin_of_thought|>1+1+0=02 +:2\n\nCheck: 2-1=1<|end_of_thought|><|begin_of_solution|>Wait, no\\boxed{2}<|end_of_solution|>';
    expect(task.hasReflection(clean)).toBe(false);
    expect(task.hasReflection('<|begin_of_thought|>1+1+0=03 +:3\n\nWait, 1+1+0=02 +:2<|end_of_thought|>')).toBe(true);
    // A truncated rollout still counts what it shows.
    expect(task.hasReflection('<|begin_of_thought|>2+3=6 no\n\n2*3=6 yes')).toBe(true);
  });
});

describe('registry', () => {
  it('finds each task by name', () => {
    for (const name of taskNames()) expect(getTask(name).name).toBe(name);
    expect(taskNames()).toEqual(['addition', 'multiplication', 'countdown']);
  });

  it('lists the known names when the name is unknown', () => {
    expect(() => getTask('sorting')).toThrow(/unknown task "sorting"; known tasks: addition, multiplication, countdown/);
  });
});
