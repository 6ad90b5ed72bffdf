// The layering of src/ (tensor → backends → nn → train/sample → loop → cli), read from the sources: every
// `import … from`, `export … from`, bare `import '…'` and `import('…')` with a relative path, resolved to a
// file under the repository. A broken rule lists each offending file with the import as written.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

interface Import {
  /** The importing file, relative to the repository root ('src/backends/cpu/index.ts'). */
  file: string;
  /** The specifier as written ('../../tensor/tensor.ts'). */
  spec: string;
  /** What it resolves to, relative to the root ('src/tensor/tensor.ts'). */
  target: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []);
}

// Static forms: import/export with a clause then `from`, and bare side-effect imports; then dynamic import().
// The clause may span lines ({ a,\n b }). Comments that open a line go first, so an example in one is not read.
const STATIC = /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s*(?:as\s+[\w$]+\s*)?|\{[^}]*\}\s*)?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function stripComments(text: string): string {
  return text.replace(/^\s*\/\*[\s\S]*?\*\//gm, '').replace(/^\s*\/\/.*$/gm, '');
}

function importsOf(file: string): Import[] {
  const text = stripComments(readFileSync(join(ROOT, file), 'utf8'));
  const specs = [...text.matchAll(STATIC)].map((m) => m[1] ?? m[2]).concat([...text.matchAll(DYNAMIC)].map((m) => m[1]));
  return specs
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => ({ file, spec, target: relative(ROOT, resolve(ROOT, dirname(file), spec)).split('\\').join('/') }));
}

const under = (path: string, dir: string) => path.startsWith(`${dir}/`);
const show = (i: Import) => `${i.file} imports '${i.spec}' (${i.target})`;
const SRC = sourceFiles('src').filter((f) => !f.endsWith('.gen.ts'));

describe('import rules', () => {
  it('reads imports, exports and dynamic imports, and resolves them from the importing file', () => {
    const cpu = importsOf('src/backends/cpu/index.ts').map((i) => i.target);
    expect(cpu).toContain('src/tensor/tensor.ts');
    expect(cpu).toContain('src/backends/backend.ts');
    expect(cpu).toContain('src/backends/cpu/gemm.ts');
    expect(importsOf('src/tasks/index.ts').map((i) => i.target)).toContain('src/tasks/rng.ts'); // export … from
    expect(importsOf('src/cli/grade.ts').map((i) => i.target)).toContain('src/verify/grade.ts'); // import('…')
    expect(SRC.length).toBeGreaterThan(100);
  });

  it('nothing outside src/cli/ imports src/cli/ (commands sit on top; the library does not reach up into them)', () => {
    const bad = SRC.filter((f) => !under(f, 'src/cli')).flatMap(importsOf).filter((i) => under(i.target, 'src/cli'));
    expect(bad.map(show)).toEqual([]);
  });

  it('src/backends/ imports only src/tensor/ and src/backends/ (a backend knows tensors, nothing above them)', () => {
    const bad = SRC.filter((f) => under(f, 'src/backends')).flatMap(importsOf)
      .filter((i) => under(i.target, 'src') && !under(i.target, 'src/tensor') && !under(i.target, 'src/backends'));
    expect(bad.map(show)).toEqual([]);
  });
});
