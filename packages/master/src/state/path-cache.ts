import type { Caller } from '../auth/caller.js';
import type { CommandType } from './commands.js';
import { isDir, type InodeRow, type Namespace } from './namespace.js';
import { EXECUTE, requireAccess, walk } from './permissions.js';

/**
 * Commands that never change which directory a path names, nor a directory's mode, owner or
 * group: they add files and directories, or change files only. Every other command — Rename,
 * Delete, SetAttr, TrashCheckpoint and any command added later — empties the cache when applied.
 */
const KEEPS_DIRECTORIES: ReadonlySet<CommandType> = new Set<CommandType>([
  'CreateFile', 'AddChunk', 'AbandonChunk', 'CompleteFile', 'RenewLease', 'Mkdir', 'OpenAppend', 'RecoverLease', 'Noop',
]);

/** Entries kept at most; a full cache starts again empty (no per-hit bookkeeping). */
const MAX_ENTRIES = 100_000;

/** A cached directory: its row as read (for the permission check) and its parent's entry. */
interface DirEntry {
  row: InodeRow;
  up: DirEntry | undefined;
  path: string;
}

/**
 * The path-resolution cache of the read queries (Stat, List, GetFile): directory path → the
 * directory's row and its ancestors', so a read resolves a path's parent without one indexed
 * lookup per component; the last component is always read from the database. Traverse (x) on
 * every ancestor is still checked, from the cached rows. Filled only by reads (committed state,
 * never a row of a rolled-back command); emptied by `applied` for any command that may rename,
 * remove or re-permission a directory, and on restore. Cached rows are used for resolution and
 * permissions only, never returned (their mtime may be old).
 */
export class PathCache {
  private readonly dirs = new Map<string, DirEntry>();
  hits = 0;
  misses = 0;

  constructor(private readonly ns: Namespace) {}

  /** After a command of `type` was applied (whatever its outcome). */
  applied(type: CommandType): void {
    if (!KEEPS_DIRECTORIES.has(type)) this.clear();
  }

  clear(): void {
    this.dirs.clear();
  }

  get size(): number {
    return this.dirs.size;
  }

  /** `walk` (permissions.ts) with the parent directory from the cache: the same rows and errors. */
  walk(comps: string[], caller: Caller): { row?: InodeRow } {
    if (comps.length === 0) return walk(this.ns, comps, caller);
    const parent = this.dir(comps.slice(0, -1), caller);
    if (!parent) return walk(this.ns, comps, caller); // not a directory all the way: the exact error from the walk
    requireTraverse(parent, caller);
    const row = this.ns.child(parent.row.id, comps[comps.length - 1]!);
    return row ? { row } : {};
  }

  /** The directory `comps` names, from the cache or resolved (and cached); undefined if it is not one. */
  private dir(comps: string[], caller: Caller): DirEntry | undefined {
    const path = '/' + comps.join('/');
    const hit = this.dirs.get(path);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const up = comps.length === 0 ? undefined : this.dir(comps.slice(0, -1), caller);
    if (comps.length > 0 && !up) return undefined;
    const row = up ? this.ns.child(up.row.id, comps[comps.length - 1]!) : this.ns.root();
    if (!row || !isDir(row)) return undefined;
    if (this.dirs.size >= MAX_ENTRIES) this.dirs.clear();
    const entry = { row, up, path };
    this.dirs.set(path, entry);
    return entry;
  }
}

/** x on every directory from `/` down to `dir`, checked from the root as `walk` does (same first refusal). */
function requireTraverse(dir: DirEntry, caller: Caller): void {
  if (caller.superuser) return;
  const chain: DirEntry[] = [];
  for (let e: DirEntry | undefined = dir; e; e = e.up) chain.push(e);
  for (let i = chain.length - 1; i >= 0; i--) requireAccess(chain[i]!.row, caller, EXECUTE, chain[i]!.path);
}
