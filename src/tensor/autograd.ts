// Reverse-mode autodiff over the tape of GradNodes that ops attach to their outputs.
import { keep } from './scope.ts';
import type { Tensor } from './tensor.ts';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording the tape (inference, optimizer updates). */
export function noGrad<R>(fn: () => R): R {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Run fn recording the tape even inside noGrad (activation checkpointing recomputes a block in backward). */
export function withGrad<R>(fn: () => R): R {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Whether an op over these inputs should record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t && (t.requiresGrad || t.node));
}

/**
 * Backpropagate from a scalar (or from `seed`, a gradient of the output's shape). Leaf tensors that
 * require grad receive `.grad` (accumulated across calls, and kept out of tidy scopes so that gradient
 * accumulation over micro-batches works); intermediate gradients are freed as soon as they are used.
 */
export function backward(output: Tensor, seed?: Tensor): void {
  if (!seed && output.size !== 1) throw new Error(`backward() from a non-scalar ${output.shape} needs a seed gradient`);
  const order = topoOrder(output);
  const grads = new Map<Tensor, Tensor>();
  grads.set(output, seed ?? output.backend.full(output.shape, 1, output.dtype));
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = grads.get(t);
    if (!g || !t.node) continue;
    grads.delete(t);
    const inputGrads = t.node.backward(g);
    t.node.inputs.forEach((input, j) => {
      let gi = inputGrads[j];
      // A backward may pass its incoming gradient through (add) or return one tensor twice (x * x):
      // give each use its own view so that freeing one never frees another.
      if (gi && (gi === g || inputGrads.indexOf(gi) < j)) gi = gi.view(gi.shape);
      if (!gi || !(input.requiresGrad || input.node)) return;
      const prev = grads.get(input);
      if (prev) {
        grads.set(input, prev.backend.binary('add', prev, gi));
        prev.dispose();
        gi.dispose();
      } else grads.set(input, gi);
    });
    if (g !== seed) g.dispose();
  }
  for (const [t, g] of grads) {
    if (!t.requiresGrad) continue;
    if (t.grad) {
      const sum = keep(t.backend.binary('add', t.grad, g));
      t.grad.dispose();
      g.dispose();
      t.grad = sum;
    } else t.grad = keep(g);
  }
  // Free the tape: saved activations can go as soon as nobody backpropagates through them again.
  for (const t of order) t.node = null;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep models make call stacks too deep for recursion.
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const input of t.node?.inputs ?? []) if (!seen.has(input)) stack.push([input, false]);
  }
  return order;
}
