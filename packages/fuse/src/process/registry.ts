import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where running dfs-mount servers record themselves, so `--umount` can find them. */
function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_RUNTIME_DIR ?? tmpdir(), 'dfs-mount');
}

function entryPath(mountpoint: string): string {
  return join(registryDir(), `${createHash('sha1').update(mountpoint).digest('hex').slice(0, 16)}.json`);
}

export interface RegistryEntry {
  pid: number;
  mountpoint: string;
  remoteDir: string;
  startedAt: number;
}

export function register(entry: RegistryEntry): void {
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  writeFileSync(entryPath(entry.mountpoint), JSON.stringify(entry));
}

export function lookup(mountpoint: string): RegistryEntry | undefined {
  try {
    const entry = JSON.parse(readFileSync(entryPath(mountpoint), 'utf8')) as RegistryEntry;
    return entry.mountpoint === mountpoint && Number.isInteger(entry.pid) ? entry : undefined;
  } catch {
    return undefined;
  }
}

export function unregister(mountpoint: string, pid: number): void {
  if (lookup(mountpoint)?.pid === pid) rmSync(entryPath(mountpoint), { force: true });
}
