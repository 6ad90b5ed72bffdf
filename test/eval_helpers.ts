// A text model small enough for eval tests: tiny-qwen2's weights with a 512-id cut of the tiny Qwen tokenizer.
//
// The tokenizer fixture has 2259 ids and the model 512 embeddings, and its ChatML specials sit at
// 2256–2258, so the chat template would produce ids the model cannot embed. Byte-level BPE ids are
// merge ranks, so keeping the first 253 merges (ids < 509) is still a complete tokenizer; the three
// specials move to 509–511. The context is widened (RoPE has no learned positions) so that STILL-2's
// long instruction prompt fits.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const VOCAB = 512;
const SPECIALS = 3;

export function tinyEvalModelDir(maxPositions = 2048): string {
  const dir = mkdtempSync(join(tmpdir(), 'still-eval-'));
  copyFileSync('fixtures/tiny-qwen2/model.safetensors', join(dir, 'model.safetensors'));
  const config = JSON.parse(readFileSync('fixtures/tiny-qwen2/config.json', 'utf8'));
  if (config.vocab_size !== VOCAB) throw new Error(`tiny-qwen2 has vocab_size ${config.vocab_size}, this helper expects ${VOCAB}`);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: maxPositions }));

  const plain = VOCAB - SPECIALS;
  const tok = JSON.parse(readFileSync('fixtures/tiny-tokenizer/tokenizer.json', 'utf8'));
  const vocab = Object.fromEntries(Object.entries(tok.model.vocab as Record<string, number>).filter(([, id]) => id < plain));
  const merges = tok.model.merges.slice(0, plain - 256);
  const remap = new Map<number, number>();
  const added = tok.added_tokens.map((t: { id: number }, i: number) => {
    remap.set(t.id, plain + i);
    return { ...t, id: plain + i };
  });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...tok, added_tokens: added, model: { ...tok.model, vocab, merges } }));

  const cfg = JSON.parse(readFileSync('fixtures/tiny-tokenizer/tokenizer_config.json', 'utf8'));
  cfg.added_tokens_decoder = Object.fromEntries(
    Object.entries(cfg.added_tokens_decoder as Record<string, unknown>).map(([id, t]) => [String(remap.get(Number(id))), t]),
  );
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  return dir;
}
