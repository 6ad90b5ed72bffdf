// The CPU backend's WASM module (GEMM, attention, decode attention, SwiGLU, RMSNorm, RoPE) (`npm run build:wasm` compiles this entry into
// src/backends/cpu/cpu_kernels_bytes.ts): one exported function that every thread runs on a shared queue.
import { Kind, Q, field } from './queue';
import { gemmTask } from './gemm_f32';
import { attentionBackwardTask, attentionTask } from './attention_f32';
import { swigluTask } from './swiglu_f32';
import { slotAttentionTask } from './slot_attention_f32';
import { rmsnormTask } from './rmsnorm_f32';
import { ropeTask } from './rope_f32';

/** Takes tasks from the queue at `q` until it is empty, using this thread's scratch at `work`; returns how many
 *  tasks this thread ran. A thread the OS schedules late (the dev box is shared) simply does fewer tasks. */
export function runQueue(q: usize, work: usize): i32 {
  const tasks = field(q, Q.TASKS);
  const kind = field(q, Q.KIND);
  let ran = 0;
  for (;;) {
    const t = atomic.add<i32>(q + (<usize>Q.NEXT << 2), 1);
    if (t >= tasks) break;
    ran++;
    if (kind == Kind.GEMM) gemmTask(q, t, work);
    else if (kind == Kind.ATTENTION) attentionTask(q, t, work);
    else if (kind == Kind.ATTENTION_BACKWARD) attentionBackwardTask(q, t, work);
    else if (kind == Kind.SLOT_ATTENTION) slotAttentionTask(q, t, work);
    else if (kind == Kind.ROPE) ropeTask(q, t);
    else if (kind == Kind.RMSNORM || kind == Kind.RMSNORM_BACKWARD) rmsnormTask(q, t, kind == Kind.RMSNORM_BACKWARD);
    else swigluTask(q, t, kind == Kind.SWIGLU_BACKWARD);
  }
  return ran;
}
