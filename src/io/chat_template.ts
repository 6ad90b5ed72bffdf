// Chat templates: pick the template from tokenizer_config.json (string or named list) and render it with @huggingface/jinja.
//
// Rendering follows transformers' apply_chat_template(tokenize=False): the template sees `messages`,
// `add_generation_prompt`, the special-token strings (bos_token, eos_token, …) and optional
// `tools`; blocks are trimmed as with trim_blocks/lstrip_blocks, which @huggingface/jinja applies.
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: string;
  content: string;
  /** Other fields (tool_calls, name, …) are passed through to the template untouched. */
  [key: string]: unknown;
}

export interface ChatRenderOptions {
  /** Append the assistant header so the model continues as the assistant. */
  addGenerationPrompt?: boolean;
  /** Tool schemas, for templates that support them. */
  tools?: unknown[];
  /** Extra template variables (e.g. `enable_thinking`). */
  extra?: Record<string, unknown>;
}

export interface SpecialTokenStrings {
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  unkToken?: string | null;
}

/**
 * The template text from a tokenizer_config.json `chat_template` value: either a string, or the list
 * form `[{name, template}]` from which `name` (default "default") is chosen.
 */
export function selectChatTemplate(value: unknown, file: string, name = 'default'): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const names: string[] = [];
    for (const [i, entry] of value.entries()) {
      const e = entry as { name?: unknown; template?: unknown } | null;
      if (e === null || typeof e !== 'object' || typeof e.name !== 'string' || typeof e.template !== 'string') {
        throw new Error(`${file}: chat_template[${i}] must be {"name": string, "template": string}`);
      }
      if (e.name === name) return e.template;
      names.push(e.name);
    }
    throw new Error(`${file}: chat_template has no template named '${name}' (it has: ${names.join(', ')})`);
  }
  throw new Error(`${file}: chat_template must be a string or a list of {name, template}, got ${JSON.stringify(value)}`);
}

export class ChatTemplate {
  private readonly template: Template;

  /** `label` names the template's origin in errors, e.g. "model/tokenizer_config.json: chat_template". */
  constructor(
    readonly source: string,
    private readonly specials: SpecialTokenStrings = {},
    readonly label = 'chat_template',
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new Error(`${label} does not parse as Jinja (${(err as Error).message})`);
    }
  }

  render(messages: readonly ChatMessage[], opts: ChatRenderOptions = {}): string {
    checkMessages(messages);
    const vars: Record<string, unknown> = {
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.specials.bosToken ?? '',
      eos_token: this.specials.eosToken ?? '',
      pad_token: this.specials.padToken ?? '',
      unk_token: this.specials.unkToken ?? '',
      ...opts.extra,
    };
    if (opts.tools !== undefined) vars.tools = opts.tools;
    try {
      return this.template.render(vars);
    } catch (err) {
      // raise_exception() in a template lands here too, carrying the template's own explanation.
      throw new Error(`${this.label} failed to render (${(err as Error).message})`);
    }
  }
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages)) throw new Error(`renderChat: messages must be an array of {role, content}`);
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object') throw new Error(`renderChat: message ${i} must be an object {role, content}`);
    if (typeof m.role !== 'string') throw new Error(`renderChat: message ${i} has no string 'role'`);
    if (typeof m.content !== 'string') throw new Error(`renderChat: message ${i} (${m.role}) has no string 'content'`);
  });
}
