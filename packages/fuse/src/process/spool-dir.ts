import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'dfs-mount-';

/** The spool directory of the server with this pid, when --spool-dir is not given. */
export function defaultSpoolDir(pid = process.pid): string {
  return join(tmpdir(), `${PREFIX}${pid}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes default spool directories of servers that no longer run (a SIGKILLed
 * dfs-mount cannot clean up). Their content was never committed, so nobody needs it.
 * Returns the directories removed.
 */
export function removeStaleSpoolDirs(dir = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^dfs-mount-(\d+)$/.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}
