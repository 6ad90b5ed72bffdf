// Device time of CUDA work for the GPU benchmarks: eager launches timed with events, and the same work
// captured in a CUDA graph and replayed, which is what a call costs inside the decode step's graph.
import type { CudaBackend } from '../src/backends/cuda/index.ts';
import type { Tensor } from '../src/tensor/tensor.ts';

export type Launches = () => Tensor | Tensor[] | void;

/** fn, with the tensors it returns disposed. */
const disposing = (fn: Launches) => () => {
  const r = fn();
  if (r) for (const t of Array.isArray(r) ? r : [r]) t.dispose();
};

/**
 * Mean device ms per call of fn launched eagerly (CUDA events), after warm-up. Calls of a few µs measure the
 * host's cost of a launch (~20 µs through koffi), not the kernel: time those with graphMs.
 */
export function deviceMs(cuda: CudaBackend, fn: Launches, iters: number, warmup = 2): number {
  const run = disposing(fn);
  for (let i = 0; i < warmup; i++) run();
  return cuda.timeMs(() => {
    for (let i = 0; i < iters; i++) run();
  }) / iters;
}

/**
 * Mean device ms per call of fn inside a CUDA graph: `reps` calls captured once (24, as the layers of a Qwen
 * decode step), the graph replayed and timed with events. No host launch cost, and the same gaps between
 * kernels as in the decode step's graph: what the call costs there.
 */
export function graphMs(cuda: CudaBackend, fn: Launches, reps = 24, replays = 10): number {
  const run = disposing(fn);
  run(); // modules, cuBLASLt plans and tables exist before the capture
  const { graph } = cuda.captureGraph(() => {
    for (let i = 0; i < reps; i++) run();
  });
  try {
    graph.replay();
    return cuda.timeMs(() => {
      for (let i = 0; i < replays; i++) graph.replay();
    }) / (replays * reps);
  } finally {
    graph.dispose();
  }
}
