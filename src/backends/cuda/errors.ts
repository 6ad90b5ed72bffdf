// CUDA status codes as JS errors: every failing driver, cuBLASLt or NVRTC call throws a CudaError that
// names the call, the status name and the library's own description of it.

export class CudaError extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
    readonly codeName: string,
    readonly description: string,
  ) {
    super(`${call} failed: ${codeName} (${code})${description ? `: ${description}` : ''}`);
    this.name = 'CudaError';
  }
}

/** CUresult names, used when cuGetErrorName itself is unavailable or does not know the code. */
export const CU_RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'CUDA_ERROR_INVALID_VALUE',
  2: 'CUDA_ERROR_OUT_OF_MEMORY',
  3: 'CUDA_ERROR_NOT_INITIALIZED',
  4: 'CUDA_ERROR_DEINITIALIZED',
  34: 'CUDA_ERROR_STUB_LIBRARY',
  35: 'CUDA_ERROR_INSUFFICIENT_DRIVER',
  36: 'CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER',
  46: 'CUDA_ERROR_DEVICE_UNAVAILABLE',
  100: 'CUDA_ERROR_NO_DEVICE',
  101: 'CUDA_ERROR_INVALID_DEVICE',
  200: 'CUDA_ERROR_INVALID_IMAGE',
  201: 'CUDA_ERROR_INVALID_CONTEXT',
  209: 'CUDA_ERROR_NO_BINARY_FOR_GPU',
  218: 'CUDA_ERROR_INVALID_PTX',
  221: 'CUDA_ERROR_JIT_COMPILER_NOT_FOUND',
  222: 'CUDA_ERROR_UNSUPPORTED_PTX_VERSION',
  223: 'CUDA_ERROR_JIT_COMPILATION_DISABLED',
  400: 'CUDA_ERROR_INVALID_HANDLE',
  401: 'CUDA_ERROR_ILLEGAL_STATE',
  500: 'CUDA_ERROR_NOT_FOUND',
  600: 'CUDA_ERROR_NOT_READY',
  700: 'CUDA_ERROR_ILLEGAL_ADDRESS',
  701: 'CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES',
  702: 'CUDA_ERROR_LAUNCH_TIMEOUT',
  710: 'CUDA_ERROR_ASSERT',
  715: 'CUDA_ERROR_ILLEGAL_INSTRUCTION',
  716: 'CUDA_ERROR_MISALIGNED_ADDRESS',
  719: 'CUDA_ERROR_LAUNCH_FAILED',
  800: 'CUDA_ERROR_NOT_PERMITTED',
  801: 'CUDA_ERROR_NOT_SUPPORTED',
  803: 'CUDA_ERROR_SYSTEM_DRIVER_MISMATCH',
  804: 'CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE',
  900: 'CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED',
  901: 'CUDA_ERROR_STREAM_CAPTURE_INVALIDATED',
  999: 'CUDA_ERROR_UNKNOWN',
};

/** cublasStatus_t names (cuBLASLt shares them). */
export const CUBLAS_STATUS_NAMES: Readonly<Record<number, string>> = {
  1: 'CUBLAS_STATUS_NOT_INITIALIZED',
  3: 'CUBLAS_STATUS_ALLOC_FAILED',
  7: 'CUBLAS_STATUS_INVALID_VALUE',
  8: 'CUBLAS_STATUS_ARCH_MISMATCH',
  11: 'CUBLAS_STATUS_MAPPING_ERROR',
  13: 'CUBLAS_STATUS_EXECUTION_FAILED',
  14: 'CUBLAS_STATUS_INTERNAL_ERROR',
  15: 'CUBLAS_STATUS_NOT_SUPPORTED',
  16: 'CUBLAS_STATUS_LICENSE_ERROR',
};

export const NVRTC_RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'NVRTC_ERROR_OUT_OF_MEMORY',
  2: 'NVRTC_ERROR_PROGRAM_CREATION_FAILURE',
  3: 'NVRTC_ERROR_INVALID_INPUT',
  4: 'NVRTC_ERROR_INVALID_PROGRAM',
  5: 'NVRTC_ERROR_INVALID_OPTION',
  6: 'NVRTC_ERROR_COMPILATION',
  7: 'NVRTC_ERROR_BUILTIN_OPERATION_FAILURE',
  11: 'NVRTC_ERROR_INTERNAL_ERROR',
};

/** How a library names its own codes; each may be missing or may not know the code. */
export interface StatusNamer {
  name?(code: number): string | null;
  describe?(code: number): string | null;
}

/** Throw a CudaError for a non-zero status; return quietly on 0. */
export function checkStatus(call: string, code: number, namer: StatusNamer, fallbackNames: Readonly<Record<number, string>>): void {
  if (code === 0) return;
  let name: string | null = null;
  let description: string | null = null;
  try {
    name = namer.name?.(code) ?? null;
    description = namer.describe?.(code) ?? null;
  } catch {
    // the naming call failed too: fall back to our table
  }
  throw new CudaError(call, code, name ?? fallbackNames[code] ?? 'unknown status', description ?? '');
}
