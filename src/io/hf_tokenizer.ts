// A Hugging Face tokenizer from a model directory (tokenizer.json + tokenizer_config.json), as a TextTokenizer with chat rendering.
//
// Encoding is done by @huggingface/tokenizers (pure JS, same algorithms as the Rust crate). Special
// tokens listed in added_tokens are matched before BPE, so "<|im_end|>" in text is one id, as in
// transformers. encode() adds no BOS/EOS by default: chat templates already write them, and
// transformers' apply_chat_template tokenizes with add_special_tokens=False for the same reason.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ChatTemplate, selectChatTemplate, type ChatMessage, type ChatRenderOptions } from './chat_template.ts';
import type { TextTokenizer } from './text_tokenizer.ts';

export interface EncodeOptions {
  /** Let the tokenizer's post-processor add its specials (e.g. Llama's BOS). Default false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (added tokens marked special) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface LoadTokenizerOptions {
  /** Which template to use when tokenizer_config.json has the named-list form. Default "default". */
  chatTemplateName?: string;
}

export class HfTokenizer implements TextTokenizer {
  constructor(
    private readonly tok: Tokenizer,
    /** One more than the largest id, added tokens included. */
    readonly vocabSize: number,
    readonly eosId: number,
    readonly padId: number,
    readonly bosId: number | null,
    /** Ids that end generation: eos, plus generation_config.json's eos_token_id list when present. */
    readonly stopIds: number[],
    readonly specialIds: ReadonlySet<number>,
    readonly chatTemplate: ChatTemplate | null,
    /** Names the model directory in errors. */
    readonly dir: string,
  ) {}

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return ''; // the library rejects an empty list; an empty completion is normal for us
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToString(id: number): string {
    const s = this.tok.id_to_token(id);
    if (s === undefined) throw new Error(`${this.dir}: token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return s;
  }

  /** The id of a token string (a vocabulary entry or an added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** Render messages with the model's chat template (transformers' apply_chat_template, tokenize=False). */
  renderChat(messages: readonly ChatMessage[], opts: ChatRenderOptions = {}): string {
    if (this.chatTemplate === null) {
      throw new Error(`${this.dir}: no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja)`);
    }
    return this.chatTemplate.render(messages, opts);
  }

  /** renderChat, then encode (specials in the rendered text become single ids). */
  encodeChat(messages: readonly ChatMessage[], opts: ChatRenderOptions = {}): number[] {
    return this.encode(this.renderChat(messages, opts));
  }
}

/** Load the tokenizer of the HF model directory `dir`. */
export function loadHfTokenizer(dir: string, opts: LoadTokenizerOptions = {}): HfTokenizer {
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) {
    const hint = existsSync(join(dir, 'tokenizer.model')) ? ' (only tokenizer.model was found: sentencepiece-only tokenizers are not supported; save a fast tokenizer)' : '';
    throw new Error(`${dir}: no tokenizer.json${hint}`);
  }
  const tokenizerJson = readJson(tokenizerPath) as Record<string, unknown>;
  const configPath = join(dir, 'tokenizer_config.json');
  const config = (existsSync(configPath) ? readJson(configPath) : {}) as Record<string, unknown>;

  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, config);
  } catch (err) {
    throw new Error(`${tokenizerPath}: cannot build the tokenizer (${(err as Error).message})`);
  }

  const vocab = tok.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);

  // Special-token strings may be plain strings or AddedToken objects {content, …}.
  const tokenString = (key: string): string | null => {
    const v = config[key];
    if (v === undefined || v === null) return null;
    if (typeof v === 'string') return v;
    if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
    throw new Error(`${configPath}: ${key} must be a string or {"content": string}, got ${JSON.stringify(v)}`);
  };
  const idOf = (key: string, token: string): number => {
    const id = tok.token_to_id(token);
    if (id === undefined) throw new Error(`${configPath}: ${key} ${JSON.stringify(token)} is not in the vocabulary of ${tokenizerPath}`);
    return id;
  };

  const bosToken = tokenString('bos_token');
  const eosToken = tokenString('eos_token');
  const padToken = tokenString('pad_token');
  const unkToken = tokenString('unk_token');
  const generationEos = eosIdsFrom(join(dir, 'generation_config.json'));
  let eosId: number;
  if (eosToken !== null) eosId = idOf('eos_token', eosToken);
  else {
    // No eos_token string: fall back to the ids the model configs declare.
    const fromConfig = generationEos[0] ?? eosIdsFrom(join(dir, 'config.json'))[0];
    if (fromConfig === undefined) {
      throw new Error(`${dir}: no end-of-sequence token (expected eos_token in tokenizer_config.json or eos_token_id in generation_config.json/config.json)`);
    }
    eosId = fromConfig;
  }
  const padId = padToken !== null ? idOf('pad_token', padToken) : eosId;
  const bosId = bosToken !== null ? idOf('bos_token', bosToken) : null;
  const stopIds = [...new Set([eosId, ...generationEos])];

  const specialIds = new Set<number>();
  for (const [id, t] of tok.get_added_tokens_decoder()) if (t.special) specialIds.add(id);

  let chatTemplate: ChatTemplate | null = null;
  const jinjaPath = join(dir, 'chat_template.jinja');
  // transformers saves the template as chat_template.jinja since 4.47 and prefers that file when present.
  const [source, label] = existsSync(jinjaPath)
    ? [readFileSync(jinjaPath, 'utf8'), jinjaPath]
    : config.chat_template !== undefined && config.chat_template !== null
      ? [selectChatTemplate(config.chat_template, configPath, opts.chatTemplateName), `${configPath}: chat_template`]
      : [null, ''];
  if (source !== null) chatTemplate = new ChatTemplate(source, { bosToken, eosToken, padToken, unkToken }, label);

  return new HfTokenizer(tok, vocabSize, eosId, padId, bosId, stopIds, specialIds, chatTemplate, dir);
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

// eos_token_id in generation_config.json / config.json: an id, a list of ids, or absent.
function eosIdsFrom(path: string): number[] {
  if (!existsSync(path)) return [];
  const v = (readJson(path) as { eos_token_id?: unknown }).eos_token_id;
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((x): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
}
