import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let found: { root: string; version: string } | undefined;

/**
 * @dfs/cli's directory and version, from its package.json. Found by walking up from this
 * module, because the module runs from two places: dist/src/ (tsc) and dist/ (the start-up
 * bundle, see scripts/bundle.mjs). Read once per process.
 */
function cliPackage(): { root: string; version: string } {
  if (found) return found;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@dfs/cli') return (found = { root: dir, version: pkg.version ?? '0.0.0' });
    }
    if (dirname(dir) === dir) throw new Error(`@dfs/cli's package.json not found above ${__dirname}`);
  }
}

export function cliPackageRoot(): string {
  return cliPackage().root;
}

/** The dfs version: @dfs/cli's package.json. */
export function dfsVersion(): string {
  return cliPackage().version;
}
