// CPU references for the small fused model ops: embedding gather/scatter, SwiGLU, cross-entropy, AdamW.
import type { AdamWHyper } from '../backend.ts';
import type { FloatArray } from '../../tensor/dtype.ts';

export function embedding(weight: FloatArray, ids: Int32Array, d: number, vocab: number, out: FloatArray): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= vocab) throw new Error(`embedding: token id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
    out.set(weight.subarray(id * d, id * d + d), i * d);
  }
}

/** Scatter-add: gw[id] += grad[i] for every position i (gw starts at 0). */
export function embeddingBackward(grad: FloatArray, ids: Int32Array, d: number, gw: FloatArray): void {
  for (let i = 0; i < ids.length; i++) {
    const o = ids[i] * d;
    for (let j = 0; j < d; j++) gw[o + j] += grad[i * d + j];
  }
}

export function swiglu(gate: FloatArray, up: FloatArray, out: FloatArray): void {
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

/** d silu(g)/dg = σ(g)(1 + g(1 − σ(g))). */
export function swigluBackward(gy: FloatArray, gate: FloatArray, up: FloatArray, gGate: FloatArray, gUp: FloatArray): void {
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const sig = 1 / (1 + Math.exp(-g));
    gUp[i] = gy[i] * g * sig;
    gGate[i] = gy[i] * up[i] * sig * (1 + g * (1 - sig));
  }
}

export function crossEntropy(
  logits: FloatArray, targets: Int32Array, vocab: number, ignoreIndex: number, loss: FloatArray, lse: FloatArray,
): void {
  for (let r = 0; r < targets.length; r++) {
    const o = r * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[o + j] - max);
    lse[r] = max + Math.log(sum);
    const target = targets[r];
    if (target === ignoreIndex) {
      loss[r] = 0;
      continue;
    }
    if (target < 0 || target >= vocab) throw new Error(`cross-entropy: target ${target} in row ${r} is outside [0, ${vocab})`);
    loss[r] = lse[r] - logits[o + target];
  }
}

export function crossEntropyBackward(
  gLoss: FloatArray, logits: FloatArray, targets: Int32Array, lse: FloatArray, vocab: number, ignoreIndex: number,
  out: FloatArray,
): void {
  for (let r = 0; r < targets.length; r++) {
    const o = r * vocab;
    const target = targets[r];
    if (target === ignoreIndex) {
      out.fill(0, o, o + vocab);
      continue;
    }
    const g = gLoss[r];
    const l = lse[r];
    for (let j = 0; j < vocab; j++) out[o + j] = g * Math.exp(logits[o + j] - l);
    out[o + target] -= g;
  }
}

/** PyTorch AdamW (decoupled weight decay, bias-corrected moments), in place. */
export function adamw(p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, h: AdamWHyper): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  const stepSize = h.lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  const decay = 1 - h.lr * h.weightDecay;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    p[i] *= decay;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * gi * gi;
    p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + h.eps);
  }
}
