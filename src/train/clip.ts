// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_): one norm over every gradient, and a
// common scale max/(norm + 1e-6) when it is exceeded. The norm is summed on the host from the backend's
// per-tensor sum of squares, so nothing here depends on where the gradients live.
import { keep } from '../tensor/scope.ts';
import type { Param } from './params.ts';

/** √(Σ‖g‖²) over all parameters with a gradient. */
export function globalGradNorm(params: Param[]): number {
  let sq = 0;
  for (const p of params) if (p.value.grad) sq += p.value.grad.backend.sumSquares(p.value.grad);
  return Math.sqrt(sq);
}

/** Scale gradients so their global norm is at most maxNorm; returns the factor applied (1 = untouched). */
export function clipGradients(params: Param[], maxNorm: number, norm = globalGradNorm(params)): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return 1;
  for (const p of params) {
    const g = p.value.grad;
    if (!g) continue;
    p.value.grad = keep(g.backend.affine(g, coef, 0));
    g.dispose();
  }
  return coef;
}
