// NVRTC, the run-time CUDA C compiler: the fallback when the driver rejects our committed PTX (a driver
// older than the nvcc that made it). It compiles the embedded .cu source for the GPU that is present.
import { NVRTC_RESULT_NAMES, checkStatus } from './errors.ts';
import { bind, loadLibrary, type NativeFn } from './ffi.ts';
import { LIBNVRTC } from './libraries.ts';

export class Nvrtc {
  readonly path: string;
  private readonly fn: Record<string, NativeFn>;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const { lib, path } = loadLibrary(LIBNVRTC, env);
    this.path = path;
    const f = (name: string, args: string) => bind(lib, name, 'int', args);
    this.fn = {
      create: f('nvrtcCreateProgram', 'void *prog, const char *src, const char *name, int numHeaders, const char **headers, const char **includeNames'),
      compile: f('nvrtcCompileProgram', 'void *prog, int numOptions, const char **options'),
      ptxSize: f('nvrtcGetPTXSize', 'void *prog, void *size'),
      ptx: f('nvrtcGetPTX', 'void *prog, void *out'),
      logSize: f('nvrtcGetProgramLogSize', 'void *prog, void *size'),
      log: f('nvrtcGetProgramLog', 'void *prog, void *out'),
      destroy: f('nvrtcDestroyProgram', 'void *prog'),
      errorString: bind(lib, 'nvrtcGetErrorString', 'const char *', 'int result'),
    };
  }

  private check(call: string, code: unknown, log = ''): void {
    try {
      checkStatus(call, code as number, { name: (c) => this.fn.errorString(c) as string }, NVRTC_RESULT_NAMES);
    } catch (e) {
      if (log) (e as Error).message += `\n${log}`;
      throw e;
    }
  }

  /** Compile one .cu file (with its headers, by include name) to PTX for compute capability `cc` (e.g. 90). */
  compile(name: string, source: string, headers: Record<string, string>, cc: number): string {
    const prog = new BigUint64Array(1);
    const names = Object.keys(headers);
    this.check(`nvrtcCreateProgram(${name})`, this.fn.create(prog, source, name, names.length, names.map((n) => headers[n]), names));
    const progHandle = new BigUint64Array([prog[0]]);
    try {
      const options = [`--gpu-architecture=compute_${cc}`, '-std=c++17'];
      const status = this.fn.compile(prog[0], options.length, options) as number;
      this.check(`nvrtcCompileProgram(${name})`, status, status !== 0 ? this.log(prog[0]) : '');
      const size = new BigUint64Array(1);
      this.check('nvrtcGetPTXSize', this.fn.ptxSize(prog[0], size));
      const out = Buffer.alloc(Number(size[0]));
      this.check('nvrtcGetPTX', this.fn.ptx(prog[0], out));
      return out.toString('utf8', 0, Math.max(0, out.indexOf(0)));
    } finally {
      this.fn.destroy(progHandle);
    }
  }

  private log(prog: bigint): string {
    const size = new BigUint64Array(1);
    if ((this.fn.logSize(prog, size) as number) !== 0) return '';
    const out = Buffer.alloc(Number(size[0]));
    if ((this.fn.log(prog, out) as number) !== 0) return '';
    return out.toString('utf8', 0, Math.max(0, out.indexOf(0)));
  }
}
