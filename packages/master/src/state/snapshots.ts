import type Database from 'better-sqlite3';
import { ErrorCode, MAX_NAME_BYTES } from '@dfs/proto';
import type { Caller } from '../auth/caller.js';
import { EXECUTE, READ, isOwner, mustWalk, requireAccess } from './permissions.js';
import { fail, isDir, type ChunkRow, type InodeRow, type Namespace } from './namespace.js';
import { TYPE_DIR } from './schema.js';

/*
 * Directory snapshots, HDFS semantics (`dfs snapshot …`, read-only `DIR/.snapshot/NAME/…`).
 *
 * A snapshot is one small log entry (CreateSnapshot: dir, name, time); its apply copies the
 * subtree's inode and committed-chunk rows into snapshot_inodes / snapshot_chunks under a new
 * snapshot id (MooseFS-style: the metadata is copied, the chunks are shared). Why a copy and
 * not per-row created/deleted snapshot ids (HDFS's diff lists): every live query and command
 * stays as it is (issue 20 reshapes the same tables in parallel), and the cost — the apply
 * time and rows of the subtree, like a recursive delete — is paid once per snapshot, not on
 * every later change. Chunks are shared, never copied: a handle in snapshot_chunks keeps its
 * replicas alive (chunkFacts falls back to it, so the GC keeps and re-replicates them), and
 * since chunks only grow (append extends the last chunk under a new version), a snapshot's
 * chunk read at its recorded length returns the snapshotted bytes from the newer replicas.
 */
export const SNAPSHOT_DIR = '.snapshot';

export interface SnapshotInfo {
  id: number;
  dir: number;
  name: string;
  created: number;
}

export interface DiffEntry {
  kind: 'created' | 'deleted' | 'modified' | 'renamed';
  /** Relative to the snapshottable directory, './a/b'. */
  path: string;
  /** For a rename: the new path. */
  target?: string;
}

/** What a directory tree looked like: rows by inode id (a snapshot's, or the live one's). */
type TreeRow = Pick<InodeRow, 'id' | 'parent' | 'name' | 'type' | 'mode' | 'mtime' | 'size' | 'owner' | 'grp'> & { chunks: string };

/** A snapshot row as an InodeRow (what statusOf and the permission rules take). */
function asInode(r: Omit<InodeRow, 'under_construction' | 'lease_holder' | 'lease_expiry' | 'pending_parent' | 'pending_overwrite'>): InodeRow {
  return { ...r, under_construction: 0, lease_holder: null, lease_expiry: null, pending_parent: null, pending_overwrite: 0 };
}

export function checkSnapshotName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES || name === '.' || name === '..' || /[/\0]/.test(name)) {
    fail(ErrorCode.INVALID_ARGUMENT, `bad snapshot name ${JSON.stringify(name)}`);
  }
}

/** A write naming `.snapshot` anywhere: snapshot paths are read-only (HDFS reserves the name). */
export function refuseSnapshotPath(comps: readonly string[], path: string): void {
  if (comps.includes(SNAPSHOT_DIR)) fail(ErrorCode.INVALID_PATH, `${path}: ${SNAPSHOT_DIR} paths are read-only snapshots`);
}

const SUBTREE = 'WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT i.id FROM inodes i JOIN sub s ON i.parent = s.id)';
const INODE_COLS = 'id, parent, name, type, mode, mtime, size, replication, chunk_size, chunk_count, owner, grp, atime, ctime, target, rdev';

/** Snapshot tables: statements for the commands (inside apply) and for the read paths. */
export class Snapshots {
  private readonly s: Record<string, Database.Statement>;

  constructor(
    db: Database.Database,
    private readonly ns: Namespace,
  ) {
    this.s = {
      allowed: db.prepare('SELECT 1 FROM snapshottable WHERE inode = ?'),
      allow: db.prepare('INSERT OR IGNORE INTO snapshottable (inode) VALUES (?)'),
      disallow: db.prepare('DELETE FROM snapshottable WHERE inode = ?'),
      allowedIn: db.prepare(`${SUBTREE} SELECT inode FROM snapshottable WHERE inode IN (SELECT id FROM sub) AND inode != ? LIMIT 1`),
      allowedAll: db.prepare('SELECT inode FROM snapshottable'),
      byName: db.prepare('SELECT * FROM snapshots WHERE dir = ? AND name = ?'),
      ofDir: db.prepare('SELECT * FROM snapshots WHERE dir = ? ORDER BY created, id'),
      all: db.prepare('SELECT * FROM snapshots ORDER BY dir, created, id'),
      countOf: db.prepare('SELECT COUNT(*) AS n FROM snapshots WHERE dir = ?'),
      heldIn: db.prepare(`${SUBTREE} SELECT dir FROM snapshots WHERE dir IN (SELECT id FROM sub) LIMIT 1`),
      nextId: db.prepare(`SELECT value FROM meta WHERE key = 'next_snapshot'`),
      setNextId: db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('next_snapshot', ?)`),
      insert: db.prepare('INSERT INTO snapshots (id, dir, name, created) VALUES (?, ?, ?, ?)'),
      copyInodes: db.prepare(`${SUBTREE} INSERT INTO snapshot_inodes (snap, ${INODE_COLS})
        SELECT ?, ${INODE_COLS} FROM inodes WHERE id IN (SELECT id FROM sub)`),
      copyChunks: db.prepare(`INSERT INTO snapshot_chunks (snap, handle, inode, idx, version, length, crc32c)
        SELECT si.snap, c.handle, c.inode, c.idx, c.version, c.length, c.crc32c
        FROM snapshot_inodes si JOIN chunks c ON c.inode = si.id WHERE si.snap = ? AND c.committed = 1`),
      copyInline: db.prepare(`INSERT INTO snapshot_inline (snap, inode, data)
        SELECT si.snap, d.inode, d.data FROM snapshot_inodes si JOIN inline_data d ON d.inode = si.id WHERE si.snap = ?`),
      dropInodes: db.prepare('DELETE FROM snapshot_inodes WHERE snap = ?'),
      dropChunks: db.prepare('DELETE FROM snapshot_chunks WHERE snap = ?'),
      dropInline: db.prepare('DELETE FROM snapshot_inline WHERE snap = ?'),
      drop: db.prepare('DELETE FROM snapshots WHERE id = ?'),
      child: db.prepare('SELECT * FROM snapshot_inodes WHERE snap = ? AND parent = ? AND name = ?'),
      byId: db.prepare('SELECT * FROM snapshot_inodes WHERE snap = ? AND id = ?'),
      children: db.prepare('SELECT * FROM snapshot_inodes WHERE snap = ? AND parent = ? AND name > ? ORDER BY name LIMIT ?'),
      chunks: db.prepare('SELECT handle, inode, idx, version, length, crc32c, 1 AS committed FROM snapshot_chunks WHERE snap = ? AND inode = ? ORDER BY idx'),
      inline: db.prepare('SELECT data FROM snapshot_inline WHERE snap = ? AND inode = ?'),
      chunkFacts: db.prepare(`SELECT MAX(sc.version) AS version, MAX(si.replication) AS replication FROM snapshot_chunks sc
        JOIN snapshot_inodes si ON si.snap = sc.snap AND si.id = sc.inode WHERE sc.handle = ?`),
      usage: db.prepare(`SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM snapshot_inodes WHERE snap = ? AND type != ${TYPE_DIR}`),
      tree: db.prepare(`SELECT si.id, si.parent, si.name, si.type, si.mode, si.mtime, si.size, si.owner, si.grp,
        COALESCE((SELECT group_concat(handle || ':' || version || ':' || length, ',') FROM (SELECT * FROM snapshot_chunks sc WHERE sc.snap = si.snap AND sc.inode = si.id ORDER BY idx)), '') AS chunks
        FROM snapshot_inodes si WHERE si.snap = ?`),
      liveTree: db.prepare(`${SUBTREE} SELECT i.id, i.parent, i.name, i.type, i.mode, i.mtime, i.size, i.owner, i.grp,
        COALESCE((SELECT group_concat(handle || ':' || version || ':' || length, ',') FROM (SELECT * FROM chunks c WHERE c.inode = i.id AND c.committed = 1 ORDER BY idx)), '') AS chunks
        FROM inodes i WHERE i.id IN (SELECT id FROM sub)`),
    };
  }

  // ---- commands (inside apply: deterministic) ----

  /** allow: a directory may then have snapshots (superuser). Nested snapshottable directories are refused, as HDFS does. */
  setAllowed(dirPath: string, comps: string[], allow: boolean, caller: Caller): { path: string; allowed: boolean } {
    if (!caller.superuser) fail(ErrorCode.PERMISSION_DENIED, `permission denied: user=${caller.user}, access=SUPERUSER (snapshot ${allow ? 'allow' : 'disallow'})`);
    const { row } = mustWalk(this.ns, dirPath, comps, caller);
    if (!isDir(row)) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: ${dirPath}`);
    if (!allow) {
      const n = (this.s.countOf!.get(row.id) as { n: number }).n;
      if (n > 0) fail(ErrorCode.NOT_EMPTY, `${dirPath} has ${n} snapshot(s): delete them first`);
      this.s.disallow!.run(row.id);
      return { path: dirPath, allowed: false };
    }
    if (this.s.allowed!.get(row.id)) return { path: dirPath, allowed: true };
    for (let up = row.parent; up !== null && up !== 0; up = this.ns.byId(up)?.parent ?? null) {
      if (this.s.allowed!.get(up)) fail(ErrorCode.INVALID_ARGUMENT, `${dirPath}: an ancestor (${this.ns.pathOf(this.ns.byId(up)!)}) is already snapshottable`);
    }
    const inner = this.s.allowedIn!.get(row.id, row.id) as { inode: number } | undefined;
    if (inner) fail(ErrorCode.INVALID_ARGUMENT, `${dirPath}: a descendant (${this.ns.pathOf(this.ns.byId(inner.inode)!)}) is already snapshottable`);
    this.s.allow!.run(row.id);
    return { path: dirPath, allowed: true };
  }

  /** The snapshottable directory a snapshot command names: owner or superuser (HDFS). */
  private ownedSnapshottable(dirPath: string, comps: string[], caller: Caller): InodeRow {
    const { row } = mustWalk(this.ns, dirPath, comps, caller);
    if (!isDir(row) || !this.s.allowed!.get(row.id)) fail(ErrorCode.INVALID_ARGUMENT, `${dirPath} is not snapshottable (dfs snapshot allow)`);
    if (!caller.superuser && !isOwner(row, caller)) fail(ErrorCode.PERMISSION_DENIED, `permission denied: user=${caller.user} does not own ${dirPath}`);
    return row;
  }

  create(dirPath: string, comps: string[], name: string, now: number, caller: Caller): { path: string; name: string; id: number } {
    checkSnapshotName(name);
    const row = this.ownedSnapshottable(dirPath, comps, caller);
    if (this.s.byName!.get(row.id, name)) fail(ErrorCode.ALREADY_EXISTS, `snapshot ${name} of ${dirPath} exists`);
    const id = ((this.s.nextId!.get() as { value: number } | undefined)?.value ?? 1);
    this.s.setNextId!.run(id + 1);
    this.s.insert!.run(id, row.id, name, now);
    this.s.copyInodes!.run(row.id, id);
    this.s.copyChunks!.run(id);
    this.s.copyInline!.run(id);
    return { path: `${dirPath === '/' ? '' : dirPath}/${SNAPSHOT_DIR}/${name}`, name, id };
  }

  delete(dirPath: string, comps: string[], name: string, caller: Caller): { name: string } {
    const row = this.ownedSnapshottable(dirPath, comps, caller);
    const snap = this.s.byName!.get(row.id, name) as SnapshotInfo | undefined;
    if (!snap) fail(ErrorCode.NOT_FOUND, `no snapshot ${name} of ${dirPath}`);
    this.s.dropChunks!.run(snap.id);
    this.s.dropInline!.run(snap.id);
    this.s.dropInodes!.run(snap.id);
    this.s.drop!.run(snap.id);
    return { name };
  }

  /** Refuses deleting a subtree that holds a directory with snapshots (HDFS: delete them first). */
  refuseDeleteOfSnapshots(row: InodeRow, path: string): void {
    if (!isDir(row)) return;
    const held = this.s.heldIn!.get(row.id) as { dir: number } | undefined;
    if (held) fail(ErrorCode.NOT_EMPTY, `${path}: ${this.ns.pathOf(this.ns.byId(held.dir)!)} has snapshots; delete them first`);
  }

  // ---- reads ----

  /** Snapshots of one directory, or of every directory (dir undefined), oldest first. */
  list(dir?: number): Array<SnapshotInfo & { files: number; bytes: number }> {
    const rows = (dir === undefined ? this.s.all!.all() : this.s.ofDir!.all(dir)) as SnapshotInfo[];
    return rows.map((r) => ({ ...r, ...(this.s.usage!.get(r.id) as { files: number; bytes: number }) }));
  }

  snapshottable(): number[] {
    return (this.s.allowedAll!.all() as Array<{ inode: number }>).map((r) => r.inode);
  }

  isSnapshottable(inode: number): boolean {
    return this.s.allowed!.get(inode) !== undefined;
  }

  byName(dir: number, name: string): SnapshotInfo | undefined {
    return this.s.byName!.get(dir, name) as SnapshotInfo | undefined;
  }

  /** Facts about a chunk only snapshots hold (the newest version any of them recorded). */
  chunkFacts(handle: number): { version: number; committed: boolean; replication: number } | undefined {
    const r = this.s.chunkFacts!.get(handle) as { version: number | null; replication: number | null };
    return r.version === null ? undefined : { version: r.version, committed: true, replication: r.replication ?? 1 };
  }

  /**
   * Resolves a path with a `.snapshot` component: `DIR/.snapshot` (the list of snapshots, as a
   * directory), or `DIR/.snapshot/NAME/rest` inside snapshot NAME. Traverse is checked on the
   * live path to DIR, then on the snapshot's own directories (their modes as snapshotted).
   */
  resolve(comps: string[], caller: Caller): SnapshotPath {
    const at = comps.indexOf(SNAPSHOT_DIR);
    const dirComps = comps.slice(0, at);
    const dirPath = '/' + dirComps.join('/');
    const { row: dir } = mustWalk(this.ns, dirPath, dirComps, caller);
    if (!isDir(dir) || !this.isSnapshottable(dir.id)) fail(ErrorCode.NOT_FOUND, `no such file or directory: ${'/' + comps.join('/')} (${dirPath} is not snapshottable)`);
    const name = comps[at + 1];
    if (name === undefined) return { kind: 'list', dir, row: { ...dir, name: SNAPSHOT_DIR } };
    const snap = this.byName(dir.id, name);
    if (!snap) fail(ErrorCode.NOT_FOUND, `no such file or directory: ${'/' + comps.join('/')} (no snapshot ${name})`);
    let cur = this.row(snap.id, dir.id)!;
    cur = { ...cur, name };
    for (let i = at + 2; i < comps.length; i++) {
      if (!isDir(cur)) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: /${comps.slice(0, i).join('/')}`);
      requireAccess(cur, caller, EXECUTE, '/' + comps.slice(0, i).join('/'));
      const next = this.s.child!.get(snap.id, cur.id, comps[i]) as InodeRow | undefined;
      if (!next) fail(ErrorCode.NOT_FOUND, `no such file or directory: ${'/' + comps.join('/')}`);
      cur = asInode(next);
    }
    return { kind: 'entry', dir, snap, row: cur };
  }

  private row(snap: number, id: number): InodeRow | undefined {
    const r = this.s.byId!.get(snap, id) as InodeRow | undefined;
    return r && asInode(r);
  }

  /** Children of a directory inside a snapshot, in name order. */
  children(snap: number, dir: number, startAfter: string, limit: number): InodeRow[] {
    return (this.s.children!.all(snap, dir, startAfter, limit) as InodeRow[]).map(asInode);
  }

  chunksOf(snap: number, inode: number): ChunkRow[] {
    return this.s.chunks!.all(snap, inode) as ChunkRow[];
  }

  inlineOf(snap: number, inode: number): Buffer | undefined {
    return (this.s.inline!.get(snap, inode) as { data: Buffer } | undefined)?.data;
  }

  /** `dfs snapshot diff DIR FROM [TO]`: needs r+x on DIR; TO absent = the live tree. */
  diff(dirPath: string, comps: string[], from: string, to: string | undefined, caller: Caller): DiffEntry[] {
    const { row: dir } = mustWalk(this.ns, dirPath, comps, caller);
    requireAccess(dir, caller, READ | EXECUTE, dirPath);
    const tree = (name: string | undefined): Map<number, TreeRow> => {
      if (name === undefined) return new Map((this.s.liveTree!.all(dir.id) as TreeRow[]).map((r) => [r.id, r]));
      const snap = this.byName(dir.id, name);
      if (!snap) fail(ErrorCode.NOT_FOUND, `no snapshot ${name} of ${dirPath}`);
      return new Map((this.s.tree!.all(snap.id) as TreeRow[]).map((r) => [r.id, r]));
    };
    return diffTrees(dir.id, tree(from), tree(to));
  }
}

export type SnapshotPath =
  | { kind: 'list'; dir: InodeRow; row: InodeRow }
  | { kind: 'entry'; dir: InodeRow; snap: SnapshotInfo; row: InodeRow };

/** Paths relative to the root (`./a/b`) of every row of a tree. */
function relativePaths(root: number, rows: Map<number, TreeRow>): Map<number, string> {
  const out = new Map<number, string>([[root, '.']]);
  const pathOf = (id: number, depth = 0): string => {
    const known = out.get(id);
    if (known !== undefined) return known;
    const r = rows.get(id);
    if (!r || r.parent === null || depth > 10_000) return '?';
    const p = `${pathOf(r.parent, depth + 1)}/${r.name}`;
    out.set(id, p);
    return p;
  };
  for (const id of rows.keys()) pathOf(id);
  return out;
}

/**
 * Pure: what changed from one tree to another, by inode id (HDFS snapshotDiff): created,
 * deleted, renamed (same inode, another path), modified (same inode: content, size, mode,
 * owner or time). A file replaced by another at the same path (an overwrite makes a new
 * inode) is reported as modified, as a person would describe it. Sorted by path.
 */
export function diffTrees(root: number, from: Map<number, TreeRow>, to: Map<number, TreeRow>): DiffEntry[] {
  const fp = relativePaths(root, from);
  const tp = relativePaths(root, to);
  const out: DiffEntry[] = [];
  const created = new Map<string, number>();
  const deleted = new Map<string, number>();
  for (const [id, r] of to) {
    if (id === root) continue;
    const old = from.get(id);
    if (!old) {
      created.set(tp.get(id)!, id);
      continue;
    }
    const was = fp.get(id)!;
    const now = tp.get(id)!;
    if (was !== now) out.push({ kind: 'renamed', path: was, target: now });
    if (old.type !== TYPE_DIR && (old.chunks !== r.chunks || old.size !== r.size || old.mtime !== r.mtime)) out.push({ kind: 'modified', path: now });
    else if (old.mode !== r.mode || old.owner !== r.owner || old.grp !== r.grp) out.push({ kind: 'modified', path: now });
  }
  for (const id of from.keys()) if (id !== root && !to.has(id)) deleted.set(fp.get(id)!, id);
  for (const [path] of created) {
    if (deleted.has(path) && from.get(deleted.get(path)!)!.type !== TYPE_DIR && to.get(created.get(path)!)!.type !== TYPE_DIR) {
      deleted.delete(path);
      out.push({ kind: 'modified', path });
    } else out.push({ kind: 'created', path });
  }
  for (const path of deleted.keys()) out.push({ kind: 'deleted', path });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.kind < b.kind ? -1 : 1));
}
