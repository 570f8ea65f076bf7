import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let root: string | undefined;

/**
 * The @dfs/cli package directory. Found by walking up from this module, because the module
 * runs from two places: dist/src/ (tsc) and dist/ (the start-up bundle, see scripts/bundle.mjs).
 */
export function cliPackageRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === '@dfs/cli') return (root = dir);
    if (dirname(dir) === dir) throw new Error(`@dfs/cli's package.json not found above ${__dirname}`);
  }
}
