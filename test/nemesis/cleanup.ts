import { execFileSync } from 'node:child_process';

/**
 * dfs host namespaces that still exist (`dfs<pid>-<n>-…`): none may outlive a run. With
 * `prefix` (see hostsPrefix), only one cluster's: other runs may be going on beside it.
 */
export function namespacesLeft(prefix?: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((ns) => /^dfs\d+-\d+-/.test(ns) && (prefix === undefined || ns.startsWith(prefix)));
}

/** The prefix every namespace of one cluster's hosts shares (`dfs<pid>-<n>-`), from its bridge's. */
export function hostsPrefix(bridgeNs: string): string {
  return bridgeNs.slice(0, bridgeNs.lastIndexOf('-') + 1);
}

/** The root namespace's nftables tables (the nemesis must never add one). */
export function rootNftTables(): string {
  return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
}
