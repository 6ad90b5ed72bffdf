// The budget a training run plans for (--max-memory), and the plan applied to its micro-batch, accumulation
// and checkpointing before the first step. The plan itself is train/memory_plan.ts; this file only asks
// the device what it has and turns the answer into options and notes.
//
// Where the budget comes from:
//   --max-memory GiB    a limit: the plan fits the job in it, or the run fails before training
//   a CUDA device       its free memory plus what this process already holds (the loaded weights): a limit
//   the CPU             the host's free memory plus the live tensors: only a warning when the job is over it
import { freemem } from 'node:os';
import type { Backend } from '../backends/backend.ts';
import { describePlan, estimateTrainMemory, formatBytes, planTraining, type TrainMemoryRequest } from './memory_plan.ts';

export interface MemoryBudget {
  bytes: number;
  /** Whether a job over it fails (--max-memory, a GPU) or is only warned about (the CPU's default). */
  limit: boolean;
  /** Where the number came from, for notes: '--max-memory', 'free on the device', 'free on this host'. */
  source: string;
}

interface DeviceMemoryStats {
  deviceFree: number;
  reserved: number;
}

/** The budget for a run on `backend`: --max-memory (GiB) if given, else what the device or host has free. */
export function memoryBudget(backend: Backend, maxMemoryGiB?: number): MemoryBudget {
  if (maxMemoryGiB !== undefined) {
    if (!(maxMemoryGiB > 0)) throw new Error(`--max-memory expects a positive number of GiB, got ${maxMemoryGiB}`);
    return { bytes: maxMemoryGiB * 2 ** 30, limit: true, source: '--max-memory' };
  }
  const stats = (backend as { memoryStats?: () => Partial<DeviceMemoryStats> & { inUse?: number } }).memoryStats?.();
  if (stats?.deviceFree !== undefined) {
    // What we already hold (weights, cached blocks) is ours to plan with, beside what the device has free.
    return { bytes: stats.deviceFree + (stats.reserved ?? 0), limit: true, source: 'free on the device' };
  }
  return { bytes: freemem() + (stats?.inUse ?? 0), limit: false, source: 'free on this host' };
}

export interface AppliedPlan {
  microBatch: number;
  gradAccum: number;
  gradientCheckpointing: boolean;
  /** Lines for the run's notes: what was planned or changed, or a warning. */
  notes: string[];
}

/**
 * Fit `req` (what was asked) in `budget`. A limit plans (and throws a MemoryPlanError when nothing fits);
 * a warning threshold keeps what was asked and notes when its estimate is over. `fixed`: micro-batch and
 * accumulation may not change (a resumed run keeps its checkpoint's), so only checkpointing is planned.
 */
export function applyMemoryPlan(job: Omit<TrainMemoryRequest, 'budget'>, budget: MemoryBudget, fixed = false): AppliedPlan {
  const req: TrainMemoryRequest = { ...job, budget: budget.bytes, fixedMicroBatch: fixed };
  const asked = { microBatch: req.microBatch, gradAccum: req.gradAccum, gradientCheckpointing: req.gradientCheckpointing ?? false };
  if (!budget.limit) {
    const est = estimateTrainMemory(req, req.microBatch, asked.gradientCheckpointing);
    const notes = est.total > budget.bytes
      ? [`memory: this job needs about ${formatBytes(est.total)}, more than the ${formatBytes(budget.bytes)} ${budget.source}; ` +
         'it may swap or be killed (a smaller --batch-size, --max-length or --gradient-checkpointing would use less)']
      : [];
    return { ...asked, notes };
  }
  const plan = planTraining(req);
  const changed = plan.microBatch !== asked.microBatch || plan.gradientCheckpointing !== asked.gradientCheckpointing;
  return {
    microBatch: plan.microBatch, gradAccum: plan.gradAccum, gradientCheckpointing: plan.gradientCheckpointing,
    notes: [`memory (${budget.source}, ${formatBytes(budget.bytes)})${changed ? ', planned' : ''}: ${describePlan(plan)}`],
  };
}
