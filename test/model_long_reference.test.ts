// The decoder against independent float64 references on sequences the short HF references (at most 30
// positions) never reach:
// 200 tokens (four 64-row attention blocks), and 96 tokens whose positions jump by ~3000 halfway (queries at
// positions up to 4047 attending to keys ~3000 positions back: RoPE far out).
// The references are fixtures/<name>/long_reference.json, written by scripts/reference/make_long_references.py
// with a plain-PyTorch forward (scripts/reference/torch_forward.py), and long_reference_hf.json, the same
// cases from HF transformers (scripts/reference/hf_references.py), once that has been run and committed;
// see fixtures/<name>/PROVENANCE.md.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/nn/load.ts';
import { LONG_REFERENCE_TOL, longCaseErrors, readLongReference } from './long_reference_helpers.ts';

const references = ['fixtures/tiny-qwen2', 'fixtures/tiny-llama'].flatMap((dir) =>
  [['long_reference.json', 'the float64 PyTorch reference'], ['long_reference_hf.json', 'HF transformers (float64)']]
    .filter(([file]) => existsSync(`${dir}/${file}`))
    .map(([file, source]) => ({ dir, file, source })));

for (const { dir, file, source } of references) {
  describe(`${dir} on long sequences matches ${source} (${file})`, () => {
    const ref = readLongReference(`${dir}/${file}`);
    const model = loadModel(dir, { quiet: true });

    for (const c of ref.cases) {
      it(`${c.name}: ${c.input_ids.length}×${c.input_ids[0].length} tokens, positions up to ${Math.max(...c.position_ids.flat())}`, () => {
        expect(c.checked_positions.some((p) => p >= 64)).toBe(true); // past the first attention block
        const e = longCaseErrors(model, c);
        console.log(`${dir}/${file} ${c.name}: worst logit error ${e.logits.toExponential(2)}, log-prob ${e.logprobs.toExponential(2)}`);
        expect(e.logits).toBeLessThan(LONG_REFERENCE_TOL);
        expect(e.logprobs).toBeLessThan(LONG_REFERENCE_TOL);
      });
    }
  });
}

it('has the PyTorch reference for both fixtures', () => {
  expect(references.filter((r) => r.file === 'long_reference.json').map((r) => r.dir)).toEqual(['fixtures/tiny-qwen2', 'fixtures/tiny-llama']);
});
