import { execFileSync } from 'node:child_process';

/** dfs host namespaces that still exist (`dfs<pid>-<n>-…`): none may outlive a run. */
export function namespacesLeft(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((ns) => /^dfs\d+-\d+-/.test(ns));
}

/** The root namespace's nftables tables (the nemesis must never add one). */
export function rootNftTables(): string {
  return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
}
