import type Database from 'better-sqlite3';
import { ErrorCode } from '@dfs/proto';
import { fail, type InodeRow, type Namespace } from './namespace.js';
import { ROOT_ID } from './schema.js';

/*
 * HDFS directory quotas, enforced inside apply (so every replica decides the same, and two
 * writers racing for the last byte of a quota are ordered by the log):
 *   - name quota: files + directories in the subtree, the directory itself included;
 *   - space quota: bytes x replication. A file under construction is charged a full chunk
 *     for each chunk in flight (uncommitted) and for its last committed chunk (an append
 *     fills it), so a writer cannot overshoot between allocation and completion.
 * Usage is computed over the subtree when an operation that adds names or space has been
 * applied (inside its savepoint): over the limit → QUOTA_EXCEEDED and the whole command
 * rolls back. Operations that only free space are never refused, even over a quota set
 * below current usage (HDFS). Nothing is cached, so there is no counter to drift; the cost
 * is a subtree scan per growing operation under a quota, none without quotas.
 * Snapshots (HDFS): chunks that only snapshots of a directory in the subtree still hold
 * count toward its space (bytes x replication), so deleting a snapshotted file frees nothing
 * until the snapshot goes; taking a snapshot costs nothing until the live tree diverges.
 */

export interface Quota {
  files: number | null;
  space: number | null;
}

export interface Usage {
  names: number;
  files: number;
  dirs: number;
  /** Bytes of visible files, one copy. */
  length: number;
  /** Bytes x replication, chunks in flight at full size. */
  space: number;
}

export class QuotaManager {
  private readonly sAny: Database.Statement;
  private readonly sGet: Database.Statement;
  private readonly sSet: Database.Statement;
  private readonly sClear: Database.Statement;
  private readonly sNames: Database.Statement;
  private readonly sSpace: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly ns: Namespace,
  ) {
    this.sAny = db.prepare('SELECT 1 FROM quotas LIMIT 1');
    this.sGet = db.prepare('SELECT files, space FROM quotas WHERE inode = ?');
    this.sSet = db.prepare('INSERT OR REPLACE INTO quotas (inode, files, space) VALUES (?, ?, ?)');
    this.sClear = db.prepare('DELETE FROM quotas WHERE inode = ?');
    const sub = `WITH RECURSIVE sub(id) AS (SELECT ?
      UNION ALL SELECT i.id FROM inodes i JOIN sub s ON i.parent = s.id
      UNION ALL SELECT i.id FROM inodes i JOIN sub s ON i.pending_parent = s.id)`;
    // An overwrite in flight will replace a visible file of the same name: one name, not two.
    const replacing = `(i.parent IS NULL AND i.pending_overwrite <> 0
      AND EXISTS (SELECT 1 FROM inodes v WHERE v.parent = i.pending_parent AND v.name = i.name))`;
    this.sNames = db.prepare(`${sub} SELECT COALESCE(SUM(NOT ${replacing}), 0) AS names,
      COALESCE(SUM(i.type <> 2 AND NOT ${replacing}), 0) AS files, COALESCE(SUM(i.type = 2), 0) AS dirs,
      COALESCE(SUM(CASE WHEN i.type = 1 AND i.parent IS NOT NULL THEN i.size ELSE 0 END), 0) AS length
      FROM sub JOIN inodes i ON i.id = sub.id`);
    // Chunks, plus the bytes of files kept inline in the metadata (both x replication).
    this.sSpace = db.prepare(`${sub} SELECT (SELECT COALESCE(SUM(i.replication * CASE
        WHEN i.under_construction = 1 AND (c.committed = 0
          OR c.idx = (SELECT MAX(c2.idx) FROM chunks c2 WHERE c2.inode = i.id AND c2.committed = 1))
        THEN MAX(c.length, i.chunk_size) ELSE c.length END), 0)
      FROM sub JOIN inodes i ON i.id = sub.id JOIN chunks c ON c.inode = i.id)
      + (SELECT COALESCE(SUM(i.replication * LENGTH(d.data)), 0)
      FROM sub JOIN inodes i ON i.id = sub.id JOIN inline_data d ON d.inode = i.id)
      + (SELECT COALESCE(SUM(h.len * h.repl), 0) FROM (
          SELECT sc.handle, MAX(sc.length) AS len, MAX(si.replication) AS repl
          FROM snapshots sn JOIN snapshot_chunks sc ON sc.snap = sn.id
          JOIN snapshot_inodes si ON si.snap = sc.snap AND si.id = sc.inode
          WHERE sn.dir IN (SELECT id FROM sub) AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.handle = sc.handle)
          GROUP BY sc.handle) h) AS space`);
  }

  get(dir: number): Quota | undefined {
    return this.sGet.get(dir) as Quota | undefined;
  }

  set(dir: number, files: number | null, space: number | null): void {
    if (files === null && space === null) this.sClear.run(dir);
    else this.sSet.run(dir, files, space);
  }

  usage(dir: number): Usage {
    const n = this.sNames.get(dir) as Omit<Usage, 'space'>;
    const s = this.sSpace.get(dir) as { space: number };
    return { ...n, space: s.space };
  }

  /** Ids of `dir` and its ancestors up to `/`, nearest first. */
  chain(dir: number): number[] {
    const ids: number[] = [];
    let cur: InodeRow | undefined = this.ns.byId(dir);
    for (let guard = 0; cur; guard++) {
      if (guard > 10_000) fail(ErrorCode.INTERNAL, `inode ${dir}: parent cycle`);
      ids.push(cur.id);
      if (cur.id === ROOT_ID) break;
      const up: number | null = cur.parent ?? cur.pending_parent;
      cur = up === null ? undefined : this.ns.byId(up);
    }
    return ids;
  }

  /** Space left under the tightest space quota of `dir` and its ancestors (Infinity: none). */
  room(dir: number): number {
    if (this.sAny.get() === undefined) return Infinity;
    let room = Infinity;
    for (const id of this.chain(dir)) {
      const q = this.get(id);
      if (q?.space !== null && q?.space !== undefined) room = Math.min(room, q.space - this.usage(id).space);
    }
    return room;
  }

  /**
   * After an operation that grew `dir`'s subtree: QUOTA_EXCEEDED when `dir` or an
   * ancestor (except those in `skip`, which the operation did not grow) is over a quota.
   */
  enforce(dir: number, skip: ReadonlySet<number> = new Set()): void {
    if (this.sAny.get() === undefined) return;
    for (const id of this.chain(dir)) {
      if (skip.has(id)) continue;
      const q = this.get(id);
      if (!q) continue;
      const u = this.usage(id);
      const path = this.ns.pathOf(this.ns.byId(id)!);
      if (q.files !== null && u.names > q.files) {
        fail(ErrorCode.QUOTA_EXCEEDED, `name quota of ${path} exceeded: quota ${q.files}, would use ${u.names} names`);
      }
      if (q.space !== null && u.space > q.space) {
        fail(ErrorCode.QUOTA_EXCEEDED, `space quota of ${path} exceeded: quota ${q.space} bytes, would use ${u.space} (bytes x replication)`);
      }
    }
  }
}
