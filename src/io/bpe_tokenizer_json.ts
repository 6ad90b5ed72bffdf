// tokenizer.json + tokenizer_config.json for a byte-level BPE trained by bpe_train.ts, laid out as Qwen2's
// (the layout fixtures/tiny-tokenizer uses), so @huggingface/tokenizers, transformers and our own
// loadHfTokenizer read it as they read a Qwen checkpoint's.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QWEN_SPLIT_REGEX, type BpeModel } from './bpe_train.ts';

/** ChatML without a default system prompt: `<|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n`. */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export interface AddedToken {
  content: string;
  /** Special tokens are dropped by decode(skip_special_tokens); others (e.g. the STILL-2 tags) stay in the text. */
  special: boolean;
}

export interface TokenizerFileOptions {
  /** Added after the BPE vocabulary, in this order. */
  added: readonly AddedToken[];
  chatTemplate: string;
  eosToken: string;
  padToken: string;
  modelMaxLength: number;
}

export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

const BYTE_LEVEL = { add_prefix_space: false, trim_offsets: false, use_regex: false };

/** The two files' JSON for `model`; added tokens take the ids after the merges. */
export function tokenizerFiles(model: BpeModel, o: TokenizerFileOptions): TokenizerFiles {
  for (const t of [o.eosToken, o.padToken]) {
    if (!o.added.some((a) => a.content === t)) throw new Error(`tokenizerFiles: ${JSON.stringify(t)} must be one of the added tokens`);
  }
  const added = o.added.map((t, i) => ({
    id: model.vocab.size + i, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t.special,
  }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN_SPLIT_REGEX }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', ...BYTE_LEVEL },
      ],
    },
    post_processor: { type: 'ByteLevel', ...BYTE_LEVEL },
    decoder: { type: 'ByteLevel', ...BYTE_LEVEL },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: Object.fromEntries(model.vocab), merges: model.merges,
    },
  };
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...t }) => [String(id), t])),
    additional_special_tokens: o.added.filter((t) => t.special && t.content !== o.padToken).map((t) => t.content),
    bos_token: null,
    chat_template: o.chatTemplate,
    clean_up_tokenization_spaces: false,
    eos_token: o.eosToken,
    errors: 'replace',
    model_max_length: o.modelMaxLength,
    pad_token: o.padToken,
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    unk_token: null,
  };
  return { tokenizer, config };
}

/** Write tokenizer.json and tokenizer_config.json into `dir`. */
export function writeTokenizerFiles(dir: string, files: TokenizerFiles): void {
  writeFileSync(join(dir, 'tokenizer.json'), `${JSON.stringify(files.tokenizer)}\n`);
  writeFileSync(join(dir, 'tokenizer_config.json'), `${JSON.stringify(files.config, null, 2)}\n`);
}
