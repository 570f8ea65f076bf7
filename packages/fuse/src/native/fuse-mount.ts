import Fuse, { type FuseOperations, type FuseOptions } from 'fuse-native';
import { isFuseMounted } from './mount-table.js';

/**
 * How long the kernel keeps what the mount told it, without asking again: attributes,
 * names (dentries) and "no such file" answers. Zero everywhere = it asks every time.
 */
export interface KernelTimeouts {
  attrMs: number;
  entryMs: number;
  negativeMs: number;
}

/** MooseFS-like: one second each (mfsattrcacheto, mfsdirentrycacheto). */
export const KERNEL_TIMEOUT_DEFAULTS: KernelTimeouts = { attrMs: 1000, entryMs: 1000, negativeMs: 1000 };

export interface FuseMountOptions {
  fsname: string;
  allowOther?: boolean;
  debug?: boolean;
  kernelTimeouts?: KernelTimeouts;
}

/**
 * libfuse options fuse-native has no switch for:
 * - big_writes/max_write: 128 KiB writes instead of 4 KiB (measured ~3x faster here);
 * - max_readahead: let the kernel read ahead 1 MiB;
 * - default_permissions: the kernel checks mode bits against the owner and group we report
 *   for every local caller (the master checks the mount's own identity again);
 * - use_ino: st_ino is the master's inode number (stable across remounts; the same for
 *   every hard link of a file) instead of one libfuse makes up per path.
 */
const EXTRA_OPTIONS = ['default_permissions', 'use_ino', 'big_writes', 'max_write=131072', 'max_readahead=1048576'];

/** The kernel cache timeouts as libfuse options (seconds, fractions allowed). */
export function timeoutOptions(t: KernelTimeouts): string[] {
  const secs = (ms: number): string => String(ms / 1000);
  return [`attr_timeout=${secs(t.attrMs)}`, `entry_timeout=${secs(t.entryMs)}`, `negative_timeout=${secs(t.negativeMs)}`];
}

class TunedFuse extends Fuse {
  constructor(
    mountpoint: string,
    ops: FuseOperations,
    opts: FuseOptions,
    private readonly extra: string[],
  ) {
    super(mountpoint, ops, opts);
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    return `${base ? `${base},` : '-o'}${this.extra.join(',')}`;
  }
}

/** One FUSE mount served by this process. */
export class FuseMount {
  private readonly fuse: TunedFuse;

  constructor(
    readonly mountpoint: string,
    ops: FuseOperations,
    opts: FuseMountOptions,
  ) {
    this.fuse = new TunedFuse(mountpoint, ops, {
      // Commits and whole-file spools may take long; the client's own deadlines bound every RPC.
      timeout: false,
      // A stale mount left by a crashed dfs-mount ("transport endpoint is not connected") is cleared first.
      force: true,
      fsname: opts.fsname,
      subtype: 'dfs',
      allowOther: opts.allowOther,
      debug: opts.debug,
    }, [...EXTRA_OPTIONS, ...timeoutOptions(opts.kernelTimeouts ?? KERNEL_TIMEOUT_DEFAULTS)]);
  }

  mount(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.fuse.mount((err) => (err ? reject(new Error(`cannot mount ${this.mountpoint}: ${err.message}`)) : resolve()));
    });
  }

  get mounted(): boolean {
    return isFuseMounted(this.mountpoint);
  }

  /** Lazy unmount (fusermount -uz): a busy mount point detaches now and goes when released. */
  unmount(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.fuse.unmount((err) => {
        if (err && this.mounted) reject(new Error(`cannot unmount ${this.mountpoint}: ${err.message}`));
        else resolve();
      });
    });
  }
}
