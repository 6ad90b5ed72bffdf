// The default backend that new tensors are created on. Chosen once at start-up (see backends/select.ts).
import type { Backend } from '../backends/backend.ts';
import { CpuBackend } from '../backends/cpu/index.ts';

let current: Backend | null = null;

export function getBackend(): Backend {
  return (current ??= new CpuBackend());
}

export function setBackend(backend: Backend): void {
  current = backend;
}
