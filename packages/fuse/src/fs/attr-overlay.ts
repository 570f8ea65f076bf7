import type { AttrOverride } from './attrs.js';
import { isWithin, rebase } from './paths.js';

/**
 * mode and mtime set on this mount (chmod, utimens) that the backend cannot store yet.
 * They follow renames and vanish with the file; they are lost when the mount ends.
 */
export class AttrOverlay {
  private readonly entries = new Map<string, AttrOverride>();

  get(path: string): AttrOverride | undefined {
    return this.entries.get(path);
  }

  set(path: string, change: AttrOverride): void {
    this.entries.set(path, { ...this.entries.get(path), ...change });
  }

  /** A local write makes the file's mtime "now" again. */
  clearMtime(path: string): void {
    const entry = this.entries.get(path);
    if (!entry || entry.mtimeMs === undefined) return;
    if (entry.mode === undefined) this.entries.delete(path);
    else this.entries.set(path, { mode: entry.mode });
  }

  delete(path: string): void {
    this.entries.delete(path);
  }

  deleteWithin(dir: string): void {
    for (const path of [...this.entries.keys()]) if (isWithin(path, dir)) this.entries.delete(path);
  }

  rename(from: string, to: string): void {
    this.deleteWithin(to);
    for (const [path, entry] of [...this.entries]) {
      if (!isWithin(path, from)) continue;
      this.entries.delete(path);
      this.entries.set(rebase(path, from, to), entry);
    }
  }
}
