import { DfsError, ErrorCode, FileType, normalizePath } from '@dfs/proto';
import type { CallOptions, DfsClient } from './client.js';

/*
 * Per-user trash (HDFS): a delete moves /a/b to /user/NAME/.Trash/Current/a/b; the leader
 * renames Current to a timestamp checkpoint every interval and removes checkpoints older
 * than the interval. The trash is the user's own 0700 directory, so the namespace's
 * permission rules already say who may restore or expunge (its owner and the superuser).
 */

export interface TrashEntry {
  /** Where it is now. */
  path: string;
  /** Where it was deleted from. */
  original: string;
  /** "Current" or the checkpoint's time (ms). */
  checkpoint: string;
  type: FileType;
  size: number;
  mtimeMs: number;
}

/** The mode of the directories the trash makes to mirror a deleted entry's parents. */
const TRASH_DIR_MODE = 0o700;

export function trashRoot(user: string): string {
  return `/user/${user}/.Trash`;
}

async function userOf(client: DfsClient, user: string | undefined, opts: CallOptions): Promise<string> {
  return user ?? (await client.whoami(opts)).user;
}

/** The original path of an entry at `path` inside `root` (…/.Trash/<checkpoint>/a/b → /a/b). */
function originalOf(root: string, path: string): { checkpoint: string; original: string } | undefined {
  if (!path.startsWith(root + '/')) return undefined;
  const rest = path.slice(root.length + 1).split('/');
  if (rest.length < 2) return undefined;
  return { checkpoint: rest[0]!, original: '/' + rest.slice(1).join('/') };
}

/** Every deleted entry (the topmost deleted paths: files, and directories deleted whole). */
export async function trashList(client: DfsClient, opts: CallOptions & { user?: string } = {}): Promise<TrashEntry[]> {
  const root = trashRoot(await userOf(client, opts.user, opts));
  if (!(await client.tryStat(root, opts))) return [];
  const out: TrashEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of client.list(dir, opts)) {
      const where = originalOf(root, e.path)!;
      // Directories the trash made to mirror a deleted entry's parents (0700) are descended
      // into; a deleted directory is listed whole (unless it was itself 0700: then its
      // entries are listed one by one, each still restorable).
      if (e.type === FileType.DIRECTORY && e.mode === TRASH_DIR_MODE && (await hasChildren(client, e.path, opts))) {
        await walk(e.path);
      } else {
        out.push({ path: e.path, original: where.original, checkpoint: where.checkpoint, type: e.type, size: e.size, mtimeMs: e.mtimeMs });
      }
    }
  };
  for await (const cp of client.list(root, opts)) if (cp.type === FileType.DIRECTORY) await walk(cp.path);
  return out;
}

async function hasChildren(client: DfsClient, dir: string, opts: CallOptions): Promise<boolean> {
  for await (const _ of client.list(dir, { ...opts, pageSize: 1 })) return true;
  return false;
}


/**
 * Puts a deleted entry back: `path` is its place in the trash or the path it was deleted
 * from (the newest copy wins). `to` defaults to the original path; its parents are made.
 * Never replaces an existing entry (ALREADY_EXISTS).
 */
export async function trashRestore(client: DfsClient, path: string, opts: CallOptions & { to?: string; user?: string } = {}): Promise<{ from: string; to: string }> {
  const root = trashRoot(await userOf(client, opts.user, opts));
  const wanted = normalizePath(path);
  let from: string | undefined;
  let original: string | undefined;
  const inTrash = originalOf(root, wanted);
  if (inTrash) {
    from = wanted;
    original = inTrash.original;
  } else {
    // Newest first: Current, then checkpoints by descending time.
    const checkpoints: string[] = [];
    if (await client.tryStat(root, opts)) for await (const cp of client.list(root, opts)) checkpoints.push(cp.name);
    checkpoints.sort((a, b) => (a === 'Current' ? -1 : b === 'Current' ? 1 : Number(b) - Number(a)));
    for (const cp of checkpoints) {
      const candidate = `${root}/${cp}${wanted}`;
      if (await client.tryStat(candidate, opts)) {
        from = candidate;
        original = wanted;
        break;
      }
    }
  }
  if (!from || !original || !(await client.tryStat(from, opts))) throw new DfsError(ErrorCode.NOT_FOUND, `not in the trash of ${root}: ${path}`);
  const to = normalizePath(opts.to ?? original);
  const parent = to.slice(0, to.lastIndexOf('/')) || '/';
  if (parent !== '/') await client.mkdir(parent, { ...opts, parents: true });
  await client.mv(from, to, { ...opts, overwrite: false });
  return { from, to };
}

/** Empties the caller's trash now (every checkpoint and Current), for good. */
export async function trashExpunge(client: DfsClient, opts: CallOptions & { user?: string } = {}): Promise<number> {
  const root = trashRoot(await userOf(client, opts.user, opts));
  if (!(await client.tryStat(root, opts))) return 0;
  const names: string[] = [];
  for await (const cp of client.list(root, opts)) names.push(cp.path);
  for (const p of names) await client.rm(p, { ...opts, recursive: true, skipTrash: true });
  return names.length;
}
