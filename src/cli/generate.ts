// `still generate`: continue prompts (token ids or text) with the batched sampler and print JSON:
// {"sequences": [[prompt + generated ids]], "texts": [generated text] | null, "finish_reasons": [...],
//  "logprobs"?: [[per generated token]]}, rows ordered prompt-major, then sample index.
import type { Command } from 'commander';
import { loadModel } from '../nn/load.ts';
import type { GenerationResult } from '../sample/request.ts';
import { useBackend } from './backend_option.ts';
import { claimOutputFile } from '../io/output_policy.ts';
import { emitJson, stderrNotice } from './output.ts';
import { readTextPrompts, readTokenPrompts } from './prompt_input.ts';
import { makeGenerator, optionalTokenizer, samplingParams } from '../sample/sampling.ts';
import { addMemoryOption, addSamplingOptions, type SamplingFlags } from './sampling_options.ts';

interface GenerateFlags extends SamplingFlags {
  model: string;
  tokens?: string;
  prompts?: string;
  out?: string;
  overwrite?: boolean;
}

export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('generate continuations of prompts: greedy by default, or sampled (vLLM semantics)')
    .requiredOption('--model <dir>', 'HF model directory')
    .option('--tokens <file>', 'JSON array of token-id prompt rows (lengths may differ)')
    .option('--prompts <file>', 'JSONL of {"prompt": text} or {"messages": [...]} (needs tokenizer.json in --model)')
    .option('--out <file>', 'write the JSON here instead of stdout')
    .option('--overwrite', 'replace an existing --out');
  addMemoryOption(addSamplingOptions(cmd, 32)).action(function (this: Command, o: GenerateFlags) {
    if (!!o.tokens === !!o.prompts) throw new Error('generate: give exactly one of --tokens FILE or --prompts FILE.jsonl');
    useBackend(this);
    const tok = optionalTokenizer(o.model);
    if (o.prompts && !tok) throw new Error(`${o.model}: --prompts needs a tokenizer, and there is no tokenizer.json (use --tokens)`);
    const prompts = o.prompts ? readTextPrompts(o.prompts, tok!) : readTokenPrompts(o.tokens!);
    if (o.out) claimOutputFile(o.out, { overwrite: o.overwrite });
    const model = loadModel(o.model);
    const gen = makeGenerator(model, prompts, o, tok, stderrNotice);
    const params = samplingParams(o);
    const progress = process.stderr.isTTY ? progressLine() : undefined;
    let results: GenerationResult[];
    try {
      results = gen.generate(prompts.map((prompt) => ({ prompt, n: o.n, params })), { onStep: progress });
    } finally {
      gen.dispose();
      if (progress) process.stderr.write('\n');
    }
    emitJson(
      {
        sequences: results.map((r) => [...prompts[r.request], ...r.tokens]),
        texts: tok ? results.map((r) => r.text ?? '') : null,
        finish_reasons: results.map((r) => r.finishReason),
        ...(o.logprobs ? { logprobs: results.map((r) => r.logprobs ?? []) } : {}),
      },
      o.out,
    );
  });
}

/** A one-line progress report on a terminal's stderr. */
function progressLine(): (e: { finished: number; total: number; generated: number; active: number }) => void {
  const t0 = performance.now();
  return (e) => {
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`\rstill generate: ${e.finished}/${e.total} samples, ${e.active} active, ${e.generated} tokens, ${(e.generated / s).toFixed(1)} tok/s   `);
  };
}
