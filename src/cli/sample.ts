// `still sample`: interactive generation from one prompt, streaming the text (or ids) to the terminal as
// it is drawn. The prompt goes through the model's chat template unless --no-chat; models without a
// tokenizer take space-separated token ids (--ids).
import { writeSync } from 'node:fs';
import type { Command } from 'commander';
import { loadModel } from '../nn/load.ts';
import { useBackend } from './backend_option.ts';
import { encodePrompt } from './prompt_input.ts';
import { makeGenerator, optionalTokenizer, samplingParams } from '../sample/sampling.ts';
import { stderrNotice } from './output.ts';
import { addMemoryOption, addSamplingOptions, type SamplingFlags } from './sampling_options.ts';

interface SampleFlags extends SamplingFlags {
  model: string;
  chat: boolean;
  system?: string;
  ids?: boolean;
}

export function registerSample(program: Command): void {
  const cmd = program
    .command('sample')
    .description('stream a generation from one prompt to the terminal')
    .argument('<prompt>', 'prompt text (or space-separated token ids with --ids)')
    .requiredOption('--model <dir>', 'HF model directory')
    .option('--no-chat', 'use the prompt as raw text instead of a user message in the chat template')
    .option('--system <text>', 'system message for the chat template')
    .option('--ids', 'the prompt is token ids, and ids are printed (models without a tokenizer)');
  addMemoryOption(addSamplingOptions(cmd, 256)).action(function (this: Command, promptArg: string, o: SampleFlags) {
    useBackend(this);
    const tok = o.ids ? null : optionalTokenizer(o.model);
    if (!o.ids && !tok) throw new Error(`${o.model}: there is no tokenizer.json; pass the prompt as token ids with --ids`);
    const prompt = o.ids ? parseIds(promptArg) : encodePrompt(
      o.chat && tok!.chatTemplate
        ? { messages: [...(o.system ? [{ role: 'system', content: o.system }] : []), { role: 'user', content: promptArg }] }
        : { prompt: promptArg },
      tok!, 'prompt',
    );
    const model = loadModel(o.model);
    const gen = makeGenerator(model, [prompt], { ...o, maxBatch: Math.min(o.maxBatch, o.n) }, tok, stderrNotice);
    const t0 = performance.now();
    const out = (s: string) => writeSync(1, s);
    let tokens = 0;
    try {
      const results = gen.generate([{ prompt, n: o.n, params: samplingParams(o) }], {
        onToken: (e) => {
          tokens++;
          if (o.n > 1) return; // several samples interleave: print each whole when it finishes (below)
          out(o.ids ? `${e.token} ` : e.text);
        },
      });
      for (const r of results) {
        if (o.n > 1) out(`--- sample ${r.sample} ---\n${o.ids ? r.tokens.join(' ') : r.text}\n`);
        const why = r.finishReason === 'stop' ? `stop (${JSON.stringify(r.stopReason)})` : 'length';
        process.stderr.write(`${o.n > 1 ? '' : '\n'}[sample ${r.sample}: ${r.tokens.length} tokens, finished by ${why}]\n`);
      }
    } finally {
      gen.dispose();
    }
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`[${tokens} tokens in ${s.toFixed(2)} s, ${(tokens / s).toFixed(1)} tok/s]\n`);
  });
}

function parseIds(text: string): number[] {
  const parts = text.trim().split(/[\s,]+/);
  return parts.map((p, i) => {
    const x = Number(p);
    if (!Number.isInteger(x) || x < 0) throw new Error(`--ids: prompt word ${i} '${p}' is not a token id`);
    return x;
  });
}
