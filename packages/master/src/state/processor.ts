import type Database from 'better-sqlite3';
import { DfsError, ErrorCode, MAX_CHUNK_SIZE, MAX_INLINE_BYTES, MAX_NAME_BYTES, MAX_REPLICATION, isSameOrDescendant, type FileStatus } from '@dfs/proto';
import type {
  AbandonChunkCmd,
  AddChunkCmd,
  ChunkCommit,
  OpenAppendCmd,
  Command,
  CompleteFileCmd,
  CreateFileCmd,
  DeleteCmd,
  MkdirCmd,
  RecoverLeaseCmd,
  RenameCmd,
  RenewLeaseCmd,
  RevokeTokenCmd,
  SetAttrCmd,
  SetAuthKeyCmd,
  AddChunkKeyCmd,
  SetQuotaCmd,
  SetReplicationCmd,
  TrashCheckpointCmd,
} from './commands.js';
import { PosixProcessor } from './posix.js';
import { checkName, type Caller } from '../auth/caller.js';
import { EXECUTE, READ, WRITE, commandCaller, denied, hasAccess, isOwner, mustWalk, requireAccess, requireStickyOk, walk } from './permissions.js';
import { QuotaManager } from './quota.js';
import { Namespace, fail, isDir, splitPath, statusOf, type InodeRow } from './namespace.js';
import { BALANCER_KEY, CLUSTER_ID_KEY, OVERWRITE_ANY, ROOT_GROUP, ROOT_ID, ROOT_OWNER, TYPE_DIR, TYPE_FILE } from './schema.js';
import { killSetId, SET_ID_BITS } from './set-id.js';
import { AppendProcessor, type OpenAppendResult } from './append.js';
import { SNAPSHOT_DIR, Snapshots, refuseSnapshotPath } from './snapshots.js';

export const TRASH_DIR = '.Trash';
export const TRASH_CURRENT = 'Current';
/** Home directories (HDFS): each user's trash is /user/NAME/.Trash. */
export const HOME_DIR = 'user';

/** Path components of `user`'s trash directory. */
export function trashComps(user: string): string[] {
  return [HOME_DIR, user, TRASH_DIR];
}

/** True when `comps` lies inside some user's trash (/user/NAME/.Trash/...). */
export function inTrash(comps: readonly string[]): boolean {
  return comps.length >= 3 && comps[0] === HOME_DIR && comps[2] === TRASH_DIR;
}


/**
 * Compare-and-swap of a conditional rewrite: the path must still hold the inline file the client
 * read. A rewrite of a file with one link makes a new inode, so the inode id is its version; a
 * file with hard links keeps its inode (the content is adopted), so the client only ever
 * converts such a file to chunks once (the first conversion leaves it not inline, which fails
 * every later one) and appends under the writer lease. Inline files cannot be opened for append.
 */
function requireOccupant(ns: Namespace, occupant: InodeRow | undefined, replaces: number, path: string): void {
  if (occupant?.id === replaces && !isDir(occupant) && ns.inlineOf(occupant.id) !== undefined) return;
  fail(ErrorCode.STALE_VERSION, `${path} changed since it was read (expected inode ${replaces}, found ${occupant ? `inode ${occupant.id}` : 'nothing'}): read it again`);
}

export interface AddChunkResult {
  handle: number;
  version: number;
  offset: number;
  /** Batch allocation: the chunks after this one. */
  more?: Array<{ handle: number; version: number; offset: number }>;
}

/** Most chunks one AddChunk may allocate. */
export const MAX_ADD_CHUNK_BATCH = 64;
export interface DeleteResult {
  path: string;
  /** Where the entry went when moved to the trash. */
  trashedTo?: string;
}
export interface RecoverLeaseResult {
  outcome: 'closed' | 'discarded' | 'not-expired' | 'gone';
  path?: string;
  size?: number;
}
export interface TrashCheckpointResult {
  deleted: number;
  /** The first checkpoint made (one per user trash that had something in Current). */
  checkpoint?: string;
  checkpoints?: string[];
}

/**
 * rqlite's CommandProcessor: executes one decoded command against the database. Holds only
 * prepared statements, no state of its own, so it can replay any log into any database.
 * Deterministic: reads only the command and the database (no clock, no randomness).
 * A failing command throws DfsError; the caller runs it inside a SAVEPOINT so a failure
 * changes nothing.
 */
export class CommandProcessor {
  private readonly sGetMeta: Database.Statement;
  private readonly sSetMeta: Database.Statement;
  private readonly sPutMeta: Database.Statement;
  private readonly sAddMeta: Database.Statement;
  private readonly sInsertInode: Database.Statement;
  private readonly sTouch: Database.Statement;
  private readonly sMove: Database.Statement;
  private readonly sDeleteInode: Database.Statement;
  private readonly sDeleteChunksOf: Database.Statement;
  private readonly sDeleteSubtreeChunks: Database.Statement;
  private readonly sDeleteSubtreeInodes: Database.Statement;
  private readonly sInsertChunk: Database.Statement;
  private readonly sDeleteChunk: Database.Statement;
  private readonly sDeleteChunksFrom: Database.Statement;
  private readonly sCommitChunk: Database.Statement;
  private readonly sSetWriteState: Database.Statement;
  private readonly sRenew: Database.Statement;
  private readonly sProgress: Database.Statement;
  private readonly sProgressIfNone: Database.Statement;
  private readonly sRenewBounded: Database.Statement;
  private readonly sFinalize: Database.Statement;
  private readonly sInsertInline: Database.Statement;
  private readonly sDeleteInline: Database.Statement;
  private readonly append: AppendProcessor;
  readonly quota: QuotaManager;
  readonly snapshots: Snapshots;
  private readonly sSetAttr: Database.Statement;
  private readonly sSetReplication: Database.Statement;
  private readonly sSubtreeDirs: Database.Statement;
  private readonly sAddKey: Database.Statement;
  private readonly sAddChunkKey: Database.Statement;
  private readonly sRetireChunkKeys: Database.Statement;
  private readonly sRevoke: Database.Statement;
  private readonly sPruneRevoked: Database.Statement;
  private readonly sDeleteLink: Database.Statement;
  private readonly sFirstLink: Database.Statement;
  private readonly sDeleteSubtreeLinks: Database.Statement;
  private readonly sSubtreeLinked: Database.Statement;
  private readonly sSetCtime: Database.Statement;
  private readonly sMoveLink: Database.Statement;
  private readonly sAdopt: Database.Statement;
  private readonly sMoveChunks: Database.Statement;
  private readonly sMoveInline: Database.Statement;
  private readonly posix: PosixProcessor;

  constructor(
    db: Database.Database,
    private readonly ns: Namespace,
  ) {
    this.append = new AppendProcessor(db, ns);
    this.quota = new QuotaManager(db, ns);
    this.snapshots = new Snapshots(db, ns);
    this.sSetAttr = db.prepare('UPDATE inodes SET mode = @mode, owner = @owner, grp = @grp, mtime = @mtime, atime = @atime, ctime = @ctime WHERE id = @id');
    this.sSetReplication = db.prepare('UPDATE inodes SET replication = ? WHERE id = ?');
    this.sSubtreeDirs = db.prepare(
      'WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT i.id FROM inodes i JOIN sub s ON i.parent = s.id WHERE i.type = 2) SELECT i.* FROM sub JOIN inodes i ON i.id = sub.id',
    );
    this.sAddKey = db.prepare('INSERT OR IGNORE INTO auth_keys (id, secret, created) VALUES (?, ?, ?)');
    this.sAddChunkKey = db.prepare('INSERT OR IGNORE INTO chunk_keys (id, secret, active_from, expires) VALUES (?, ?, ?, ?)');
    this.sRetireChunkKeys = db.prepare('DELETE FROM chunk_keys WHERE expires <= ?');
    this.sRevoke = db.prepare('INSERT OR REPLACE INTO revoked_tokens (jti, expiry) VALUES (?, ?)');
    this.sPruneRevoked = db.prepare('DELETE FROM revoked_tokens WHERE expiry < ?');
    this.sGetMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.sSetMeta = db.prepare('UPDATE meta SET value = ? WHERE key = ?');
    this.sPutMeta = db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)');
    this.sAddMeta = db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)');
    this.sInsertInode = db.prepare(`INSERT INTO inodes
      (id, parent, name, type, mode, mtime, size, replication, chunk_size, chunk_count,
       under_construction, lease_holder, lease_expiry, pending_parent, pending_overwrite, owner, grp, atime)
      VALUES (@id, @parent, @name, @type, @mode, @mtime, 0, @replication, @chunk_size, 0,
       @under_construction, @lease_holder, @lease_expiry, @pending_parent, @pending_overwrite, @owner, @grp, @mtime)`);
    // A directory whose entries change: its mtime and ctime (POSIX), one `now` for both.
    this.sTouch = db.prepare('UPDATE inodes SET mtime = t.now, ctime = t.now FROM (SELECT ? AS now) AS t WHERE id = ?');
    this.sSetCtime = db.prepare('UPDATE inodes SET ctime = ? WHERE id = ?');
    this.sDeleteLink = db.prepare('DELETE FROM links WHERE parent = ? AND name = ?');
    this.sMoveLink = db.prepare('UPDATE links SET parent = ?, name = ? WHERE parent = ? AND name = ?');
    this.sFirstLink = db.prepare('SELECT parent, name FROM links WHERE inode = ? ORDER BY parent, name LIMIT 1');
    // A hard link's new content goes into the inode every name shares (adopt()).
    this.sAdopt = db.prepare(`UPDATE inodes SET size = @size, chunk_count = @chunk_count, chunk_size = @chunk_size,
      replication = @replication, mtime = @mtime, ctime = @mtime, mode = @mode WHERE id = @id`);
    this.sMoveChunks = db.prepare('UPDATE chunks SET inode = ? WHERE inode = ?');
    this.sMoveInline = db.prepare('UPDATE inline_data SET inode = ? WHERE inode = ?');
    this.sMove = db.prepare('UPDATE inodes SET parent = ?, name = ? WHERE id = ?');
    this.sDeleteInode = db.prepare('DELETE FROM inodes WHERE id = ?');
    this.sDeleteChunksOf = db.prepare('DELETE FROM chunks WHERE inode = ?');
    const subtree = 'WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT i.id FROM inodes i JOIN sub s ON i.parent = s.id)';
    this.sDeleteSubtreeChunks = db.prepare(`${subtree} DELETE FROM chunks WHERE inode IN (SELECT id FROM sub)`);
    this.sDeleteSubtreeInodes = db.prepare(`${subtree} DELETE FROM inodes WHERE id IN (SELECT id FROM sub)`);
    this.sDeleteSubtreeLinks = db.prepare(`${subtree} DELETE FROM links WHERE parent IN (SELECT id FROM sub)`);
    this.sSubtreeLinked = db.prepare(`${subtree} SELECT DISTINCT inode FROM links WHERE inode IN (SELECT id FROM sub)`).pluck();
    this.sInsertChunk = db.prepare(
      'INSERT INTO chunks (handle, inode, idx, version, length, crc32c, committed) VALUES (?, ?, ?, ?, 0, 0, 0)',
    );
    this.sDeleteChunk = db.prepare('DELETE FROM chunks WHERE handle = ?');
    this.sDeleteChunksFrom = db.prepare('DELETE FROM chunks WHERE inode = ? AND idx >= ?');
    this.sCommitChunk = db.prepare('UPDATE chunks SET length = ?, crc32c = ?, committed = 1 WHERE handle = ?');
    this.sSetWriteState = db.prepare('UPDATE inodes SET chunk_count = ?, lease_expiry = ? WHERE id = ?');
    this.sRenew = db.prepare('UPDATE inodes SET lease_expiry = ? WHERE lease_holder = ? AND under_construction = 1');
    this.sProgress = db.prepare('INSERT OR REPLACE INTO lease_progress (inode, at) VALUES (?, ?)');
    this.sProgressIfNone = db.prepare('INSERT OR IGNORE INTO lease_progress (inode, at) SELECT id, @now FROM inodes WHERE lease_holder = @holder AND under_construction = 1');
    // Never shortens a lease: a renewal past the bound leaves it where it is.
    this.sRenewBounded = db.prepare(`UPDATE inodes SET lease_expiry = MAX(COALESCE(lease_expiry, 0),
      MIN(@expiry, (SELECT at FROM lease_progress p WHERE p.inode = inodes.id) + @hard))
      WHERE lease_holder = @holder AND under_construction = 1`);
    this.sInsertInline = db.prepare('INSERT OR REPLACE INTO inline_data (inode, data) VALUES (?, ?)');
    this.sDeleteInline = db.prepare('DELETE FROM inline_data WHERE inode = ?');
    this.sFinalize = db.prepare(`UPDATE inodes SET parent = ?, pending_parent = NULL, pending_overwrite = 0,
      under_construction = 0, lease_holder = NULL, lease_expiry = NULL, size = ?, chunk_count = ?, mtime = ?, ctime = ?
      WHERE id = ?`);
    this.posix = new PosixProcessor(db, ns, {
      touch: (id, now) => this.sTouch.run(now, id),
      setCtime: (id, now) => this.sSetCtime.run(now, id),
      alloc: () => this.alloc('next_inode'),
      enforceQuota: (dir) => this.quota.enforce(dir),
    });
  }

  execute(cmd: Command): unknown {
    // Snapshot paths are read-only: no namespace command may name `.snapshot`. (A malformed
    // path is left to the command, whose own error it has always been.)
    for (const p of [('path' in cmd && !cmd.type.endsWith('Snapshot') ? cmd.path : undefined), 'src' in cmd ? cmd.src : undefined, 'dst' in cmd ? cmd.dst : undefined]) {
      if (typeof p === 'string' && p.includes(SNAPSHOT_DIR)) refuseSnapshotPath(p.split('/'), p);
    }
    switch (cmd.type) {
      case 'CreateFile':
        return this.createFile(cmd);
      case 'AddChunk':
        return this.addChunk(cmd);
      case 'AbandonChunk':
        return this.abandonChunk(cmd);
      case 'CompleteFile':
        return this.completeFile(cmd);
      case 'RenewLease':
        return this.renewLease(cmd);
      case 'Mkdir':
        return this.mkdir(cmd);
      case 'Delete':
        return this.delete(cmd);
      case 'Rename':
        return this.rename(cmd);
      case 'RecoverLease':
        return this.recoverLease(cmd);
      case 'TrashCheckpoint':
        return this.trashCheckpoint(cmd);
      case 'OpenAppend':
        return this.openAppend(cmd);
      case 'SetBalancer':
        this.sPutMeta.run(BALANCER_KEY, cmd.thresholdMilli);
        return {};
      case 'SetAttr':
        return this.setAttr(cmd);
      case 'SetQuota':
        return this.setQuota(cmd);
      case 'SetReplication':
        return this.setReplication(cmd);
      case 'SetAuthKey':
        return this.setAuthKey(cmd);
      case 'AddChunkKey':
        return this.addChunkKey(cmd);
      case 'RevokeToken':
        return this.revokeToken(cmd);
      case 'Symlink':
        return this.posix.symlink(cmd);
      case 'Mknod':
        return this.posix.mknod(cmd);
      case 'Link':
        return this.posix.link(cmd);
      case 'AllowSnapshot': {
        const { path, comps } = splitPath(cmd.path);
        return this.snapshots.setAllowed(path, comps, cmd.allow, commandCaller(cmd));
      }
      case 'CreateSnapshot': {
        const { path, comps } = splitPath(cmd.path);
        return this.snapshots.create(path, comps, cmd.name, cmd.now, commandCaller(cmd));
      }
      case 'DeleteSnapshot': {
        const { path, comps } = splitPath(cmd.path);
        return this.snapshots.delete(path, comps, cmd.name, commandCaller(cmd));
      }
      case 'SetClusterId':
        // The first proposal wins: a second leader racing the first changes nothing.
        return { added: this.sAddMeta.run(CLUSTER_ID_KEY, cmd.id).changes > 0 };
      case 'Noop':
        return {};
    }
  }

  setAppliedIndex(index: number): void {
    this.sSetMeta.run(index, 'applied_index');
  }

  // ---- counters: ids are allocated from state, so every replica allocates the same ones ----

  private alloc(key: 'next_inode' | 'next_handle'): number {
    const v = (this.sGetMeta.get(key) as { value: number }).value;
    this.sSetMeta.run(v + 1, key);
    return v;
  }

  // ---- helpers ----

  private newDir(parent: InodeRow, name: string, mode: number, now: number, owner: string, group?: string): InodeRow {
    const id = this.alloc('next_inode');
    this.sInsertInode.run({
      id, parent: parent.id, name, type: TYPE_DIR, mode, mtime: now, replication: 0, chunk_size: 0,
      under_construction: 0, lease_holder: null, lease_expiry: null, pending_parent: null, pending_overwrite: 0,
      owner, grp: group ?? parent.grp, // HDFS (BSD rule): a new entry takes its directory's group
    });
    const parentId = parent.id;
    this.sTouch.run(now, parentId);
    return this.ns.byId(id)!;
  }

  /**
   * Makes sure every directory in `comps` exists (mkdir -p). Returns the last one, or
   * `{ blockedBy }` when an existing *file* sits on the path. Nothing is created unless
   * the whole path can be made, because creation only starts past the last existing entry.
   */
  private ensureDirs(comps: string[], mode: number, now: number, caller: Caller, system?: { owner: string; group?: string }): InodeRow | { blockedBy: string } {
    let cur = this.ns.root();
    for (let i = 0; i < comps.length; i++) {
      // Traverse (x) on every directory passed; the leader's own directories (trash) skip checks.
      if (!system) requireAccess(cur, caller, EXECUTE, '/' + comps.slice(0, i).join('/'));
      const next = this.ns.child(cur.id, comps[i]!);
      if (!next) {
        if (!system) requireAccess(cur, caller, WRITE, '/' + comps.slice(0, i).join('/'));
        for (let j = i; j < comps.length; j++) cur = this.newDir(cur, comps[j]!, mode, now, system?.owner ?? caller.user, system?.group);
        return cur;
      }
      if (!isDir(next)) return { blockedBy: '/' + comps.slice(0, i + 1).join('/') };
      cur = next;
    }
    return cur;
  }

  /** HDFS: a recursive delete needs rwx on every directory of the subtree. */
  private requireSubtreeAccess(row: InodeRow, caller: Caller, path: string): void {
    if (caller.superuser || !isDir(row)) return;
    for (const d of this.sSubtreeDirs.all(row.id) as InodeRow[]) {
      if (!hasAccess(d, caller, READ | WRITE | EXECUTE)) denied(caller, READ | WRITE | EXECUTE, this.ns.pathOf(d), d);
    }
  }

  /**
   * Removes one name. An inode goes with its last name (its chunks become garbage); while
   * hard links remain it lives on under one of them, its ctime `now`. A directory goes
   * with everything below it, except files that still have a name outside it.
   */
  private deleteTree(row: InodeRow, now?: number): void {
    if (row.via_link) {
      this.sDeleteLink.run(row.parent, row.name);
      if (now !== undefined) this.sSetCtime.run(now, row.id);
      return;
    }
    if (isDir(row)) {
      this.sDeleteSubtreeLinks.run(row.id);
      for (const id of this.sSubtreeLinked.all(row.id) as number[]) this.promoteLink(id, now);
      this.sDeleteSubtreeChunks.run(row.id);
      this.sDeleteSubtreeInodes.run(row.id);
    } else if (row.parent === null || !this.promoteLink(row.id, now)) {
      this.sDeleteChunksOf.run(row.id);
      this.sDeleteInode.run(row.id);
    }
  }

  /** The inode row's own name goes: one of its hard links (if any) becomes that name. */
  private promoteLink(id: number, now?: number): boolean {
    const link = this.sFirstLink.get(id) as { parent: number; name: string } | undefined;
    if (!link) return false;
    this.sDeleteLink.run(link.parent, link.name);
    this.sMove.run(link.parent, link.name, id);
    if (now !== undefined) this.sSetCtime.run(now, id);
    return true;
  }

  /**
   * A new version of a file that has hard links: its content moves into the inode all the
   * names share (so every name sees it, as on a local disk) and the new inode goes. Keeps
   * the owner and mode (O_TRUNC keeps them), less set-id bits the writer's create dropped.
   */
  private adopt(fresh: InodeRow, into: InodeRow): InodeRow {
    this.sDeleteChunksOf.run(into.id);
    this.sDeleteInline.run(into.id);
    this.sMoveChunks.run(into.id, fresh.id);
    this.sMoveInline.run(into.id, fresh.id);
    this.sAdopt.run({
      id: into.id, size: fresh.size, chunk_count: fresh.chunk_count, chunk_size: fresh.chunk_size,
      replication: fresh.replication, mtime: fresh.mtime, mode: into.mode & ~(SET_ID_BITS & ~fresh.mode),
    });
    this.sDeleteInode.run(fresh.id);
    return this.ns.byId(into.id)!;
  }

  /** A writer's call on a file under construction: the lease must be its own. */
  private writableFile(inode: number, clientId: string): InodeRow {
    const row = this.ns.byId(inode);
    if (!row || row.type !== TYPE_FILE) fail(ErrorCode.NOT_FOUND, `no such file: inode ${inode}`);
    if (row.under_construction !== 1) fail(ErrorCode.LEASE_EXPIRED, `file ${this.ns.pathOf(row)} is not open for writing`);
    if (row.lease_holder !== clientId) {
      fail(ErrorCode.LEASE_HELD, `file ${this.ns.pathOf(row)} is being written by another client`);
    }
    // The holder's own call renews even an expired lease that has not been recovered yet (HDFS).
    return row;
  }

  private checkChunkLength(row: InodeRow, c: ChunkCommit): void {
    if (c.length > row.chunk_size) {
      fail(ErrorCode.INVALID_ARGUMENT, `chunk ${c.handle}: length ${c.length} exceeds chunk size ${row.chunk_size}`);
    }
  }

  // ---- commands ----

  private createFile(cmd: CreateFileCmd): { file: FileStatus; firstChunk?: AddChunkResult } {
    const { path, comps } = splitPath(cmd.path);
    if (comps.length === 0) fail(ErrorCode.IS_A_DIRECTORY, 'cannot create /: is a directory');
    if (!cmd.clientId) fail(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    if (cmd.replication < 1 || cmd.replication > MAX_REPLICATION) {
      fail(ErrorCode.INVALID_ARGUMENT, `replication must be 1..${MAX_REPLICATION}, got ${cmd.replication}`);
    }
    if (cmd.chunkSize < 1 || cmd.chunkSize > MAX_CHUNK_SIZE) fail(ErrorCode.INVALID_ARGUMENT, `bad chunk size ${cmd.chunkSize}`);
    if (cmd.mode > 0o7777) fail(ErrorCode.INVALID_ARGUMENT, `bad mode ${cmd.mode.toString(8)}`);
    const name = comps[comps.length - 1]!;
    const caller = commandCaller(cmd);
    const parent = this.ensureDirs(comps.slice(0, -1), 0o755, cmd.now, caller);
    if ('blockedBy' in parent) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: ${parent.blockedBy}`);
    const parentPath = '/' + comps.slice(0, -1).join('/');
    requireAccess(parent, caller, WRITE | EXECUTE, parentPath);
    const existing = this.ns.child(parent.id, name);
    if (cmd.replaces !== undefined) {
      if (cmd.replaces <= ROOT_ID) fail(ErrorCode.INVALID_ARGUMENT, `replaces_inode ${cmd.replaces} is not a file`);
      requireOccupant(this.ns, existing, cmd.replaces, path);
    }
    if (existing) {
      if (isDir(existing)) fail(ErrorCode.IS_A_DIRECTORY, `is a directory: ${path}`);
      if (!cmd.overwrite && cmd.replaces === undefined) fail(ErrorCode.ALREADY_EXISTS, `file exists: ${path}`);
      requireAccess(existing, caller, WRITE, path); // overwriting truncates: w on the file (HDFS)
      requireStickyOk(parent, existing, caller, path);
    }
    // POSIX: a write by anyone but the superuser clears the set-user-id and set-group-id bits.
    const mode = existing && !caller.superuser ? killSetId(cmd.mode) : cmd.mode;
    const pending = this.ns.pendingAt(parent.id, name);
    for (const p of pending) {
      if (p.lease_holder !== cmd.clientId && (p.lease_expiry ?? 0) > cmd.now) {
        fail(ErrorCode.LEASE_HELD, `${path} is being created by another client`);
      }
    }
    // The same client re-creating (a retry), or a dead writer's expired lease: drop the old attempt.
    for (const p of pending) this.deleteTree(p);
    const id = this.alloc('next_inode');
    this.sInsertInode.run({
      id, parent: null, name, type: TYPE_FILE, mode, mtime: cmd.now, replication: cmd.replication,
      chunk_size: cmd.chunkSize, under_construction: 1, lease_holder: cmd.clientId, lease_expiry: cmd.leaseExpiry,
      pending_parent: parent.id, pending_overwrite: cmd.replaces ?? (cmd.overwrite ? OVERWRITE_ANY : 0), owner: caller.user, grp: parent.grp,
    });
    this.sProgress.run(id, cmd.now);
    this.quota.enforce(parent.id);
    if (cmd.inline !== undefined) {
      // Small-file fast path: create, data and complete in this one entry (inline data).
      const data = Buffer.from(cmd.inline, 'base64');
      if (cmd.firstChunk || data.length > MAX_INLINE_BYTES) fail(ErrorCode.INVALID_ARGUMENT, `inline data of ${data.length} bytes (at most ${MAX_INLINE_BYTES}, no chunks)`);
      // Parent and occupant as read above: nothing since has changed them (the attempts
      // deleted were detached), so attaching reads neither again (DESIGN.md, CPU per create).
      const { parent: parentId, into } = this.attachTarget(this.ns.byId(id)!, { parent, occupant: existing });
      this.sInsertInline.run(id, data);
      this.sFinalize.run(into ? null : parentId, data.length, 0, cmd.now, cmd.now, id); // adopted: never takes the name
      this.quota.enforce(parentId); // inline bytes count against space quotas too
      this.sTouch.run(cmd.now, parentId);
      const done = into ? this.adopt(this.ns.byId(id)!, into) : this.ns.byId(id)!;
      // Attached at `path` unless it was adopted by a hard-linked file (which may live elsewhere).
      // A new inode has no hard links yet: one name, unless it was adopted.
      return { file: statusOf(done, into ? this.ns.pathOf(done) : path, into ? this.ns.nlinkOf(done) : 1) };
    }
    if (cmd.firstChunk) {
      // The single-chunk fast path: chunk 0 in the same entry, exactly as AddChunk would.
      const firstChunk = this.addChunk({ type: 'AddChunk', inode: id, clientId: cmd.clientId, index: 0, now: cmd.now, leaseExpiry: cmd.leaseExpiry });
      return { file: statusOf(this.ns.byId(id)!, path), firstChunk };
    }
    return { file: statusOf(this.ns.byId(id)!, path) };
  }

  private addChunk(cmd: AddChunkCmd): AddChunkResult {
    const row = this.writableFile(cmd.inode, cmd.clientId);
    const last = this.ns.lastChunk(row.id);
    const count = last ? last.idx + 1 : 0;
    if (cmd.previous) {
      const prev = this.ns.chunk(cmd.previous.handle);
      if (!prev || prev.inode !== row.id || prev.idx !== cmd.index - 1) {
        fail(ErrorCode.INVALID_ARGUMENT, `previous chunk ${cmd.previous.handle} is not chunk ${cmd.index - 1} of this file`);
      }
      this.checkChunkLength(row, cmd.previous);
      this.sCommitChunk.run(cmd.previous.length, cmd.previous.crc32c, prev.handle);
    }
    if (cmd.index < count) {
      // A retry, or a new replica set for a chunk that was never committed: replace it. With
      // several chunks in flight (parallel upload) the failed one need not be the last.
      const at = cmd.index === count - 1 ? last : this.ns.chunksOf(row.id).find((c) => c.idx === cmd.index);
      if (!at || at.committed !== 0) {
        fail(ErrorCode.INVALID_ARGUMENT, `chunk index ${cmd.index} out of order: the file has ${count} chunks`);
      }
      this.sDeleteChunk.run(at.handle);
    } else if (cmd.index !== count) {
      fail(ErrorCode.INVALID_ARGUMENT, `chunk index ${cmd.index} out of order: the file has ${count} chunks`);
    }
    const handle = this.alloc('next_handle');
    this.sInsertChunk.run(handle, row.id, cmd.index, 1);
    // A batch only extends the file: a replacement (retry) allocates one chunk.
    let batch = cmd.index === count ? Math.min(Math.max(1, cmd.count ?? 1), MAX_ADD_CHUNK_BATCH) : 1;
    if (batch > 1) {
      // Under a space quota a batch shrinks to what fits: the writer asks again for the rest.
      const room = this.quota.room(row.parent ?? row.pending_parent ?? ROOT_ID);
      batch = Math.max(1, Math.min(batch, 1 + Math.floor(room / Math.max(1, row.chunk_size * row.replication))));
    }
    const more: Array<{ handle: number; version: number; offset: number }> = [];
    for (let k = 1; k < batch; k++) {
      const h = this.alloc('next_handle');
      this.sInsertChunk.run(h, row.id, cmd.index + k, 1);
      more.push({ handle: h, version: 1, offset: (cmd.index + k) * row.chunk_size });
    }
    this.sSetWriteState.run(Math.max(count, cmd.index + batch), cmd.leaseExpiry, row.id);
    this.sProgress.run(row.id, cmd.now);
    this.quota.enforce(row.parent ?? row.pending_parent ?? ROOT_ID);
    const result: AddChunkResult = { handle, version: 1, offset: cmd.index * row.chunk_size };
    if (more.length > 0) result.more = more;
    return result;
  }

  private abandonChunk(cmd: AbandonChunkCmd): Record<string, never> {
    if (cmd.wholeFile) {
      const f = this.ns.byId(cmd.inode);
      if (!f) return {}; // already gone: idempotent
      const row = this.writableFile(cmd.inode, cmd.clientId);
      if (row.parent !== null) fail(ErrorCode.INVALID_ARGUMENT, `file ${this.ns.pathOf(row)} is visible: abandon its chunks instead`);
      this.deleteTree(row);
      return {};
    }
    const row = this.writableFile(cmd.inode, cmd.clientId);
    const chunk = this.ns.chunk(cmd.handle);
    if (!chunk) return {}; // already gone: abandoning is idempotent
    if (chunk.inode !== row.id) fail(ErrorCode.INVALID_ARGUMENT, `chunk ${cmd.handle} does not belong to this file`);
    const last = this.ns.lastChunk(row.id)!;
    if (chunk.handle !== last.handle) fail(ErrorCode.INVALID_ARGUMENT, `chunk ${cmd.handle} is not the last chunk`);
    if (chunk.committed) fail(ErrorCode.INVALID_ARGUMENT, `chunk ${cmd.handle} is already committed`);
    this.sDeleteChunk.run(chunk.handle);
    this.sSetWriteState.run(chunk.idx, cmd.leaseExpiry, row.id);
    return {};
  }

  private sameChunkList(inode: number, chunks: ChunkCommit[]): boolean {
    const db = this.ns.chunksOf(inode);
    return db.length === chunks.length && db.every((c, i) => c.handle === chunks[i]!.handle);
  }

  private completeFile(cmd: CompleteFileCmd): { file: FileStatus } {
    const existing = this.ns.byId(cmd.inode);
    if (existing && existing.type === TYPE_FILE && existing.under_construction === 0 && existing.parent !== null) {
      // A retry after the response was lost: the same chunks mean the same outcome.
      if (this.sameChunkList(existing.id, cmd.chunks)) return { file: statusOf(existing, this.ns.pathOf(existing)) };
    }
    const row = this.writableFile(cmd.inode, cmd.clientId);
    const chunks = this.ns.chunksOf(row.id);
    if (chunks.length !== cmd.chunks.length || !chunks.every((c, i) => c.handle === cmd.chunks[i]!.handle)) {
      fail(ErrorCode.INVALID_ARGUMENT, `chunk list does not match the file's ${chunks.length} allocated chunks`);
    }
    let size = 0;
    for (const c of cmd.chunks) {
      this.checkChunkLength(row, c);
      size += c.length;
    }
    const { parent: parentId, into } = this.attachTarget(row);
    for (const c of cmd.chunks) {
      this.sCommitChunk.run(c.length, c.crc32c, c.handle);
      if (c.version) this.append.setVersion(c.handle, c.version);
    }
    this.sFinalize.run(into ? null : parentId, size, cmd.chunks.length, cmd.now, cmd.now, row.id);
    this.sTouch.run(cmd.now, parentId);
    const done = into ? this.adopt(this.ns.byId(row.id)!, into) : this.ns.byId(row.id)!;
    return { file: statusOf(done, this.ns.pathOf(done), this.ns.nlinkOf(done)) };
  }

  /**
   * Where a detached file goes on completion; removes the file it replaces. Throws when it
   * cannot appear (directory gone, a directory in the way, or a new file without overwrite).
   */
  private attachTarget(row: InodeRow, known?: { parent: InodeRow; occupant: InodeRow | undefined }): { parent: number; into?: InodeRow } {
    if (row.parent !== null) return { parent: row.parent };
    const parent = known ? known.parent : row.pending_parent === null ? undefined : this.ns.byId(row.pending_parent);
    if (!parent || !isDir(parent)) fail(ErrorCode.NOT_FOUND, `the directory of ${row.name} no longer exists`);
    // The path only for messages: walking up to / costs a lookup per level on every attach.
    const path = (): string => this.ns.pathOf(row);
    const occupant = known ? known.occupant : this.ns.child(parent.id, row.name);
    // A conditional rewrite (pending_overwrite = the inode it read) replaces only that inode.
    if (row.pending_overwrite > OVERWRITE_ANY) requireOccupant(this.ns, occupant, row.pending_overwrite, path());
    if (occupant) {
      if (isDir(occupant)) fail(ErrorCode.IS_A_DIRECTORY, `is a directory: ${path()}`);
      if (!row.pending_overwrite) fail(ErrorCode.ALREADY_EXISTS, `file exists: ${path()}`);
      // A file with hard links keeps its inode: the new content moves into it (adopt).
      if (occupant.type === TYPE_FILE && this.ns.nlinkOf(occupant) > 1) return { parent: parent.id, into: occupant };
      this.deleteTree(occupant); // its chunks become garbage, collected lazily
    }
    return { parent: parent.id };
  }

  private renewLease(cmd: RenewLeaseCmd): { renewed: number } {
    if (!cmd.clientId) fail(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    if (cmd.hardLimit === undefined) return { renewed: this.sRenew.run(cmd.leaseExpiry, cmd.clientId).changes };
    // A file with no progress recorded (made before this bound existed) starts counting now.
    this.sProgressIfNone.run({ now: cmd.now, holder: cmd.clientId });
    return { renewed: this.sRenewBounded.run({ expiry: cmd.leaseExpiry, hard: cmd.hardLimit, holder: cmd.clientId }).changes };
  }

  private mkdir(cmd: MkdirCmd): { dir: FileStatus } {
    const { path, comps } = splitPath(cmd.path);
    if (cmd.mode > 0o7777) fail(ErrorCode.INVALID_ARGUMENT, `bad mode ${cmd.mode.toString(8)}`);
    if (comps.length === 0) {
      if (!cmd.parents) fail(ErrorCode.ALREADY_EXISTS, 'directory exists: /');
      return { dir: statusOf(this.ns.root(), '/') };
    }
    const name = comps[comps.length - 1]!;
    const caller = commandCaller(cmd);
    const parentComps = comps.slice(0, -1);
    const parentPath = '/' + parentComps.join('/');
    let parent: InodeRow;
    if (cmd.parents) {
      const p = this.ensureDirs(parentComps, cmd.mode, cmd.now, caller);
      if ('blockedBy' in p) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: ${p.blockedBy}`);
      parent = p;
    } else {
      parent = mustWalk(this.ns, parentPath, parentComps, caller).row;
      if (!isDir(parent)) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: ${parentPath}`);
    }
    requireAccess(parent, caller, EXECUTE, parentPath);
    const existing = this.ns.child(parent.id, name);
    if (existing) {
      if (cmd.parents && isDir(existing)) return { dir: statusOf(existing, path) };
      fail(ErrorCode.ALREADY_EXISTS, `${isDir(existing) ? 'directory' : 'file'} exists: ${path}`);
    }
    requireAccess(parent, caller, WRITE, parentPath);
    const dir = this.newDir(parent, name, cmd.mode, cmd.now, caller.user);
    this.quota.enforce(parent.id);
    return { dir: statusOf(dir, path) };
  }

  private delete(cmd: DeleteCmd): DeleteResult {
    const { path, comps } = splitPath(cmd.path);
    if (comps.length === 0) fail(ErrorCode.INVALID_ARGUMENT, 'cannot delete /');
    const caller = commandCaller(cmd);
    const { row, parent: parentRow } = mustWalk(this.ns, path, comps, caller);
    const parentPath = '/' + comps.slice(0, -1).join('/');
    requireAccess(parentRow!, caller, WRITE | EXECUTE, parentPath);
    requireStickyOk(parentRow!, row, caller, path);
    if (isDir(row) && !cmd.recursive && this.ns.hasChildren(row.id)) fail(ErrorCode.NOT_EMPTY, `directory not empty: ${path}`);
    if (isDir(row) && this.ns.hasChildren(row.id)) this.requireSubtreeAccess(row, caller, path);
    this.snapshots.refuseDeleteOfSnapshots(row, path);
    const parent = row.parent!;
    // Inside a trash, or holding the caller's own trash (/user, /user/NAME): gone for good.
    const holdsTrash = isSameOrDescendant('/' + trashComps(caller.user).join('/'), path);
    // One name of a file with hard links: the data stays reachable, only the name goes.
    const shared = !isDir(row) && this.ns.nlinkOf(row) > 1;
    if (cmd.skipTrash || inTrash(comps) || holdsTrash || shared) {
      this.deleteTree(row, cmd.now);
      this.sTouch.run(cmd.now, parent);
      return { path };
    }
    const trashedTo = this.moveToTrash(row, comps, cmd.now, caller);
    this.sTouch.run(cmd.now, parent);
    return { path, trashedTo };
  }

  /**
   * HDFS trash: /a/b → /user/NAME/.Trash/Current/a/b for the deleting user NAME (a suffix
   * when the name is taken). The leader makes /user (root, 0755) and the user's home and
   * trash (owned by NAME, 0700) as needed, so only NAME and the superuser can see inside.
   */
  private moveToTrash(row: InodeRow, comps: string[], now: number, caller: Caller): string {
    const home = [HOME_DIR, caller.user];
    const owner = { owner: caller.user, group: caller.groups[0] ?? caller.user };
    const made = this.ensureDirs([HOME_DIR], 0o755, now, caller, { owner: ROOT_OWNER, group: ROOT_GROUP });
    if ('blockedBy' in made) fail(ErrorCode.NOT_A_DIRECTORY, `trash is blocked by the file ${made.blockedBy}`);
    const homeDir = this.ensureDirs(home, 0o700, now, caller, owner);
    if ('blockedBy' in homeDir) fail(ErrorCode.NOT_A_DIRECTORY, `trash is blocked by the file ${homeDir.blockedBy}`);
    let dirComps = [...trashComps(caller.user), TRASH_CURRENT, ...comps.slice(0, -1)];
    let dir = this.ensureDirs(dirComps, 0o700, now, caller, owner);
    if ('blockedBy' in dir) {
      dirComps = [...trashComps(caller.user), TRASH_CURRENT];
      dir = this.ensureDirs(dirComps, 0o700, now, caller, owner);
      if ('blockedBy' in dir) fail(ErrorCode.NOT_A_DIRECTORY, `trash is blocked by the file ${dir.blockedBy}`);
    }
    const base = comps[comps.length - 1]!;
    let name = base;
    for (const candidate of [base, `${base}.${now}`, `${base}.${now}.${row.id}`, `${row.id}.${now}`]) {
      name = candidate;
      if (Buffer.byteLength(candidate) <= MAX_NAME_BYTES && !this.ns.child(dir.id, candidate)) break;
    }
    this.sMove.run(dir.id, name, row.id);
    this.sTouch.run(now, dir.id);
    return '/' + [...dirComps, name].join('/');
  }

  private rename(cmd: RenameCmd): Record<string, never> {
    const src = splitPath(cmd.src);
    const dst = splitPath(cmd.dst);
    if (src.comps.length === 0 || dst.comps.length === 0) fail(ErrorCode.INVALID_ARGUMENT, 'cannot rename /');
    const caller = commandCaller(cmd);
    const { row, parent: srcParent } = mustWalk(this.ns, src.path, src.comps, caller);
    if (src.path === dst.path) return {}; // POSIX: renaming a thing to itself does nothing
    if (isSameOrDescendant(dst.path, src.path)) {
      fail(ErrorCode.INVALID_ARGUMENT, `cannot move ${src.path} into itself (${dst.path})`);
    }
    requireAccess(srcParent!, caller, WRITE | EXECUTE, '/' + src.comps.slice(0, -1).join('/'));
    requireStickyOk(srcParent!, row, caller, src.path);
    const dstParentComps = dst.comps.slice(0, -1);
    const dstParentPath = '/' + dstParentComps.join('/');
    const dstParent = mustWalk(this.ns, dstParentPath, dstParentComps, caller).row;
    if (!isDir(dstParent)) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: ${dstParentPath}`);
    requireAccess(dstParent, caller, WRITE | EXECUTE, dstParentPath);
    const name = dst.comps[dst.comps.length - 1]!;
    const occupant = this.ns.child(dstParent.id, name);
    if (occupant?.id === row.id) return {}; // POSIX: two names of one file: nothing happens
    if (occupant) {
      if (!cmd.overwrite) fail(ErrorCode.ALREADY_EXISTS, `destination exists: ${dst.path}`);
      requireStickyOk(dstParent, occupant, caller, dst.path);
      if (isDir(occupant) && !isDir(row)) fail(ErrorCode.IS_A_DIRECTORY, `destination is a directory: ${dst.path}`);
      if (!isDir(occupant) && isDir(row)) fail(ErrorCode.NOT_A_DIRECTORY, `destination is not a directory: ${dst.path}`);
      if (isDir(occupant) && this.ns.hasChildren(occupant.id)) fail(ErrorCode.NOT_EMPTY, `destination not empty: ${dst.path}`);
      this.deleteTree(occupant, cmd.now);
    }
    const oldParent = row.parent!;
    if (row.via_link) this.sMoveLink.run(dstParent.id, name, oldParent, row.name);
    else this.sMove.run(dstParent.id, name, row.id);
    this.sSetCtime.run(cmd.now, row.id); // as Linux: a renamed inode changed
    this.sTouch.run(cmd.now, oldParent);
    this.sTouch.run(cmd.now, dstParent.id);
    // Only directories the move adds to are checked: a rename inside a full quota is fine (HDFS).
    this.quota.enforce(dstParent.id, new Set(this.quota.chain(oldParent)));
    return {};
  }

  private recoverLease(cmd: RecoverLeaseCmd): RecoverLeaseResult {
    const row = this.ns.byId(cmd.inode);
    if (!row || row.type !== TYPE_FILE || row.under_construction !== 1) return { outcome: 'gone' };
    if ((row.lease_expiry ?? 0) > cmd.now) return { outcome: 'not-expired' };
    const reported = new Map(cmd.chunks.map((c) => [c.handle, c]));
    let kept = 0;
    let size = 0;
    for (const c of this.ns.chunksOf(row.id)) {
      if (c.committed) {
        size += c.length;
      } else {
        const r = reported.get(c.handle);
        if (!r || r.length > row.chunk_size) break;
        this.sCommitChunk.run(r.length, r.crc32c, c.handle);
        size += r.length;
      }
      kept++;
    }
    this.sDeleteChunksFrom.run(row.id, kept); // "closed at its last complete chunk"
    let parentId: number;
    let into: InodeRow | undefined;
    try {
      ({ parent: parentId, into } = this.attachTarget(row));
    } catch (err) {
      if (!(err instanceof DfsError)) throw err;
      this.deleteTree(row); // nowhere to put it: discard (its chunks become garbage)
      return { outcome: 'discarded' };
    }
    this.sFinalize.run(into ? null : parentId, size, kept, cmd.now, cmd.now, row.id);
    this.sTouch.run(cmd.now, parentId);
    const done = into ? this.adopt(this.ns.byId(row.id)!, into) : this.ns.byId(row.id)!;
    return { outcome: 'closed', path: this.ns.pathOf(done), size };
  }

  /** Every user's trash, /user/NAME/.Trash: its expired checkpoints go, Current becomes /.../<now>. */
  private trashCheckpoint(cmd: TrashCheckpointCmd): TrashCheckpointResult {
    let deleted = 0;
    const checkpoints: string[] = [];
    for (const trash of this.trashDirs()) {
      const expired = this.childrenAll(trash.id).filter((c) => /^\d+$/.test(c.name) && Number(c.name) + cmd.intervalMs <= cmd.now);
      for (const c of expired) {
        this.deleteTree(c);
        deleted++;
      }
      const current = this.ns.child(trash.id, TRASH_CURRENT);
      let moved = false;
      if (current && isDir(current) && this.ns.hasChildren(current.id) && !this.ns.child(trash.id, String(cmd.now))) {
        this.sMove.run(trash.id, String(cmd.now), current.id);
        checkpoints.push(`${this.ns.pathOf(trash)}/${cmd.now}`);
        moved = true;
      }
      if (expired.length > 0 || moved) this.sTouch.run(cmd.now, trash.id);
    }
    return checkpoints.length > 0 ? { deleted, checkpoint: checkpoints[0]!, checkpoints } : { deleted };
  }

  private childrenAll(dir: number): InodeRow[] {
    const out: InodeRow[] = [];
    for (let after = ''; ; ) {
      const page = this.ns.children(dir, after, 1000);
      out.push(...page);
      if (page.length < 1000) return out;
      after = page[page.length - 1]!.name;
    }
  }

  /** /user/NAME/.Trash for every NAME that has one. */
  trashDirs(): InodeRow[] {
    const home = this.ns.child(ROOT_ID, HOME_DIR);
    if (!home || !isDir(home)) return [];
    const out: InodeRow[] = [];
    for (const user of this.childrenAll(home.id)) {
      const t = isDir(user) ? this.ns.child(user.id, TRASH_DIR) : undefined;
      if (t && isDir(t)) out.push(t);
    }
    return out;
  }

  // ---- users: permissions, attributes, quotas, replication, token keys ----

  private openAppend(cmd: OpenAppendCmd): OpenAppendResult {
    const caller = commandCaller(cmd);
    const row = this.ns.byId(cmd.inode);
    if (row && row.parent !== null) {
      const { path, comps } = splitPath(this.ns.pathOf(row));
      walk(this.ns, comps, caller); // traverse
      requireAccess(row, caller, WRITE, path);
    }
    const r = this.append.openAppend(cmd);
    if (row?.parent) this.quota.enforce(row.parent); // the last chunk is now charged in full
    this.sProgress.run(cmd.inode, cmd.now);
    return r;
  }

  private setAttr(cmd: SetAttrCmd): { file: FileStatus } {
    const { path, comps } = splitPath(cmd.path);
    const caller = commandCaller(cmd);
    const { row } = mustWalk(this.ns, path, comps, caller);
    const next = { id: row.id, mode: row.mode, owner: row.owner, grp: row.grp, mtime: row.mtime, atime: row.atime, ctime: cmd.now };
    if (cmd.mode !== undefined) {
      if (cmd.mode > 0o7777) fail(ErrorCode.INVALID_ARGUMENT, `bad mode ${cmd.mode.toString(8)}`);
      if (!isOwner(row, caller)) denied(caller, 'OWNER (chmod)', path, row);
      next.mode = cmd.mode;
    }
    if (cmd.owner !== undefined && cmd.owner !== row.owner) {
      checkName('user', cmd.owner);
      if (!caller.superuser) denied(caller, 'SUPERUSER (chown)', path, row);
      next.owner = cmd.owner;
    }
    if (cmd.group !== undefined && cmd.group !== row.grp) {
      checkName('group', cmd.group);
      // HDFS: the owner may change the group to one of its own groups; anything else is the superuser's.
      if (!caller.superuser && !(row.owner === caller.user && caller.groups.includes(cmd.group))) {
        denied(caller, `OWNER in group ${cmd.group} (chgrp)`, path, row);
      }
      next.grp = cmd.group;
    }
    if (cmd.mtime !== undefined || cmd.atime !== undefined) {
      if (!isOwner(row, caller) && !hasAccess(row, caller, WRITE)) denied(caller, WRITE, path, row);
      if (cmd.mtime !== undefined) next.mtime = cmd.mtime;
      if (cmd.atime !== undefined) next.atime = cmd.atime;
    }
    // chown/chgrp of a non-directory clears set-id bits, unless the same call sets the mode.
    if (cmd.mode === undefined && (cmd.owner !== undefined || cmd.group !== undefined) && !isDir(row)) next.mode = killSetId(next.mode);
    this.sSetAttr.run(next);
    const done = this.ns.byId(row.id)!;
    return { file: statusOf(done, path, this.ns.nlinkOf(done)) };
  }

  private setQuota(cmd: SetQuotaCmd): Record<string, never> {
    const { path, comps } = splitPath(cmd.path);
    const caller = commandCaller(cmd);
    const { row } = mustWalk(this.ns, path, comps, caller);
    if (!caller.superuser) denied(caller, 'SUPERUSER (quota)', path, row);
    if (!isDir(row)) fail(ErrorCode.NOT_A_DIRECTORY, `quotas are set on directories: ${path}`);
    if (cmd.files === 0) fail(ErrorCode.INVALID_ARGUMENT, 'a name quota must be at least 1 (the directory itself)');
    if (cmd.clear) {
      this.quota.set(row.id, null, null);
      return {};
    }
    const old = this.quota.get(row.id);
    this.quota.set(row.id, cmd.files ?? old?.files ?? null, cmd.space ?? old?.space ?? null);
    return {};
  }

  private setReplication(cmd: SetReplicationCmd): { file: FileStatus; previous: number } {
    const { path, comps } = splitPath(cmd.path);
    const caller = commandCaller(cmd);
    const { row } = mustWalk(this.ns, path, comps, caller);
    if (isDir(row)) fail(ErrorCode.IS_A_DIRECTORY, `is a directory: ${path} (setrep -R walks directories)`);
    if (cmd.replication < 1 || cmd.replication > MAX_REPLICATION) {
      fail(ErrorCode.INVALID_ARGUMENT, `replication must be 1..${MAX_REPLICATION}, got ${cmd.replication}`);
    }
    requireAccess(row, caller, WRITE, path);
    this.sSetReplication.run(cmd.replication, row.id);
    if (cmd.replication > row.replication) this.quota.enforce(row.parent ?? ROOT_ID);
    return { file: statusOf(this.ns.byId(row.id)!, path), previous: row.replication };
  }

  private setAuthKey(cmd: SetAuthKeyCmd): { added: boolean } {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(cmd.id) || cmd.secret.length < 32 || cmd.secret.length > 512) {
      fail(ErrorCode.INVALID_ARGUMENT, 'bad token key');
    }
    return { added: this.sAddKey.run(cmd.id, cmd.secret, cmd.now).changes > 0 };
  }

  private addChunkKey(cmd: AddChunkKeyCmd): { added: boolean; retired: number } {
    const secret = Buffer.from(cmd.secret, 'base64');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(cmd.id) || secret.length < 16 || secret.length > 64 || cmd.expires <= cmd.activeFrom) {
      fail(ErrorCode.INVALID_ARGUMENT, 'bad chunk token key');
    }
    const retired = this.sRetireChunkKeys.run(cmd.now).changes;
    return { added: this.sAddChunkKey.run(cmd.id, secret, cmd.activeFrom, cmd.expires).changes > 0, retired };
  }

  private revokeToken(cmd: RevokeTokenCmd): Record<string, never> {
    if (cmd.jti.length === 0 || cmd.jti.length > 128) fail(ErrorCode.INVALID_ARGUMENT, 'bad token id');
    this.sPruneRevoked.run(cmd.now);
    this.sRevoke.run(cmd.jti, cmd.expiry);
    return {};
  }
}
