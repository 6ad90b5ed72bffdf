// Where the CUDA shared libraries are looked for, in order: STILL_CUDA_LIB_DIR, LD_LIBRARY_PATH, the
// standard system and toolkit folders, then pip's nvidia/*/lib wheels; and, last, the bare soname so the
// dynamic loader's own cache gets a say. Pure logic over an injectable file system, so it is testable.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface LibraryQuery {
  /** What the library is, for messages: 'the CUDA driver', 'cuBLASLt', 'NVRTC'. */
  what: string;
  /** File names to look for, most preferred first (e.g. libcublasLt.so.13 before .so.12). */
  names: readonly string[];
}

export const LIBCUDA: LibraryQuery = { what: 'the CUDA driver', names: ['libcuda.so.1', 'libcuda.so'] };
export const LIBCUBLASLT: LibraryQuery = {
  what: 'cuBLASLt',
  names: ['libcublasLt.so.13', 'libcublasLt.so.12', 'libcublasLt.so'],
};
export const LIBNVRTC: LibraryQuery = { what: 'NVRTC', names: ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so'] };

export interface FileSystem {
  exists(path: string): boolean;
  /** Entries of a folder, or [] when it cannot be read. */
  list(dir: string): string[];
}

export const realFs: FileSystem = {
  exists: existsSync,
  list: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
};

/** `/usr/local/cuda-13.0` before `/usr/local/cuda-12.4`: newest toolkit first. */
function versionedCudaDirs(fs: FileSystem): string[] {
  const versions = fs.list('/usr/local').filter((d) => /^cuda-\d+(\.\d+)*$/.test(d));
  const key = (d: string) => d.slice(5).split('.').map(Number);
  versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
    return 0;
  });
  return versions.flatMap((v) => [`/usr/local/${v}/targets/x86_64-linux/lib`, `/usr/local/${v}/lib64`]);
}

/** Python site-packages folders that may hold NVIDIA's pip wheels (nvidia/<pkg>/lib). */
function sitePackages(env: NodeJS.ProcessEnv, fs: FileSystem): string[] {
  const prefixes = [env.VIRTUAL_ENV, env.CONDA_PREFIX, '/usr/local', '/usr', join(env.HOME ?? homedir(), '.local')]
    .filter((p): p is string => !!p);
  const out: string[] = [];
  for (const prefix of prefixes) {
    for (const lib of ['lib', 'lib64']) {
      for (const py of fs.list(join(prefix, lib)).filter((d) => /^python3(\.\d+)?$/.test(d)).sort().reverse()) {
        for (const kind of ['site-packages', 'dist-packages']) out.push(join(prefix, lib, py, kind));
      }
    }
  }
  return out;
}

/** Every folder to search, in order, without duplicates. */
export function searchDirs(env: NodeJS.ProcessEnv = process.env, fs: FileSystem = realFs): string[] {
  const split = (v: string | undefined) => (v ?? '').split(':').filter((d) => d.length > 0);
  const pip = sitePackages(env, fs).flatMap((sp) => {
    const nv = join(sp, 'nvidia');
    // nvidia/cublas/lib, nvidia/cuda_nvrtc/lib, and CUDA 13's single nvidia/cu13/lib.
    return fs.list(nv).sort().map((pkg) => join(nv, pkg, 'lib'));
  });
  const dirs = [
    ...split(env.STILL_CUDA_LIB_DIR),
    ...split(env.LD_LIBRARY_PATH),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib64',
    '/usr/lib/wsl/lib',
    '/usr/local/cuda/targets/x86_64-linux/lib',
    '/usr/local/cuda/lib64',
    ...versionedCudaDirs(fs),
    ...pip,
  ];
  return [...new Set(dirs)];
}

/**
 * The paths to try loading, in order: every existing <dir>/<name>, then the bare names (dlopen's own search).
 * With STILL_CUDA_LIB_DIR set, only that folder is used: it is how tests and users pin one installation.
 */
export function libraryCandidates(q: LibraryQuery, env: NodeJS.ProcessEnv = process.env, fs: FileSystem = realFs): string[] {
  const pinned = (env.STILL_CUDA_LIB_DIR ?? '').split(':').filter((d) => d.length > 0);
  const dirs = pinned.length > 0 ? pinned : searchDirs(env, fs);
  const found: string[] = [];
  for (const name of q.names) for (const dir of dirs) if (fs.exists(join(dir, name))) found.push(join(dir, name));
  return pinned.length > 0 ? found : [...new Set([...found, ...q.names])];
}

/** One line for `still info` and errors: what was searched for and where. */
export function notFoundMessage(q: LibraryQuery, env: NodeJS.ProcessEnv = process.env, lastError?: string): string {
  const pinned = env.STILL_CUDA_LIB_DIR;
  const where = pinned ? `STILL_CUDA_LIB_DIR=${pinned}` : 'STILL_CUDA_LIB_DIR, LD_LIBRARY_PATH, /usr/lib/x86_64-linux-gnu, /usr/local/cuda*, pip nvidia/*/lib';
  // "cannot open shared object file" only repeats "not found"; other loader errors (wrong ELF class, a
  // missing dependency) are the real reason and are kept.
  const reason = lastError && !/cannot open shared object file/.test(lastError) ? `: ${lastError}` : '';
  return `${q.what} (${q.names[0]}) was not found (searched ${where})${reason}`;
}
