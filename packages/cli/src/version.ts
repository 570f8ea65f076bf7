import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The dfs version: @dfs/cli's package.json (compiled to dist/src/, two levels below it). */
export function dfsVersion(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
