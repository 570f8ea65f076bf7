import { ErrorCode } from '@dfs/proto';
import { SUPERGROUP, type Caller } from '../auth/caller.js';
import { fail, isDir, type InodeRow, type Namespace } from './namespace.js';

/*
 * POSIX permission rules as the HDFS permissions guide states them, pure over inode rows:
 *   - every component on the way to a path needs x (traverse) on its directory;
 *   - creating, deleting or renaming an entry needs w (and x) on its parent;
 *   - in a sticky (01000) directory only the entry's owner, the directory's owner or the
 *     superuser may delete or rename an entry;
 *   - listing a directory needs r (and x), opening a file needs r, appending or
 *     overwriting it needs w;
 *   - the superuser passes every check.
 * The owner class applies when the caller is the owner, else the group class when the
 * caller is in the group, else other (never a union of classes, as POSIX).
 */

/** The caller of entries from before permissions: a fixed superuser, so replay never depends on the host. */
const LOG_SUPERUSER: Caller = Object.freeze({ user: 'root', groups: [SUPERGROUP], superuser: true }) as Caller;

/** Who a command acts for: the caller the leader stamped, or LOG_SUPERUSER for old entries. */
export function commandCaller(cmd: { caller?: Caller }): Caller {
  return cmd.caller ?? LOG_SUPERUSER;
}

export const READ = 4;
export const WRITE = 2;
export const EXECUTE = 1;
export const STICKY = 0o1000;

const ACCESS_NAMES: Record<number, string> = { 4: 'READ', 2: 'WRITE', 1: 'EXECUTE', 6: 'READ_WRITE', 5: 'READ_EXECUTE', 3: 'WRITE_EXECUTE', 7: 'ALL' };

/** `rwxr-xr-x` (with t/T for the sticky bit), the way ls prints it. */
export function permString(mode: number): string {
  const bits = (v: number, i: number): string =>
    ((v >> 2) & 1 ? 'r' : '-') + ((v >> 1) & 1 ? 'w' : '-') + (i === 2 && mode & STICKY ? (v & 1 ? 't' : 'T') : v & 1 ? 'x' : '-');
  return [(mode >> 6) & 7, (mode >> 3) & 7, mode & 7].map(bits).join('');
}

/** True when `caller` has every bit of `want` (r=4 w=2 x=1) on `row`. */
export function hasAccess(row: InodeRow, caller: Caller, want: number): boolean {
  if (caller.superuser) return true;
  let granted: number;
  if (row.owner === caller.user) granted = (row.mode >> 6) & 7;
  else if (caller.groups.includes(row.grp)) granted = (row.mode >> 3) & 7;
  else granted = row.mode & 7;
  return (granted & want) === want;
}

export function denied(caller: Caller, want: number | string, path: string, row: InodeRow): never {
  const access = typeof want === 'string' ? want : ACCESS_NAMES[want] ?? String(want);
  fail(
    ErrorCode.PERMISSION_DENIED,
    `permission denied: user=${caller.user}, access=${access}, path=${path} (${row.owner}:${row.grp} ${isDir(row) ? 'd' : '-'}${permString(row.mode)})`,
  );
}

export function requireAccess(row: InodeRow, caller: Caller, want: number, path: string): void {
  if (!hasAccess(row, caller, want)) denied(caller, want, path, row);
}

/** Owner of the entry or the superuser (chmod, and the sticky rule's first half). */
export function isOwner(row: InodeRow, caller: Caller): boolean {
  return caller.superuser || row.owner === caller.user;
}

/** The sticky-directory rule for removing or renaming `child` out of `parent`. */
export function requireStickyOk(parent: InodeRow, child: InodeRow, caller: Caller, path: string): void {
  if (!(parent.mode & STICKY) || caller.superuser) return;
  if (child.owner === caller.user || parent.owner === caller.user) return;
  denied(caller, 'WRITE (sticky directory: only the owner may remove)', path, child);
}

/**
 * Walks `comps` from the root checking x on every directory passed through. Returns the
 * entry (undefined when missing) and its parent (undefined when an ancestor is missing).
 * NOT_A_DIRECTORY when walking through a file.
 */
export function walk(ns: Namespace, comps: string[], caller: Caller): { row?: InodeRow; parent?: InodeRow } {
  let cur = ns.root();
  let parent: InodeRow | undefined;
  for (let i = 0; i < comps.length; i++) {
    if (!isDir(cur)) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: /${comps.slice(0, i).join('/')}`);
    requireAccess(cur, caller, EXECUTE, '/' + comps.slice(0, i).join('/'));
    const next = ns.child(cur.id, comps[i]!);
    parent = cur;
    if (!next) return i === comps.length - 1 ? { parent } : {};
    cur = next;
  }
  return { row: cur, ...(parent ? { parent } : {}) };
}

/** Like walk, NOT_FOUND when the entry is missing. */
export function mustWalk(ns: Namespace, path: string, comps: string[], caller: Caller): { row: InodeRow; parent?: InodeRow } {
  const { row, parent } = walk(ns, comps, caller);
  if (!row) fail(ErrorCode.NOT_FOUND, `no such file or directory: ${path}`);
  return parent ? { row, parent } : { row };
}
