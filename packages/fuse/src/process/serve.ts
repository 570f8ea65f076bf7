import { mkdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { resolveMasters, resolveSecurity, resolveToken } from '@dfs/client';
import { describeSecurity } from '@dfs/security';
import { FileType } from '@dfs/proto';
import type { FsBackend } from '../fs/backend.js';
import { connectBackend } from '../fs/dfs-backend.js';
import { DfsFileSystem, FS_DEFAULTS } from '../fs/filesystem.js';
import { FuseMount, KERNEL_TIMEOUT_DEFAULTS, type KernelTimeouts } from '../native/fuse-mount.js';
import { IdentityMap } from '../fs/identity-map.js';
import { fuseOperations } from '../native/fuse-ops.js';
import type { Logger } from '@dfs/telemetry';
import type { MountArgs } from './options.js';
import { register, unregister } from './registry.js';
import { defaultSpoolDir, removeStaleSpoolDirs } from './spool-dir.js';

/** Makes the backend a mount serves; the real one is a DfsClient, tests pass an in-memory one. */
export type Connect = (args: MountArgs) => {
  backend: FsBackend;
  close: () => void;
  description: string;
  /** Who the cluster takes this mount for (its token's user), to show it as the mounting user. */
  whoami?: () => Promise<{ user: string; groups: string[] }>;
};

const connectCluster: Connect = (args) => {
  const { masters } = resolveMasters(args.masters);
  const { security } = resolveSecurity({ tlsDir: args.tlsDir, insecure: args.insecure });
  if (security.insecure) process.stderr.write(`dfs-mount: warning: ${describeSecurity(security)}: nothing is authenticated or encrypted\n`);
  const token = resolveToken(args.token);
  const conn = connectBackend({ masters, security, callTimeoutMs: args.callTimeoutMs, retryWindowMs: args.retryWindowMs ?? 15_000, ...(token ? { token } : {}) });
  return { ...conn, description: masters.join(','), whoami: () => conn.client.whoami() };
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
  const { backend, close, description, whoami } = connect(args);

  const root = await backend.tryStat(args.remoteDir).catch((err: unknown) => {
    close();
    throw new Error(`cannot reach the cluster at ${description}: ${err instanceof Error ? err.message : String(err)}`);
  });
  if (!root || root.type !== FileType.DIRECTORY) {
    close();
    throw new Error(`${args.remoteDir}: no such directory in dfs`);
  }

  let identity: IdentityMap | undefined;
  if (whoami) {
    const me = await whoami().catch((err: unknown) => {
      close();
      throw new Error(`the cluster refused this mount's identity: ${err instanceof Error ? err.message : String(err)}`);
    });
    identity = new IdentityMap(me, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
    log.info({ user: me.user, groups: me.groups }, 'mount identity');
  }

  if (!args.spoolDir) {
    const stale = removeStaleSpoolDirs();
    if (stale.length > 0) log.info({ dirs: stale }, 'removed spool directories of dead mounts');
  }
  const spoolDir = args.spoolDir ?? defaultSpoolDir();
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const kernelTimeouts: KernelTimeouts = {
    attrMs: args.attrTimeoutMs ?? KERNEL_TIMEOUT_DEFAULTS.attrMs,
    entryMs: args.entryTimeoutMs ?? KERNEL_TIMEOUT_DEFAULTS.entryMs,
    negativeMs: args.negativeTimeoutMs ?? KERNEL_TIMEOUT_DEFAULTS.negativeMs,
  };
  const attrTtlMs = args.attrTtlMs ?? FS_DEFAULTS.attrTtlMs;
  const fs = new DfsFileSystem(backend, {
    remoteRoot: args.remoteDir,
    spoolDir,
    attrTtlMs,
    dirTtlMs: attrTtlMs,
    kernelCaches: Object.values(kernelTimeouts).some((ms) => ms > 0),
    cacheBytes: args.cacheBytes,
    readaheadMax: args.readaheadMax,
    writeBehind: args.writeBehind,
    ...(identity ? { identity } : {}),
  });
  const fuse = new FuseMount(mountpoint, fuseOperations(fs, log), {
    fsname: `dfs:${args.remoteDir}`,
    allowOther: args.allowOther,
    debug: args.debug,
    kernelTimeouts,
  });
  try {
    await fuse.mount();
  } catch (err) {
    close();
    if (!args.spoolDir) rmSync(spoolDir, { recursive: true, force: true });
    throw err;
  }
  register({ pid: process.pid, mountpoint, remoteDir: args.remoteDir, startedAt: Date.now() });
  // A cached answer is at most attrTtlMs old when the kernel gets it, and the kernel keeps it for its timeout.
  const stalenessBoundMs = attrTtlMs + Math.max(kernelTimeouts.attrMs, kernelTimeouts.entryMs, kernelTimeouts.negativeMs);
  log.info({ mountpoint, remoteDir: args.remoteDir, cluster: description, kernelTimeouts, attrTtlMs, stalenessBoundMs }, 'mounted');

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let stopping: Promise<void> | undefined;
  const watch = setInterval(() => {
    if (!fuse.mounted) void stop('mount point was unmounted');
  }, WATCH_INTERVAL_MS);

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(watch);
      log.info({ mountpoint, reason, openHandles: fs.openHandles }, 'unmounting');
      // Lazy unmount: no new opens; descriptors already open keep working, and their
      // close() commits as usual. Give them a grace period, then give up on the rest.
      await fuse.unmount().catch((err: unknown) => log.error({ error: err instanceof Error ? err.message : String(err) }, 'unmount failed'));
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
        log.error({ files: left, spoolDir, rescueDir }, 'files open for writing at unmount were not committed; their content was kept');
      } else {
        await fs.disposeAll();
        if (!args.spoolDir) rmSync(spoolDir, { recursive: true, force: true });
      }
      close();
      unregister(mountpoint, process.pid);
      log.info({ mountpoint }, 'unmounted');
      finish();
    })();
    return stopping;
  };
  return { mountpoint, finished, stop };
}
