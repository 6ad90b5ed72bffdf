// The kernel library: loads each PTX module from kernels.gen.ts on first use (the driver JITs it for the
// GPU present), falls back to NVRTC when the driver rejects the PTX, and launches kernels by entry name.
import type { CudaDriver } from './driver.ts';
import { CudaError } from './errors.ts';
import type { KernelArg } from './ffi.ts';
import { ENTRIES, PTX, SOURCES } from './kernels.gen.ts';
import { Nvrtc } from './nvrtc.ts';

/** Driver errors that mean "this PTX is not for this driver", which NVRTC can fix by recompiling. */
const PTX_REJECTED = new Set([200, 209, 218, 221, 222]);

export type Dim3 = readonly [number, number, number];

interface Fn {
  handle: bigint;
  /** Dynamic shared memory the function has been allowed (above the 48 KB default needs an attribute). */
  maxDynamicShared: number;
}

export class KernelLibrary {
  /** How each loaded module was made: 'ptx' (committed, JIT by the driver) or 'nvrtc' (compiled here). */
  readonly loadedBy = new Map<string, 'ptx' | 'nvrtc'>();
  private readonly moduleOf = new Map<string, string>();
  private readonly modules = new Map<string, bigint>();
  private readonly fns = new Map<string, Fn>();
  private nvrtc: Nvrtc | null = null;

  constructor(private readonly drv: CudaDriver, private readonly env: NodeJS.ProcessEnv = process.env) {
    for (const [mod, names] of Object.entries(ENTRIES)) for (const n of names) this.moduleOf.set(n, mod);
  }

  has(name: string): boolean {
    return this.moduleOf.has(name);
  }

  launch(name: string, grid: Dim3, block: Dim3, args: KernelArg[], sharedBytes = 0): void {
    const f = this.function(name);
    if (sharedBytes > f.maxDynamicShared) {
      this.drv.setMaxDynamicShared(f.handle, sharedBytes, name);
      f.maxDynamicShared = sharedBytes;
    }
    this.drv.launch(f.handle, grid, block, sharedBytes, args, name);
  }

  private function(name: string): Fn {
    let f = this.fns.get(name);
    if (f) return f;
    const mod = this.moduleOf.get(name);
    if (!mod) throw new Error(`cuda: no kernel named ${name} in kernels/cuda (is kernels.gen.ts up to date? run npm run build:kernels)`);
    f = { handle: this.drv.getFunction(this.module(mod), name), maxDynamicShared: 48 * 1024 };
    this.fns.set(name, f);
    return f;
  }

  private module(mod: string): bigint {
    let m = this.modules.get(mod);
    if (m !== undefined) return m;
    try {
      m = this.drv.loadModule(PTX[mod]);
      this.loadedBy.set(mod, 'ptx');
    } catch (e) {
      if (!(e instanceof CudaError) || !PTX_REJECTED.has(e.code)) throw e;
      m = this.compileWithNvrtc(mod, e);
      this.loadedBy.set(mod, 'nvrtc');
    }
    this.modules.set(mod, m);
    return m;
  }

  private compileWithNvrtc(mod: string, rejected: CudaError): bigint {
    try {
      this.nvrtc ??= new Nvrtc(this.env);
    } catch (e) {
      throw new Error(`cuda: the driver rejected kernels/cuda/${mod}.cu's PTX (${rejected.message}) and NVRTC is unavailable: ${(e as Error).message}`);
    }
    const headers = Object.fromEntries(Object.entries(SOURCES).filter(([f]) => f.endsWith('.cuh')));
    const ptx = this.nvrtc.compile(`${mod}.cu`, SOURCES[`${mod}.cu`], headers, this.drv.info.computeCapability);
    return this.drv.loadModule(ptx);
  }
}
