// safetensors read/write: the public entry point (implementation in safetensors_{header,file,write,index}.ts).
//
// Reading is lazy (one pread per tensor), validation is strict (every error names the file and the
// tensor), writing is deterministic and atomic. No code execution: only JSON and raw bytes.
export {
  ST_DTYPES,
  ST_ITEMSIZE,
  SafetensorsError,
  formatShape,
  isStDType,
  numElements,
  type StDType,
  type TensorInfo,
} from './safetensors_header.ts';
export { SafetensorsFile, rawToF32, typedView, type RawTensor, type TensorSource } from './safetensors_file.ts';
export { encodeSafetensors, writeSafetensors, type TensorInput, type TypedTensor } from './safetensors_write.ts';
export { INDEX_FILE, SINGLE_FILE, ShardedCheckpoint, openCheckpoint } from './safetensors_index.ts';
