import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/*
 * The master that led when the last `dfs` command for the same masters finished, kept in
 * $XDG_CACHE_HOME/dfs/leaders.json (~/.cache). A fresh process otherwise asks every master who
 * leads before its first call: three TLS handshakes for one `dfs stat`, ~25 ms of CPU and
 * ~40 ms here (packages/cli/DESIGN.md). The hint only says whom to ask first; the master pool
 * believes nothing but that master's own answer (MasterPoolOptions.leaderHint). A missing,
 * unreadable or unwritable file just means no hint.
 */

/** Kept per masters list; the oldest entries go beyond this many. */
const MAX_ENTRIES = 32;

function hintFile(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dfs', 'leaders.json');
}

function keyOf(masters: readonly string[]): string {
  return [...masters].sort().join(',');
}

function readAll(file: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The remembered leader for exactly these masters, if it is one of them. */
export function readLeaderHint(masters: readonly string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const hint = readAll(hintFile(env))[keyOf(masters)];
  return typeof hint === 'string' && masters.includes(hint) ? hint : undefined;
}

/** Remembers `leader` for these masters (a rename, so concurrent commands never see half a file). */
export function writeLeaderHint(masters: readonly string[], leader: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = hintFile(env);
  try {
    const all = readAll(file);
    const key = keyOf(masters);
    delete all[key]; // re-inserted last: the newest
    all[key] = leader;
    const keys = Object.keys(all);
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_ENTRIES))) delete all[old];
    // One level at a time: Node 20's recursive mkdirSync never returns when a parent cannot be
    // created on procfs (XDG_CACHE_HOME=/proc/x loops on ENOENT); a deeper missing path = no hint.
    for (const d of [dirname(dirname(file)), dirname(file)]) {
      try {
        mkdirSync(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(all));
    renameSync(tmp, file);
  } catch {
    /* a read-only home: no hint next time */
  }
}
