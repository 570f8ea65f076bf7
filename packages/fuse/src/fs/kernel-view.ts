import { isSameOrDescendant } from '@dfs/proto';

/**
 * What the kernel was last told about each path's size, so open() can keep close-to-open
 * while the kernel caches attributes (attr_timeout > 0).
 *
 * The kernel reads a file only up to the size it has cached; libfuse 2's path API cannot
 * invalidate that cache. So when open() finds that the master's size differs from the one
 * the kernel holds, it fails with ESTALE once: the VFS then repeats the path walk with
 * LOOKUP_REVAL, which makes FUSE look the name up again (our getattr, answered from the
 * stat open() just made), and calls open again, which now passes. A path we know nothing
 * about counts as stale; a path that was just sent back is let through on the retry, so a
 * caller never sees the ESTALE.
 */
export class KernelView {
  private readonly sizes = new Map<string, number>();
  private readonly retried = new Set<string>();

  constructor(private readonly maxEntries = 100_000) {}

  /** The kernel got `size` for `path` (a getattr answer, or its own writes up to a commit). */
  told(path: string, size: number): void {
    this.sizes.delete(path);
    this.sizes.set(path, size);
    if (this.sizes.size > this.maxEntries) {
      const oldest = this.sizes.keys().next().value;
      if (oldest !== undefined) this.sizes.delete(oldest);
    }
  }

  /**
   * For open(): true when the kernel may hold another size than `size` and must look the
   * path up again first. False on the retry that follows such an answer.
   */
  mustRevalidate(path: string, size: number): boolean {
    if (this.retried.delete(path)) return false;
    if (this.sizes.get(path) === size) return false;
    if (this.retried.size >= 10_000) this.retried.clear(); // retries the kernel never made
    this.retried.add(path);
    return true;
  }

  /** A rename through this mount: the kernel moved its entry (and a directory's whole subtree). */
  renamed(src: string, dst: string, directory: boolean): void {
    const size = this.sizes.get(src);
    this.forget(src, directory);
    this.forget(dst, directory); // a file only replaces a file, a directory only a directory
    if (size !== undefined && !directory) this.told(dst, size);
  }

  /** `path` is gone; with `tree`, everything beneath it too (a scan, so only for directories). */
  forget(path: string, tree = false): void {
    this.sizes.delete(path);
    this.retried.delete(path);
    if (tree) for (const p of this.sizes.keys()) if (isSameOrDescendant(p, path)) this.sizes.delete(p);
  }
}
