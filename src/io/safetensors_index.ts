// Opening an HF checkpoint: one model.safetensors, or shards listed in model.safetensors.index.json.
//
// The index maps each tensor name to a shard file. We open every shard up front and check that
// each mapped tensor is really there, so a half-downloaded or mismatched checkpoint fails at load
// with the shard's name, not halfway through building the model.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { SafetensorsFile, type RawTensor, type TensorSource } from './safetensors_file.ts';
import { SafetensorsError, type TensorInfo } from './safetensors_header.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/**
 * Open a checkpoint: a directory holding model.safetensors or model.safetensors.index.json,
 * or a path straight to a .safetensors file or an index .json file.
 */
export function openCheckpoint(path: string): TensorSource {
  if (!existsSync(path)) throw new SafetensorsError(`${path}: no such file or directory`, path);
  if (statSync(path).isFile()) return path.endsWith('.json') ? ShardedCheckpoint.open(path) : SafetensorsFile.open(path);
  const single = join(path, SINGLE_FILE);
  if (existsSync(single)) return SafetensorsFile.open(single);
  const index = join(path, INDEX_FILE);
  if (existsSync(index)) return ShardedCheckpoint.open(index);
  const files = readdirSync(path);
  const pickle = files.filter((f) => f.endsWith('.bin') || f.endsWith('.pt') || f.endsWith('.pth'));
  const hint = pickle.length > 0 ? `; found ${pickle.join(', ')}, but only safetensors is supported (pickle files can run code)` : '';
  throw new SafetensorsError(`${path}: no ${SINGLE_FILE} or ${INDEX_FILE}${hint}`, path);
}

/** A checkpoint split over several safetensors files by an index. */
export class ShardedCheckpoint implements TensorSource {
  private constructor(
    readonly label: string,
    readonly metadata: Record<string, string>,
    private readonly weightMap: Map<string, SafetensorsFile>,
    private readonly shards: SafetensorsFile[],
  ) {}

  static open(indexPath: string): ShardedCheckpoint {
    const fail = (msg: string, tensor?: string): never => {
      throw new SafetensorsError(`${indexPath}: ${msg}`, indexPath, tensor);
    };
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (err) {
      return fail(`not valid JSON (${(err as Error).message})`);
    }
    const j = json as { weight_map?: unknown; metadata?: unknown };
    if (j === null || typeof j !== 'object' || Array.isArray(j)) return fail('must be a JSON object with a weight_map');
    const wm = j.weight_map;
    if (wm === undefined) fail('has no weight_map');
    if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) return fail('weight_map must be an object {tensor name: shard file}');

    const metadata: Record<string, string> = {};
    if (j.metadata !== null && typeof j.metadata === 'object') {
      for (const [k, v] of Object.entries(j.metadata as Record<string, unknown>)) {
        const value = typeof v === 'string' ? v : JSON.stringify(v);
        Object.defineProperty(metadata, k, { value, enumerable: true, writable: true, configurable: true }); // "__proto__" stays data
      }
    }

    const dir = join(indexPath, '..');
    const opened = new Map<string, SafetensorsFile>();
    const weightMap = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
        if (typeof shard !== 'string' || shard === '') fail(`tensor '${name}' maps to ${JSON.stringify(shard)}; expected a shard file name`, name);
        const rel = shard as string;
        // Shards sit beside the index; refuse paths that climb out of the checkpoint directory.
        if (isAbsolute(rel) || normalize(rel).startsWith('..')) fail(`tensor '${name}' maps to '${rel}', outside the checkpoint directory`, name);
        let file = opened.get(rel);
        if (file === undefined) {
          const shardPath = join(dir, rel);
          if (!existsSync(shardPath)) fail(`tensor '${name}' is mapped to shard '${rel}', which does not exist`, name);
          file = SafetensorsFile.open(shardPath);
          opened.set(rel, file);
        }
        if (!file.has(name)) fail(`tensor '${name}' is mapped to shard '${rel}', which has no such tensor`, name);
        weightMap.set(name, file);
      }
    } catch (err) {
      for (const f of opened.values()) f.close();
      throw err;
    }
    return new ShardedCheckpoint(indexPath, metadata, weightMap, [...opened.values()]);
  }

  /** Shard files, in the order first referenced by the index. */
  get files(): string[] {
    return this.shards.map((s) => s.path);
  }

  names(): string[] {
    return [...this.weightMap.keys()].sort();
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    return this.shardOf(name).info(name);
  }

  fileOf(name: string): string {
    return this.shardOf(name).path;
  }

  read(name: string, into?: Uint8Array): RawTensor {
    return this.shardOf(name).read(name, into);
  }

  readF32(name: string): Float32Array {
    return this.shardOf(name).readF32(name);
  }

  readRange(name: string, start: number, length: number): Uint8Array {
    return this.shardOf(name).readRange(name, start, length);
  }

  close(): void {
    for (const s of this.shards) s.close();
  }

  private shardOf(name: string): SafetensorsFile {
    const shard = this.weightMap.get(name);
    if (shard === undefined) throw new SafetensorsError(`${this.label}: no tensor '${name}' in the weight_map (${this.weightMap.size} tensors)`, this.label, name);
    return shard;
  }
}
