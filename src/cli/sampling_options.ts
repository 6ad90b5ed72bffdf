// The sampling flags shared by `still generate`, `still sample` and `still eval`. They parse into the
// library's SamplingOptions (src/sample/sampling.ts), which turns them into SamplingParams and a Generator.
import type { Command } from 'commander';
import type { SamplingOptions } from '../sample/sampling.ts';

export type SamplingFlags = SamplingOptions;

function number(flag: string, integer: boolean) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
      throw new Error(`${flag} expects ${integer ? 'an integer' : 'a number'}, got '${v}'`);
    }
    return x;
  };
}

/** --max-memory for the commands that size their own generator (generate, sample): slots fit in GiB. */
export function addMemoryOption(cmd: Command): Command {
  return cmd.option('--max-memory <GiB>', 'lower --max-batch so the weights, a forward and the KV cache fit in this many GiB (fails when not one slot fits)', number('--max-memory', false));
}

export function addSamplingOptions(cmd: Command, defaultMaxNewTokens: number): Command {
  return cmd
    .option('--max-new-tokens <n>', 'most tokens to generate per sample', number('--max-new-tokens', true), defaultMaxNewTokens)
    .option('--n <k>', 'samples per prompt (they share one prefill)', number('--n', true), 1)
    .option('--temperature <t>', '0 = greedy; default 0 unless another sampling flag is given, then 1', number('--temperature', false))
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]', number('--top-p', false))
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', number('--top-k', true))
    .option('--min-p <m>', 'drop tokens below m × the top probability', number('--min-p', false))
    .option('--repetition-penalty <r>', 'penalise tokens already in the prompt or output (1 = off)', number('--repetition-penalty', false))
    .option('--seed <s>', 'Philox seed: the same seed, inputs and backend give the same tokens', number('--seed', true))
    .option('--stop <str>', 'stop when the text contains STR (repeatable; stripped from the text)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--logprobs', "return each generated token's log-prob under the raw model")
    .option('--ignore-eos', 'keep generating past EOS ids')
    .option('--greedy', 'argmax decoding (temperature 0)')
    .option('--max-batch <n>', 'slots decoded together; bounds memory with --max-len', number('--max-batch', true), 16)
    .option('--max-len <n>', 'KV positions per slot (default: longest prompt + --max-new-tokens)', number('--max-len', true))
    .option('--kv-budget-mb <mb>', 'lower --max-batch so the KV cache fits in this many MiB', number('--kv-budget-mb', false));
}
