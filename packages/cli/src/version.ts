import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPackageRoot } from './package-root.js';

/** The dfs version: @dfs/cli's package.json. */
export function dfsVersion(): string {
  const pkg = JSON.parse(readFileSync(join(cliPackageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
