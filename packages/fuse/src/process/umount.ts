import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { isFuseMounted } from '../native/mount-table.js';
import { lookup } from './registry.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

function fusermount(mountpoint: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile('fusermount', ['-u', mountpoint], (err, _stdout, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolvePromise()));
  });
}

/** An absolute mount point path; a dead server's mount cannot be resolved, so fall back to the plain path. */
export function resolveMountpoint(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Unmounts cleanly: asks the dfs-mount server of `mountpoint` to stop (it commits files
 * still being written, then unmounts) and waits for it; without a live server, runs
 * `fusermount -u`. Throws when the mount stays.
 */
export async function umount(path: string, timeoutMs = 120_000): Promise<void> {
  const mountpoint = resolveMountpoint(path);
  const entry = lookup(mountpoint);
  if (entry && isAlive(entry.pid)) {
    process.kill(entry.pid, 'SIGTERM');
    if (!(await until(() => !isAlive(entry.pid), timeoutMs))) throw new Error(`dfs-mount (pid ${entry.pid}) did not stop within ${timeoutMs} ms`);
  }
  if (isFuseMounted(mountpoint)) await fusermount(mountpoint);
  else if (!entry) throw new Error(`${mountpoint}: not a dfs mount`);
}
