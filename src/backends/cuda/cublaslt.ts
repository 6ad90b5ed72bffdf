// cuBLASLt GEMM for the CUDA backend: bf16/f16 inputs with f32 compute (tensor cores), f32 inputs with
// f32 (or, with STILL_CUDA_TF32=1, TF32) compute; transposes, strided batches, a 64 MB workspace.
// Row-major C = op(A)·op(B) is computed as column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: B goes first, and a row-major
// [r, c] matrix is read as a column-major [c, r] one with ld = c (the mapping PLATFORM.md measured).
// Descriptors, layouts and the heuristic's algorithm are built once per shape and cached.
import { CUBLAS_STATUS_NAMES, checkStatus } from './errors.ts';
import { bind, bindOptional, loadLibrary, type Library, type NativeFn } from './ffi.ts';
import { LIBCUBLASLT } from './libraries.ts';

const CUBLAS_COMPUTE_32F = 68;
const CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
const CUDA_R_32F = 0;
const CUDA_R_16F = 2;
const CUDA_R_16BF = 14;
const DESC_TRANSA = 3;
const DESC_TRANSB = 4;
const LAYOUT_BATCH_COUNT = 5;
const LAYOUT_STRIDED_BATCH_OFFSET = 6;
const PREF_MAX_WORKSPACE_BYTES = 1;
const PREF_MIN_ALIGNMENT = { a: 5, b: 6, c: 7, d: 8 } as const;
const HEURISTIC_RESULT_BYTES = 96; // cublasLtMatmulAlgo_t (64) + size_t + status + float + int[4]
export const WORKSPACE_BYTES = 64 << 20;

export type GemmDType = 'f32' | 'bf16' | 'f16';

/** One row-major GEMM (per batch item): C = op(A)·op(B), op(A) m×k, op(B) k×n; strides in elements, 0 = shared. */
export interface GemmCall {
  dtype: GemmDType;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  batch: number;
  a: bigint;
  b: bigint;
  c: bigint;
  strideA: number;
  strideB: number;
  strideC: number;
}

interface Plan {
  desc: bigint;
  layouts: bigint[]; // [A', B', C] in cuBLAS terms (A' = our B)
  algo: Buffer | null;
}

function bindAll(lib: Library) {
  const f = (name: string, args: string): NativeFn => bind(lib, name, 'int', args);
  return {
    create: f('cublasLtCreate', 'void *handle'),
    descCreate: f('cublasLtMatmulDescCreate', 'void *desc, int computeType, int scaleType'),
    descSet: f('cublasLtMatmulDescSetAttribute', 'void *desc, int attr, const void *buf, size_t bytes'),
    descDestroy: f('cublasLtMatmulDescDestroy', 'void *desc'),
    layoutCreate: f('cublasLtMatrixLayoutCreate', 'void *layout, int type, uint64_t rows, uint64_t cols, int64_t ld'),
    layoutSet: f('cublasLtMatrixLayoutSetAttribute', 'void *layout, int attr, const void *buf, size_t bytes'),
    layoutDestroy: f('cublasLtMatrixLayoutDestroy', 'void *layout'),
    prefCreate: f('cublasLtMatmulPreferenceCreate', 'void *pref'),
    prefSet: f('cublasLtMatmulPreferenceSetAttribute', 'void *pref, int attr, const void *buf, size_t bytes'),
    prefDestroy: f('cublasLtMatmulPreferenceDestroy', 'void *pref'),
    heuristic: f(
      'cublasLtMatmulAlgoGetHeuristic',
      'void *handle, void *desc, void *a, void *b, void *c, void *d, void *pref, int requested, void *results, void *returned',
    ),
    matmul: f(
      'cublasLtMatmul',
      'void *handle, void *desc, const void *alpha, uint64_t a, void *aDesc, uint64_t b, void *bDesc, const void *beta, ' +
        'uint64_t c, void *cDesc, uint64_t d, void *dDesc, const void *algo, uint64_t workspace, size_t workspaceBytes, void *stream',
    ),
    version: bindOptional(lib, 'cublasLtGetVersion', 'size_t', ''),
    statusName: bindOptional(lib, 'cublasLtGetStatusName', 'const char *', 'int status'),
    statusString: bindOptional(lib, 'cublasLtGetStatusString', 'const char *', 'int status'),
  };
}

export class CublasLt {
  readonly version: string;
  readonly path: string;
  /** Whether matmuls pass the cached heuristic algorithm (true) or NULL (cuBLASLt picks per call). */
  private readonly useHeuristic = process.env.STILL_CUBLASLT_ALGO !== 'null';
  private readonly tf32 = process.env.STILL_CUDA_TF32 === '1';
  private readonly fn: ReturnType<typeof bindAll>;
  private readonly handle: bigint;
  private readonly plans = new Map<string, Plan>();
  private readonly one = new Float32Array([1]);
  private readonly zero = new Float32Array([0]);

  /** workspace: WORKSPACE_BYTES of device memory owned by the caller for the life of this object. */
  constructor(private readonly stream: bigint, private readonly workspace: bigint, env: NodeJS.ProcessEnv = process.env) {
    const { lib, path } = loadLibrary(LIBCUBLASLT, env);
    this.path = path;
    this.fn = bindAll(lib);
    const h = new BigUint64Array(1);
    this.check('cublasLtCreate', this.fn.create(h));
    this.handle = h[0];
    const v = this.fn.version ? Number(this.fn.version()) : 0;
    this.version = v ? `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}` : 'unknown';
  }

  private check(call: string, code: unknown): void {
    checkStatus(call, code as number, {
      name: (c) => (this.fn.statusName ? (this.fn.statusName(c) as string) : null),
      describe: (c) => (this.fn.statusString ? (this.fn.statusString(c) as string) : null),
    }, CUBLAS_STATUS_NAMES);
  }

  matmul(g: GemmCall): void {
    const plan = this.plan(g);
    const [la, lb, lc] = plan.layouts;
    const run = () => this.fn.matmul(this.handle, plan.desc, this.one, g.b, la, g.a, lb, this.zero, g.c, lc, g.c, lc, plan.algo, this.workspace, WORKSPACE_BYTES, this.stream) as number;
    let status = run();
    if (status !== 0 && plan.algo) {
      // The heuristic's pick was refused: let cuBLASLt choose per call for this shape from now on.
      plan.algo = null;
      status = run();
    }
    this.check(`cublasLtMatmul(${g.dtype} ${g.batch}×${g.m}×${g.n}×${g.k}${g.transA ? ' Aᵀ' : ''}${g.transB ? ' Bᵀ' : ''})`, status);
  }

  private plan(g: GemmCall): Plan {
    const size = g.dtype === 'f32' ? 4 : 2;
    const align = (p: bigint, stride: number) => alignment(p, g.batch > 1 ? stride * size : 0);
    const aligns = { a: align(g.b, g.strideB), b: align(g.a, g.strideA), c: align(g.c, g.strideC) };
    const key = [g.dtype, g.m, g.n, g.k, +g.transA, +g.transB, g.batch, g.strideA, g.strideB, g.strideC, aligns.a, aligns.b, aligns.c].join(',');
    let plan = this.plans.get(key);
    if (plan) return plan;
    if (this.plans.size >= 512) this.evictAll();
    plan = this.build(g, aligns);
    this.plans.set(key, plan);
    return plan;
  }

  private build(g: GemmCall, aligns: { a: number; b: number; c: number }): Plan {
    const type = g.dtype === 'f32' ? CUDA_R_32F : g.dtype === 'bf16' ? CUDA_R_16BF : CUDA_R_16F;
    const compute = g.dtype === 'f32' && this.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const out = new BigUint64Array(1);
    this.check('cublasLtMatmulDescCreate', this.fn.descCreate(out, compute, CUDA_R_32F));
    const desc = out[0];
    // cuBLAS's A' is our B: [k, n] row-major is column-major n×k (ld n); transposed storage [n, k] is k×n.
    this.check('cublasLtMatmulDescSetAttribute(TRANSA)', this.fn.descSet(desc, DESC_TRANSA, new Int32Array([+g.transB]), 4));
    this.check('cublasLtMatmulDescSetAttribute(TRANSB)', this.fn.descSet(desc, DESC_TRANSB, new Int32Array([+g.transA]), 4));
    const layout = (rows: number, cols: number, stride: number, what: string): bigint => {
      this.check(`cublasLtMatrixLayoutCreate(${what})`, this.fn.layoutCreate(out, type, rows, cols, rows));
      const l = out[0];
      if (g.batch > 1) {
        this.check('cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)', this.fn.layoutSet(l, LAYOUT_BATCH_COUNT, new Int32Array([g.batch]), 4));
        this.check('cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)', this.fn.layoutSet(l, LAYOUT_STRIDED_BATCH_OFFSET, new BigInt64Array([BigInt(stride)]), 8));
      }
      return l;
    };
    const la = g.transB ? layout(g.k, g.n, g.strideB, 'B') : layout(g.n, g.k, g.strideB, 'B');
    const lb = g.transA ? layout(g.m, g.k, g.strideA, 'A') : layout(g.k, g.m, g.strideA, 'A');
    const lc = layout(g.n, g.m, g.strideC, 'C');
    return { desc, layouts: [la, lb, lc], algo: this.useHeuristic ? this.heuristic(desc, la, lb, lc, aligns) : null };
  }

  /** The top heuristic algorithm, or null (cuBLASLt then chooses on every call) if the query fails. */
  private heuristic(desc: bigint, la: bigint, lb: bigint, lc: bigint, aligns: { a: number; b: number; c: number }): Buffer | null {
    const out = new BigUint64Array(1);
    this.check('cublasLtMatmulPreferenceCreate', this.fn.prefCreate(out));
    const pref = out[0];
    try {
      this.check('cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)', this.fn.prefSet(pref, PREF_MAX_WORKSPACE_BYTES, new BigUint64Array([BigInt(WORKSPACE_BYTES)]), 8));
      for (const [which, bytes] of [['a', aligns.a], ['b', aligns.b], ['c', aligns.c], ['d', aligns.c]] as const) {
        this.check('cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)', this.fn.prefSet(pref, PREF_MIN_ALIGNMENT[which], new Uint32Array([bytes]), 4));
      }
      const results = Buffer.alloc(HEURISTIC_RESULT_BYTES);
      const count = new Int32Array(1);
      const status = this.fn.heuristic(this.handle, desc, la, lb, lc, lc, pref, 1, results, count) as number;
      if (status !== 0 || count[0] < 1 || results.readInt32LE(72) !== 0) return null;
      return results.subarray(0, 64);
    } finally {
      this.fn.prefDestroy(pref);
    }
  }

  private evictAll(): void {
    for (const p of this.plans.values()) {
      this.fn.descDestroy(p.desc);
      for (const l of p.layouts) this.fn.layoutDestroy(l);
    }
    this.plans.clear();
  }
}

/** Largest power of two ≤ 256 dividing the pointer and the batch stride in bytes. */
function alignment(ptr: bigint, strideBytes: number): number {
  let a = 256;
  while (a > 1 && (ptr % BigInt(a) !== 0n || strideBytes % a !== 0)) a /= 2;
  return a;
}
