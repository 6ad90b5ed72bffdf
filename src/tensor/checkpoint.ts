// Activation checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"; PyTorch's
// torch.utils.checkpoint): run a block's forward without a tape, so that only its inputs and its output
// stay alive, and record one node whose backward runs the block again under a fresh tape and
// backpropagates through that. A decoder's activations then live one layer at a time, for the price of
// one more forward per layer.
//
//   x = checkpoint((h) => layer(h), [x], { params: layerWeights, rng })
//
// The block must be a pure function of its inputs, its parameters and the random stream `rng` rewinds:
// the recompute has to produce the very numbers of the first run (dropout masks included), or the
// gradients belong to another forward. Any other tensor it reads (positions, masks) must carry no tape:
// the recompute's backward would walk into it and free the outer tape under the outer backward's feet.
import { backward, isGradEnabled, noGrad, withGrad } from './autograd.ts';
import { tidy, track } from './scope.ts';
import type { Tensor } from './tensor.ts';

/** A random stream the block draws from, as a position that can be saved and rewound. */
export interface RewindableStream {
  save(): number;
  restore(state: number): void;
}

export interface CheckpointOptions {
  /**
   * The trainable leaves the block reads (its weights, its LoRA A and B). Their .grad is accumulated by
   * the recompute's backward; naming them also makes the node exist when no input needs a gradient (LoRA
   * on layer 0, whose input is a frozen embedding).
   */
  params: readonly Tensor[];
  /** Rewound before the recompute and put back after it, so both runs draw the same numbers. */
  rng?: RewindableStream;
}

const wantsGrad = (t: Tensor) => t.requiresGrad || t.node !== null;

/** fn(...inputs), keeping none of fn's intermediates; gradients as if fn had been recorded op by op. */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: CheckpointOptions): Tensor {
  const trainable = opts.params.filter((p) => p.requiresGrad);
  if (!isGradEnabled() || (!inputs.some(wantsGrad) && trainable.length === 0)) return fn(...inputs);
  const drawnFrom = opts.rng?.save();
  const first = tidy(() => noGrad(() => fn(...inputs)));
  // A block that returns its input unchanged must not overwrite that input's node.
  const out = inputs.includes(first) ? first.view(first.shape) : first;
  out.node = {
    inputs: [...inputs, ...trainable],
    backward: (g) => [...recompute(fn, inputs, g, opts.rng, drawnFrom), ...trainable.map(() => null)],
  };
  return out;
}

/** Run fn again on detached copies of the inputs, backpropagate g through it, return the inputs' gradients. */
function recompute(
  fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], g: Tensor, rng: RewindableStream | undefined, drawnFrom: number | undefined,
): (Tensor | null)[] {
  // Views share the storage but not the node: the inner backward stops at them and leaves their gradient
  // in .grad, where a leaf's gradient goes, instead of walking on into the outer tape.
  const detached = inputs.map((x) => x.view(x.shape).requireGrad(wantsGrad(x)));
  const resumeAt = rng?.save();
  try {
    if (rng && drawnFrom !== undefined) rng.restore(drawnFrom);
    tidy(() => withGrad(() => backward(fn(...detached), g)));
  } finally {
    if (rng && resumeAt !== undefined) rng.restore(resumeAt);
  }
  return detached.map((d) => {
    const grad = d.grad;
    d.grad = null;
    d.dispose();
    // backward() keeps a leaf's gradient out of every scope; hand it back to the step's scope instead, so
    // the outer backward (or the step's tidy, if no one uses it) frees it.
    if (grad) track(grad);
    return grad;
  });
}
