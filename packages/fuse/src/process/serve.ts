import { mkdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { resolveMasters, resolveSecurity } from '@dfs/client';
import { describeSecurity } from '@dfs/security';
import { FileType } from '@dfs/proto';
import type { FsBackend } from '../fs/backend.js';
import { connectBackend } from '../fs/dfs-backend.js';
import { DfsFileSystem } from '../fs/filesystem.js';
import { FuseMount } from '../native/fuse-mount.js';
import { fuseOperations } from '../native/fuse-ops.js';
import type { Logger } from './log.js';
import type { MountArgs } from './options.js';
import { register, unregister } from './registry.js';
import { defaultSpoolDir, removeStaleSpoolDirs } from './spool-dir.js';

/** Makes the backend a mount serves; the real one is a DfsClient, tests pass an in-memory one. */
export type Connect = (args: MountArgs) => { backend: FsBackend; close: () => void; description: string };

const connectCluster: Connect = (args) => {
  const { masters } = resolveMasters(args.masters);
  const { security } = resolveSecurity({ tlsDir: args.tlsDir, insecure: args.insecure });
  if (security.insecure) process.stderr.write(`dfs-mount: warning: ${describeSecurity(security)}: nothing is authenticated or encrypted\n`);
  return { ...connectBackend({ masters, security, callTimeoutMs: args.callTimeoutMs, retryWindowMs: args.retryWindowMs ?? 15_000 }), description: masters.join(',') };
};

/** How long an unmount waits for descriptors still open on the mount to be closed. */
const DEFAULT_GRACE_MS = 30_000;

/** How often the server checks that its mount still exists (an external `fusermount -u`). */
const WATCH_INTERVAL_MS = 1000;

export interface Served {
  mountpoint: string;
  /** Resolves once the mount is gone and everything is cleaned up. */
  finished: Promise<void>;
  stop(reason: string): Promise<void>;
}

/**
 * Mounts and serves until stopped: SIGINT/SIGTERM, `dfs-mount --umount`, or the mount
 * disappearing. On the way out it unmounts lazily, lets descriptors still open finish
 * (their close commits) for a grace period, and removes its spool directory. A file still
 * open for writing after that is not committed (it would publish a truncated version);
 * its spool is kept and logged.
 */
export async function serve(args: MountArgs, log: Logger, connect: Connect = connectCluster): Promise<Served> {
  let mountpoint: string;
  try {
    mountpoint = realpathSync(args.mountpoint);
  } catch {
    throw new Error(`${args.mountpoint}: mount point does not exist (create the directory first)`);
  }
  const { backend, close, description } = connect(args);

  const root = await backend.tryStat(args.remoteDir).catch((err: unknown) => {
    close();
    throw new Error(`cannot reach the cluster at ${description}: ${err instanceof Error ? err.message : String(err)}`);
  });
  if (!root || root.type !== FileType.DIRECTORY) {
    close();
    throw new Error(`${args.remoteDir}: no such directory in dfs`);
  }

  if (!args.spoolDir) {
    const stale = removeStaleSpoolDirs();
    if (stale.length > 0) log.info('removed spool directories of dead mounts', { dirs: stale });
  }
  const spoolDir = args.spoolDir ?? defaultSpoolDir();
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const fs = new DfsFileSystem(backend, {
    remoteRoot: args.remoteDir,
    spoolDir,
    attrTtlMs: args.attrTtlMs,
    dirTtlMs: args.attrTtlMs,
    cacheBytes: args.cacheBytes,
    readaheadMax: args.readaheadMax,
    writeBehind: args.writeBehind,
  });
  const fuse = new FuseMount(mountpoint, fuseOperations(fs, log), {
    fsname: `dfs:${args.remoteDir}`,
    allowOther: args.allowOther,
    debug: args.debug,
  });
  try {
    await fuse.mount();
  } catch (err) {
    close();
    if (!args.spoolDir) rmSync(spoolDir, { recursive: true, force: true });
    throw err;
  }
  register({ pid: process.pid, mountpoint, remoteDir: args.remoteDir, startedAt: Date.now() });
  log.info('mounted', { mountpoint, remoteDir: args.remoteDir, cluster: description });

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let stopping: Promise<void> | undefined;
  const watch = setInterval(() => {
    if (!fuse.mounted) void stop('mount point was unmounted');
  }, WATCH_INTERVAL_MS);

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(watch);
      log.info('unmounting', { mountpoint, reason, openHandles: fs.openHandles });
      // Lazy unmount: no new opens; descriptors already open keep working, and their
      // close() commits as usual. Give them a grace period, then give up on the rest.
      await fuse.unmount().catch((err: unknown) => log.error('unmount failed', { error: err instanceof Error ? err.message : String(err) }));
      const deadline = Date.now() + (args.graceMs ?? DEFAULT_GRACE_MS);
      while (fs.openHandles > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const left = await fs.uncommitted();
      if (left.length > 0) {
        // Never publish a half-written file: its spool is kept (renamed so that no later
        // mount cleans it up) for rescue.
        const rescueDir = `${spoolDir}-rescue-${Date.now()}`;
        try {
          renameSync(spoolDir, rescueDir);
        } catch {
          /* leave it where it is */
        }
        log.error('files open for writing at unmount were not committed; their content was kept', { files: left, spoolDir, rescueDir });
      } else {
        await fs.disposeAll();
        if (!args.spoolDir) rmSync(spoolDir, { recursive: true, force: true });
      }
      close();
      unregister(mountpoint, process.pid);
      log.info('unmounted', { mountpoint });
      finish();
    })();
    return stopping;
  };
  return { mountpoint, finished, stop };
}
