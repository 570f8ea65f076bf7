import type { FileStatus } from '@dfs/proto';
import { FileType, isSameOrDescendant, parentPath } from '@dfs/proto';

import { TtlCache, type Clock } from './ttl-cache.js';

/**
 * Small files' bytes kept from stat answers: only open() right after its lookup uses them
 * (within OPEN_REUSE_MS), so a few suffice; at most this many × 4 KiB of memory.
 */
const INLINE_KEPT = 64;

export interface MetaCacheOptions {
  /** How long a stat answer (or a "no such file") is reused. */
  attrTtlMs: number;
  /** How long a directory listing is reused. */
  dirTtlMs: number;
  maxEntries?: number;
  now?: Clock;
}

/**
 * Short-lived metadata answers, by mount path: stat results (null = known absent) and
 * directory listings. Local changes invalidate what they touch; changes by other
 * clients show up within the TTL, and open() always asks the master (close-to-open).
 */
export class MetaCache {
  private readonly attrs: TtlCache<FileStatus | null>;
  /** When each stat answer arrived from the master (not from a listing). */
  private readonly fetchedAt = new Map<string, number>();
  /** The bytes of small files that came with those answers (for open's reuse only; few, see INLINE_KEPT). */
  private readonly fetchedInline = new Map<string, { status: FileStatus; inline: Buffer }>();
  private readonly now: Clock;
  private readonly dirs: TtlCache<FileStatus[]>;

  constructor(opts: MetaCacheOptions) {
    const max = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.attrs = new TtlCache(opts.attrTtlMs, max, opts.now);
    this.dirs = new TtlCache(opts.dirTtlMs, Math.max(16, Math.floor(max / 100)), opts.now);
  }

  /** undefined = not cached; null = cached as absent. */
  stat(path: string): FileStatus | null | undefined {
    return this.attrs.get(path);
  }

  setStat(path: string, status: FileStatus | null): void {
    this.attrs.set(path, status);
  }

  /** Records a stat answer that just came from the master, with the file's bytes if it carried them. */
  setFetchedStat(path: string, status: FileStatus | null, inline?: Buffer): void {
    this.attrs.set(path, status);
    if (this.fetchedAt.size > 10_000) this.fetchedAt.clear();
    this.fetchedAt.set(path, this.now());
    this.fetchedInline.delete(path);
    if (inline && status) {
      if (this.fetchedInline.size >= INLINE_KEPT) this.fetchedInline.delete(this.fetchedInline.keys().next().value!);
      this.fetchedInline.set(path, { status, inline });
    }
  }

  /** The stat answer if the master gave it within the last `maxAgeMs`, else undefined. */
  recentStat(path: string, maxAgeMs: number): FileStatus | null | undefined {
    const at = this.fetchedAt.get(path);
    if (at === undefined || this.now() - at > maxAgeMs) return undefined;
    return this.attrs.get(path);
  }

  /**
   * The bytes that came with the master's answer `status` (the very object), if it came
   * within `maxAgeMs`; never bytes of another answer.
   */
  recentInline(path: string, status: FileStatus, maxAgeMs: number): Buffer | undefined {
    const at = this.fetchedAt.get(path);
    if (at === undefined || this.now() - at > maxAgeMs) return undefined;
    const kept = this.fetchedInline.get(path);
    return kept?.status === status ? kept.inline : undefined;
  }

  listing(dir: string): FileStatus[] | undefined {
    return this.dirs.get(dir);
  }

  setListing(dir: string, entries: FileStatus[], childPath: (name: string) => string): void {
    this.dirs.set(dir, entries);
    for (const entry of entries) this.attrs.set(childPath(entry.name), entry);
  }

  /**
   * `path` changed: forget its stat, its parent's listing and stat (mtime, link count).
   * `keepParent`: the caller updates the parent's stat itself (committedIn).
   */
  changed(path: string, opts: { keepParent?: boolean } = {}): void {
    this.attrs.delete(path);
    this.fetchedAt.delete(path);
    this.fetchedInline.delete(path);
    this.dirs.delete(parentPath(path));
    if (!opts.keepParent) this.attrs.delete(parentPath(path));
  }

  /**
   * The inode `status` describes changed: when it has other names (hard links share it),
   * forget it under every name. A file with one name skips the scan of the whole cache,
   * which would otherwise run on every close of a written file.
   */
  changedInode(status: FileStatus): void {
    if (status.type === FileType.DIRECTORY || status.nlink <= 1) return;
    this.attrs.deleteWhere((_p, cached) => cached?.inode === status.inode);
  }

  /**
   * A file of `path` was just committed at `atMs` (its new mtime): the master touched the
   * parent directory in the same command with the same time (mtime = ctime = the command's
   * now), so the parent's cached stat stays valid with those two times. Saves the stat the
   * kernel asks for right after every create. Its expiry is kept.
   */
  committedIn(path: string, atMs: number): void {
    const parent = parentPath(path);
    const cached = this.attrs.get(parent);
    if (cached) this.attrs.update(parent, { ...cached, mtimeMs: atMs, ctimeMs: atMs });
  }

  /** `path` and everything beneath it changed (rename, rmdir). */
  changedTree(path: string): void {
    this.attrs.deleteWhere((p) => isSameOrDescendant(p, path));
    for (const p of [...this.fetchedAt.keys()]) if (isSameOrDescendant(p, path)) this.fetchedAt.delete(p);
    for (const p of [...this.fetchedInline.keys()]) if (isSameOrDescendant(p, path)) this.fetchedInline.delete(p);
    this.dirs.deleteWhere((p) => isSameOrDescendant(p, path));
    this.dirs.delete(parentPath(path));
    this.attrs.delete(parentPath(path));
  }
}
