// Opening the CUDA backend once per process: select.ts probes it for `still info` and `--backend auto`,
// and both must see the same instance (or the same one-line reason it cannot start). Importing this module
// loads neither koffi nor libcuda; that happens in openCuda().
import { CudaBackend } from './index.ts';

let instance: CudaBackend | null = null;
let failure: Error | null = null;

export function openCuda(): CudaBackend {
  if (instance) return instance;
  if (failure) throw failure;
  try {
    instance = new CudaBackend();
    return instance;
  } catch (e) {
    failure = new Error((e as Error).message.split('\n')[0].trim());
    throw failure;
  }
}
