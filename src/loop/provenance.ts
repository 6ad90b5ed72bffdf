// Where a run came from, for its report: the still-ts version and commit (when the package is a git
// checkout) and the Node version. The caller adds the backend and the data.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);

export function packageProvenance(): { commit: string | null; version: string; node: string } {
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim() || null;
  } catch {
    commit = null; // not a checkout (an npm install), or no git here
  }
  const version = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string }).version;
  return { commit, version, node: process.versions.node };
}
