// Differentiable fused model ops: embedding, RMSNorm, RoPE, attention, SwiGLU, cross-entropy, dropout.
// Each is one backend kernel forward and one backward, which is both faster and simpler than composing.
import type { AttentionOptions } from '../backends/backend.ts';
import { fmt } from './shape.ts';
import type { Tensor } from './tensor.ts';
import { record } from './ops.ts';

/** weight [V, D] gathered by ids (i32, any shape) → [...ids.shape, D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  const out = weight.backend.embedding(weight, ids);
  return record(out, [weight], (g) => [g.backend.embeddingBackward(g, ids, weight.shape[0])]);
}

export function rmsnorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const { y, rstd } = x.backend.rmsnorm(x, w, eps);
  return record(y, [x, w], (g) => {
    const { gx, gw } = g.backend.rmsnormBackward(g, x, w, rstd);
    return [gx, gw];
  });
}

/** Rotary embedding on x [B, T, H, D] at positions i32 [B, T]. */
export function rope(x: Tensor, positions: Tensor, theta: number): Tensor {
  const out = x.backend.rope(x, positions, theta, false);
  return record(out, [x], (g) => [g.backend.rope(g, positions, theta, true)]);
}

/** Causal GQA attention: q [B, T, Hq, D], k/v [B, S, Hkv, D] → [B, T, Hq, D]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const { o, lse } = q.backend.attention(q, k, v, opts);
  return record(o, [q, k, v], (g) => {
    const { gq, gk, gv } = g.backend.attentionBackward(g, q, k, v, o, lse, opts);
    return [gq, gk, gv];
  });
}

/** silu(gate) * up. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  const out = gate.backend.swiglu(gate, up);
  return record(out, [gate, up], (g) => {
    const { gGate, gUp } = g.backend.swigluBackward(g, gate, up);
    return [gGate, gUp];
  });
}

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  /**
   * Divide the summed loss by this instead of the number of counted targets. Gradient accumulation uses
   * it so that several micro-batches average over all their targets together, exactly like one big batch.
   */
  normalizer?: number;
}

/** Mean softmax cross-entropy of logits [N, V] against targets i32 [N]; ignoreIndex (-100) rows count 0. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  if (logits.rank !== 2 || targets.rank !== 1 || targets.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: logits ${fmt(logits.shape)} need [N, V] and targets ${fmt(targets.shape)} need [N]`);
  }
  const be = logits.backend;
  const { loss, lse } = be.crossEntropy(logits, targets, ignore);
  const counted = countTargets(targets, ignore);
  const norm = opts.normalizer ?? Math.max(counted, 1);
  const total = be.sum(loss, [0], false);
  const out = be.affine(total, 1 / norm, 0);
  return record(out, [logits], (g) => {
    // g is a scalar; each row's loss gets g / norm (ignored rows are zeroed by the kernel).
    const gScaled = g.backend.affine(g, 1 / norm, 0);
    const gRows = g.backend.binary('mul', g.backend.full([targets.shape[0]], 1, 'f32'), gScaled);
    return [g.backend.crossEntropyBackward(gRows, logits, targets, lse, ignore)];
  });
}

/** How many targets are not ignored (the HF mean's denominator). */
export function countTargets(targets: Tensor, ignoreIndex = -100): number {
  const t = targets.toArray();
  let n = 0;
  for (let i = 0; i < t.length; i++) if (t[i] !== ignoreIndex) n++;
  return n;
}

/** Inverted dropout: zero each element with probability p and scale survivors by 1/(1-p). */
export function dropout(x: Tensor, p: number, random: () => number): Tensor {
  if (p <= 0) return x;
  const keepScale = 1 / (1 - p);
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = random() < p ? 0 : keepScale;
  const m = x.backend.upload(mask, x.shape, 'f32');
  const out = x.backend.binary('mul', x, m);
  return record(out, [x], (g) => [g.backend.binary('mul', g, m)]);
}
