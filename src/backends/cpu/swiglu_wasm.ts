// The CPU backend's f32 SwiGLU in WASM (kernels/wasm/swiglu_f32.ts), elements split over the thread pool.
// model_ops.ts stays the path for f64 (gradient checks) and for sizes that do not fit the shared memory.
import type { FloatArray } from '../../tensor/dtype.ts';
import { QueueKind } from './gemm_pool.ts';
import { callKernel, readBack, splitWork } from './kernel_call.ts';

/** Parameter block fields, same numbers as kernels/wasm/swiglu_f32.ts E. */
const E = { gate: 0, up: 1, out: 2, gy: 3, gGate: 4, gUp: 5 } as const;

/** out = silu(gate) · up. */
export function swigluWasmF32(gate: FloatArray, up: FloatArray, out: FloatArray): boolean {
  if (!(gate instanceof Float32Array && up instanceof Float32Array && out instanceof Float32Array)) return false;
  const n = out.length;
  const at = callKernel(QueueKind.swiglu, {
    gate: { field: E.gate, length: n, input: gate }, up: { field: E.up, length: n, input: up }, out: { field: E.out, length: n },
  }, splitWork(n, 1, 4));
  if (!at) return false;
  readBack(at.out, out);
  return true;
}

/** gGate, gUp from the output gradient gy. */
export function swigluBackwardWasmF32(gy: FloatArray, gate: FloatArray, up: FloatArray, gGate: FloatArray, gUp: FloatArray): boolean {
  if (!(gy instanceof Float32Array && gate instanceof Float32Array && up instanceof Float32Array
    && gGate instanceof Float32Array && gUp instanceof Float32Array)) return false;
  const n = gy.length;
  const at = callKernel(QueueKind.swigluBackward, {
    gate: { field: E.gate, length: n, input: gate }, up: { field: E.up, length: n, input: up }, gy: { field: E.gy, length: n, input: gy },
    gGate: { field: E.gGate, length: n }, gUp: { field: E.gUp, length: n },
  }, splitWork(n, 1, 4));
  if (!at) return false;
  readBack(at.gGate, gGate);
  readBack(at.gUp, gUp);
  return true;
}
