// Opening the backend named by the global --backend option (or STILL_BACKEND) and making it the default.
import type { Command } from 'commander';
import type { Backend } from '../backends/backend.ts';
import { openBackend, type BackendChoice } from '../backends/select.ts';
import { setBackend } from '../tensor/context.ts';

export function useBackend(cmd: Command): Backend {
  const root = cmd.parent ?? cmd;
  const backend = openBackend((root.opts().backend ?? 'auto') as BackendChoice);
  setBackend(backend);
  return backend;
}
