// Finite-difference gradient checking in float64 on the CPU backend.
import { backward, noGrad } from '../src/tensor/autograd.ts';
import { mul, sum, tensor } from '../src/tensor/ops.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import { signedStream } from '../src/tensor/rng.ts';

export function randF64(shape: number[], r: () => number, scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(Float64Array.from({ length: n }, () => r() * scale), shape, 'f64');
}

/**
 * Compare autodiff gradients of L = Σ f(inputs) ⊙ R (R random, fixed) with central differences.
 * Returns the worst relative error over all inputs' elements.
 */
export function gradCheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], seed = 7, h = 1e-6): number {
  const r = signedStream(seed);
  const probe = noGrad(() => f(...inputs));
  const weights = randF64([...probe.shape], r);
  const loss = (xs: Tensor[]) => sum(mul(f(...xs), weights));
  for (const x of inputs) {
    x.requireGrad();
    x.grad = null;
  }
  backward(loss(inputs));
  let worst = 0;
  for (const x of inputs) {
    const analytic = x.grad!.toArray() as Float64Array;
    const data = x.storage.handle as Float64Array;
    for (let i = 0; i < data.length; i++) {
      const orig = data[i];
      data[i] = orig + h;
      const up = noGrad(() => loss(inputs).item());
      data[i] = orig - h;
      const down = noGrad(() => loss(inputs).item());
      data[i] = orig;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric), Math.abs(analytic[i]));
      worst = Math.max(worst, err);
    }
  }
  return worst;
}
