// koffi bindings to the CUDA driver API (libcuda.so.1): init, the device's primary context, memory
// (the _v2 entry points), modules from PTX, kernel launch, streams, events and graphs. Every CUresult ≠ 0
// becomes a CudaError naming the call (see errors.ts). Handles are BigInts (koffi 3 pointers); device
// pointers are uint64. Facts this follows were measured on the H200 (../shared/PLATFORM.md): prefer the
// primary context (cuCtxCreate changed in CUDA 13), and write `unsigned int`, never a bare `unsigned`.
import type { DeviceMemory } from './allocator.ts';
import { CU_RESULT_NAMES, checkStatus } from './errors.ts';
import { bind, decodeString, loadLibrary, type KernelArg, type NativeFn } from './ffi.ts';
import { LIBCUDA } from './libraries.ts';

const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
const CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
const CU_STREAM_NON_BLOCKING = 1;
const CU_STREAM_CAPTURE_MODE_RELAXED = 2;

export interface DeviceInfo {
  name: string;
  /** e.g. 90 for sm_90. */
  computeCapability: number;
  multiprocessors: number;
  totalBytes: number;
  maxSharedPerBlock: number;
  /** e.g. "13.0". */
  driverVersion: string;
  libraryPath: string;
}

/** The raw functions, bound once. Out-parameters are typed arrays; handles are BigInts. */
function bindAll(lib: ReturnType<typeof loadLibrary>['lib']) {
  const f = (name: string | string[], args: string): NativeFn => bind(lib, name, 'int', args);
  return {
    cuInit: f('cuInit', 'unsigned int flags'),
    cuDriverGetVersion: f('cuDriverGetVersion', 'void *version'),
    cuDeviceGetCount: f('cuDeviceGetCount', 'void *count'),
    cuDeviceGet: f('cuDeviceGet', 'void *device, int ordinal'),
    cuDeviceGetName: f('cuDeviceGetName', 'void *name, int len, int device'),
    cuDeviceGetAttribute: f('cuDeviceGetAttribute', 'void *value, int attribute, int device'),
    cuDeviceTotalMem: f('cuDeviceTotalMem_v2', 'void *bytes, int device'),
    cuDevicePrimaryCtxRetain: f('cuDevicePrimaryCtxRetain', 'void *ctx, int device'),
    cuCtxSetCurrent: f('cuCtxSetCurrent', 'void *ctx'),
    cuCtxSynchronize: f('cuCtxSynchronize', ''),
    cuMemAlloc: f('cuMemAlloc_v2', 'void *dptr, size_t bytes'),
    cuMemFree: f('cuMemFree_v2', 'uint64_t dptr'),
    cuMemGetInfo: f('cuMemGetInfo_v2', 'void *free, void *total'),
    cuMemcpyHtoDAsync: f('cuMemcpyHtoDAsync_v2', 'uint64_t dst, const void *src, size_t bytes, void *stream'),
    cuMemcpyDtoHAsync: f('cuMemcpyDtoHAsync_v2', 'void *dst, uint64_t src, size_t bytes, void *stream'),
    cuMemcpyDtoDAsync: f('cuMemcpyDtoDAsync_v2', 'uint64_t dst, uint64_t src, size_t bytes, void *stream'),
    cuMemsetD8Async: f('cuMemsetD8Async', 'uint64_t dst, unsigned char value, size_t n, void *stream'),
    cuMemsetD16Async: f('cuMemsetD16Async', 'uint64_t dst, unsigned short value, size_t n, void *stream'),
    cuMemsetD32Async: f('cuMemsetD32Async', 'uint64_t dst, unsigned int value, size_t n, void *stream'),
    cuModuleLoadData: f('cuModuleLoadData', 'void *module, const void *image'),
    cuModuleUnload: f('cuModuleUnload', 'void *module'),
    cuModuleGetFunction: f('cuModuleGetFunction', 'void *fn, void *module, const char *name'),
    cuFuncSetAttribute: f('cuFuncSetAttribute', 'void *fn, int attribute, int value'),
    cuLaunchKernel: f(
      'cuLaunchKernel',
      'void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, ' +
        'unsigned int sharedBytes, void *stream, void **params, void **extra',
    ),
    cuStreamCreate: f('cuStreamCreate', 'void *stream, unsigned int flags'),
    cuStreamDestroy: f('cuStreamDestroy_v2', 'void *stream'),
    cuStreamSynchronize: f('cuStreamSynchronize', 'void *stream'),
    cuEventCreate: f('cuEventCreate', 'void *event, unsigned int flags'),
    cuEventDestroy: f('cuEventDestroy_v2', 'void *event'),
    cuEventRecord: f('cuEventRecord', 'void *event, void *stream'),
    cuEventSynchronize: f('cuEventSynchronize', 'void *event'),
    // CUDA 12.8 added _v2 and CUDA 13's header maps the plain name to it; older drivers only have the plain one.
    cuEventElapsedTime: f(['cuEventElapsedTime_v2', 'cuEventElapsedTime'], 'void *ms, void *start, void *end'),
    cuStreamBeginCapture: f('cuStreamBeginCapture_v2', 'void *stream, int mode'),
    cuStreamEndCapture: f('cuStreamEndCapture', 'void *stream, void *graph'),
    cuGraphInstantiate: f('cuGraphInstantiateWithFlags', 'void *exec, void *graph, unsigned long long flags'),
    cuGraphLaunch: f('cuGraphLaunch', 'void *exec, void *stream'),
    cuGraphExecDestroy: f('cuGraphExecDestroy', 'void *exec'),
    cuGraphDestroy: f('cuGraphDestroy', 'void *graph'),
    cuGetErrorName: f('cuGetErrorName', 'int error, void *str'),
    cuGetErrorString: f('cuGetErrorString', 'int error, void *str'),
  };
}

type Fns = ReturnType<typeof bindAll>;

export class CudaDriver implements DeviceMemory {
  readonly info: DeviceInfo;
  /** The stream every operation of this process runs on (one stream keeps allocator reuse safe). */
  readonly stream: bigint;
  private readonly fn: Fns;

  /** Load libcuda, init, make device 0's primary context current. Throws one line when that cannot happen. */
  static open(env: NodeJS.ProcessEnv = process.env): CudaDriver {
    const { lib, path } = loadLibrary(LIBCUDA, env);
    return new CudaDriver(bindAll(lib), path);
  }

  private constructor(fns: Fns, libraryPath: string) {
    this.fn = fns;
    this.call('cuInit', fns.cuInit(0));
    const count = new Int32Array(1);
    this.call('cuDeviceGetCount', fns.cuDeviceGetCount(count));
    if (count[0] === 0) throw new Error('the CUDA driver reports no device');
    const dev = new Int32Array(1);
    this.call('cuDeviceGet', fns.cuDeviceGet(dev, 0));
    const ctx = new BigUint64Array(1);
    this.call('cuDevicePrimaryCtxRetain', fns.cuDevicePrimaryCtxRetain(ctx, dev[0]));
    this.call('cuCtxSetCurrent', fns.cuCtxSetCurrent(ctx[0]));
    const stream = new BigUint64Array(1);
    this.call('cuStreamCreate', fns.cuStreamCreate(stream, CU_STREAM_NON_BLOCKING));
    this.stream = stream[0];
    this.info = this.describe(dev[0], libraryPath);
  }

  private describe(dev: number, libraryPath: string): DeviceInfo {
    const name = Buffer.alloc(256);
    this.call('cuDeviceGetName', this.fn.cuDeviceGetName(name, name.length, dev));
    const attr = (a: number, what: string) => {
      const v = new Int32Array(1);
      this.call(`cuDeviceGetAttribute(${what})`, this.fn.cuDeviceGetAttribute(v, a, dev));
      return v[0];
    };
    const total = new BigUint64Array(1);
    this.call('cuDeviceTotalMem_v2', this.fn.cuDeviceTotalMem(total, dev));
    const version = new Int32Array(1);
    this.call('cuDriverGetVersion', this.fn.cuDriverGetVersion(version));
    return {
      name: name.toString('utf8', 0, name.indexOf(0)),
      computeCapability: 10 * attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 'major') + attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 'minor'),
      multiprocessors: attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 'multiprocessors'),
      totalBytes: Number(total[0]),
      maxSharedPerBlock: attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 'shared memory'),
      driverVersion: `${Math.floor(version[0] / 1000)}.${(version[0] % 1000) / 10}`,
      libraryPath,
    };
  }

  /** Throw a CudaError for a failed call, named by the driver itself where it can. */
  call(name: string, code: unknown): void {
    checkStatus(name, code as number, { name: (c) => this.errorText(this.fn.cuGetErrorName, c), describe: (c) => this.errorText(this.fn.cuGetErrorString, c) }, CU_RESULT_NAMES);
  }

  private errorText(f: NativeFn, code: number): string | null {
    const out = new BigUint64Array(1);
    if ((f(code, out) as number) !== 0 || out[0] === 0n) return null;
    return decodeString(out[0]);
  }

  // ---- memory ----------------------------------------------------------------------------------------
  alloc(bytes: number): bigint {
    const p = new BigUint64Array(1);
    this.call(`cuMemAlloc_v2(${bytes} bytes)`, this.fn.cuMemAlloc(p, bytes));
    return p[0];
  }
  free(ptr: bigint): void {
    this.call('cuMemFree_v2', this.fn.cuMemFree(ptr));
  }
  memInfo(): { free: number; total: number } {
    const f = new BigUint64Array(1);
    const t = new BigUint64Array(1);
    this.call('cuMemGetInfo_v2', this.fn.cuMemGetInfo(f, t));
    return { free: Number(f[0]), total: Number(t[0]) };
  }
  upload(dst: bigint, src: ArrayBufferView): void {
    this.call('cuMemcpyHtoDAsync_v2', this.fn.cuMemcpyHtoDAsync(dst, src, src.byteLength, this.stream));
  }
  /** Copies and waits: the caller reads `dst` right after. */
  download(dst: ArrayBufferView, src: bigint): void {
    this.call('cuMemcpyDtoHAsync_v2', this.fn.cuMemcpyDtoHAsync(dst, src, dst.byteLength, this.stream));
    this.synchronize();
  }
  copy(dst: bigint, src: bigint, bytes: number): void {
    this.call('cuMemcpyDtoDAsync_v2', this.fn.cuMemcpyDtoDAsync(dst, src, bytes, this.stream));
  }
  memset8(dst: bigint, value: number, count: number): void {
    this.call('cuMemsetD8Async', this.fn.cuMemsetD8Async(dst, value, count, this.stream));
  }
  memset16(dst: bigint, value: number, count: number): void {
    this.call('cuMemsetD16Async', this.fn.cuMemsetD16Async(dst, value, count, this.stream));
  }
  memset32(dst: bigint, value: number, count: number): void {
    this.call('cuMemsetD32Async', this.fn.cuMemsetD32Async(dst, value >>> 0, count, this.stream));
  }
  synchronize(): void {
    this.call('cuStreamSynchronize', this.fn.cuStreamSynchronize(this.stream));
  }

  // ---- modules and launches ----------------------------------------------------------------------------
  /** Load a PTX (or cubin) image; the driver JIT-compiles PTX for this GPU. */
  loadModule(image: string): bigint {
    const m = new BigUint64Array(1);
    this.call('cuModuleLoadData', this.fn.cuModuleLoadData(m, Buffer.from(`${image}\0`, 'utf8')));
    return m[0];
  }
  unloadModule(mod: bigint): void {
    this.call('cuModuleUnload', this.fn.cuModuleUnload(mod));
  }
  getFunction(mod: bigint, name: string): bigint {
    const f = new BigUint64Array(1);
    this.call(`cuModuleGetFunction(${name})`, this.fn.cuModuleGetFunction(f, mod, name));
    return f[0];
  }
  /** Allow a kernel more than 48 KB of dynamic shared memory. */
  setMaxDynamicShared(fn: bigint, bytes: number, name: string): void {
    this.call(`cuFuncSetAttribute(${name}, max dynamic shared ${bytes})`, this.fn.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes));
  }
  launch(fn: bigint, grid: readonly [number, number, number], block: readonly [number, number, number], sharedBytes: number, args: KernelArg[], name: string): void {
    this.call(
      `cuLaunchKernel(${name}, grid ${grid.join('×')}, block ${block.join('×')})`,
      this.fn.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes, this.stream, args, null),
    );
  }

  // ---- events (timing) ---------------------------------------------------------------------------------
  createEvent(): bigint {
    const e = new BigUint64Array(1);
    this.call('cuEventCreate', this.fn.cuEventCreate(e, 0));
    return e[0];
  }
  recordEvent(e: bigint): void {
    this.call('cuEventRecord', this.fn.cuEventRecord(e, this.stream));
  }
  /** Milliseconds between two recorded events (waits for the second). */
  elapsedMs(start: bigint, end: bigint): number {
    this.call('cuEventSynchronize', this.fn.cuEventSynchronize(end));
    const ms = new Float32Array(1);
    this.call('cuEventElapsedTime', this.fn.cuEventElapsedTime(ms, start, end));
    return ms[0];
  }
  destroyEvent(e: bigint): void {
    this.call('cuEventDestroy_v2', this.fn.cuEventDestroy(e));
  }

  // ---- graphs (the decode step replays one) ---------------------------------------------------------------
  /** Record every launch `body` makes on the stream into an executable graph (nothing runs while capturing). */
  captureGraph(body: () => void): { exec: bigint; graph: bigint } {
    // Relaxed mode: our allocator may still call cuMemAlloc while capturing (the blocks then belong to the
    // graph's pool, see allocator.ts).
    this.call('cuStreamBeginCapture_v2', this.fn.cuStreamBeginCapture(this.stream, CU_STREAM_CAPTURE_MODE_RELAXED));
    let failure: unknown = null;
    try {
      body();
    } catch (e) {
      failure = e;
    }
    const graph = new BigUint64Array(1);
    const ended = this.fn.cuStreamEndCapture(this.stream, graph) as number;
    if (failure !== null) {
      if (graph[0] !== 0n) this.fn.cuGraphDestroy(graph[0]);
      throw failure;
    }
    this.call('cuStreamEndCapture', ended);
    const exec = new BigUint64Array(1);
    try {
      this.call('cuGraphInstantiateWithFlags', this.fn.cuGraphInstantiate(exec, graph[0], 0));
    } catch (e) {
      this.fn.cuGraphDestroy(graph[0]);
      throw e;
    }
    return { exec: exec[0], graph: graph[0] };
  }
  launchGraph(exec: bigint): void {
    this.call('cuGraphLaunch', this.fn.cuGraphLaunch(exec, this.stream));
  }
  destroyGraph(g: { exec: bigint; graph: bigint }): void {
    this.call('cuGraphExecDestroy', this.fn.cuGraphExecDestroy(g.exec));
    this.call('cuGraphDestroy', this.fn.cuGraphDestroy(g.graph));
  }
}
