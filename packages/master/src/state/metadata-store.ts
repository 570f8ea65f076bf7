import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DfsError, ErrorCode, FileType, MAX_INLINE_BYTES, type FileStatus } from '@dfs/proto';
import { CommandDecodeError, decodeCommand, type Command, type CommandResult } from './commands.js';
import { Namespace, fail, isDir, isRegular, splitPath, statusOf, type ChunkRow, type InodeRow } from './namespace.js';
import { CommandProcessor, TRASH_CURRENT } from './processor.js';
import { SNAPSHOT_DIR, type DiffEntry, type SnapshotInfo, type SnapshotPath } from './snapshots.js';
import { SUPERUSER, type Caller } from '../auth/caller.js';
import type { ChunkTokenKey } from '@dfs/security';
import { EXECUTE, READ, hasAccess, requireAccess } from './permissions.js';
import { PathCache } from './path-cache.js';
import { AppliedWaiters } from './applied-waiters.js';
import type { Quota, Usage } from './quota.js';
import { BALANCER_KEY, CLUSTER_ID_KEY, RESTORE_KEYS, openDatabase, type OpenOptions } from './schema.js';
import { WalCheckpointer, type StateMachine } from '@dfs/raft';

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;
/** How long (in command time) a client operation's result is remembered for its retries. */
export const OP_RESULT_RETENTION_MS = 10 * 60_000;

export interface ListResult {
  entries: FileStatus[];
  hasMore: boolean;
}

export interface RestoredRange {
  handleFloor: number;
  handleCeiling: number;
  versionFloor: number;
  versionCeiling: number;
}

export interface FileWithChunks {
  file: FileStatus;
  chunks: ChunkRow[];
  /** Set for a file kept inline: its bytes (it has no chunks). */
  inline?: Buffer;
}

/**
 * The master's durable state: a thin FSM (rqlite's store/) over one better-sqlite3
 * database, plus the read queries the service answers from it.
 *
 * apply(index, bytes): decode (failure is fatal: CommandDecodeError propagates) → one
 * transaction { SAVEPOINT { processor.execute } ; applied_index = index }. A command that
 * fails with a DfsError is rolled back to the savepoint and its error becomes the result;
 * the applied index still advances, so the log position is consumed exactly once.
 */
export class MetadataStore implements StateMachine {
  private db!: Database.Database;
  /** Checkpoints this database's WAL off the event loop (@dfs/raft wal-checkpointer.ts). */
  private checkpointer!: WalCheckpointer;
  private ns!: Namespace;
  private processor!: CommandProcessor;
  /** Directory rows of the read queries' path resolution (path-cache.ts). */
  private paths!: PathCache;
  private applied = 0;
  private readonly appliedWaiters = new AppliedWaiters();
  private applyTxn!: (index: number, cmd: Command) => CommandResult;
  private batchTxn!: (entries: Array<{ index: number; cmd: Command } | undefined>) => Array<CommandResult | undefined>;
  private sExpired!: Database.Statement;
  private sChunkCount!: Database.Statement;
  private sChunkScan!: Database.Statement;
  private sMeta!: Database.Statement;
  private sFacts!: Database.Statement;
  private sAuthKey!: Database.Statement;
  private sRevoked!: Database.Statement;
  private sChunkKeys!: Database.Statement;
  private sLeaseOfChunk!: Database.Statement;
  /** The chunk token key ring; only AddChunkKey changes it, so only it (or a restore) empties this. */
  private chunkKeyCache: ChunkTokenKey[] | undefined;
  /** Written by `dfs master --restore` before the store opens; no command changes it. */
  private restored: RestoredRange | undefined;

  constructor(
    readonly path: string,
    private readonly openOpts: OpenOptions = {},
  ) {
    this.open();
  }

  private open(): void {
    const db = openDatabase(this.path, this.openOpts);
    this.db = db;
    this.checkpointer = new WalCheckpointer(db, { synchronous: this.openOpts.synchronous ?? 'FULL' });
    this.ns = new Namespace(db);
    this.paths = new PathCache(this.ns);
    this.processor = new CommandProcessor(db, this.ns);
    const execute = db.transaction((cmd: Command) => this.processor.execute(cmd)); // nested: a SAVEPOINT
    const sGetOp = db.prepare('SELECT result FROM op_results WHERE op_id = ? AND type = ?').pluck();
    const sPutOp = db.prepare('INSERT INTO op_results (op_id, type, at, result) VALUES (?, ?, ?, ?)');
    const sPruneOps = db.prepare('DELETE FROM op_results WHERE at < ?');
    const runOnce = (cmd: Command): CommandResult => {
      try {
        return { ok: true, value: execute(cmd) };
      } catch (err) {
        if (!(err instanceof DfsError)) throw err; // a bug or an I/O error: nothing is committed
        return { ok: false, code: err.code, message: err.message };
      }
    };
    // The retry cache: deterministic, since the op id and `now` come from the command.
    const run = (cmd: Command): CommandResult => {
      const opId = 'opId' in cmd ? cmd.opId : undefined;
      if (!opId || !('now' in cmd)) return runOnce(cmd);
      const prev = sGetOp.get(opId, cmd.type) as string | undefined;
      if (prev !== undefined) return JSON.parse(prev) as CommandResult;
      const result = runOnce(cmd);
      sPruneOps.run(cmd.now - OP_RESULT_RETENTION_MS);
      sPutOp.run(opId, cmd.type, cmd.now, JSON.stringify(result));
      return result;
    };
    this.applyTxn = db.transaction((index: number, cmd: Command): CommandResult => {
      const result = run(cmd);
      this.processor.setAppliedIndex(index);
      return result;
    });
    this.batchTxn = db.transaction((entries: Array<{ index: number; cmd: Command } | undefined>) => {
      let last = -1;
      const results = entries.map((e) => {
        if (!e) return undefined;
        last = Math.max(last, e.index);
        return run(e.cmd);
      });
      if (last >= 0) this.processor.setAppliedIndex(last);
      return results;
    });
    this.sExpired = db.prepare(
      'SELECT * FROM inodes WHERE under_construction = 1 AND lease_expiry <= ? ORDER BY lease_expiry LIMIT ?',
    );
    this.sChunkCount = db.prepare('SELECT COUNT(*) AS n FROM chunks WHERE committed = 1');
    this.sChunkScan = db.prepare(`SELECT c.handle, c.version, c.committed, i.replication
      FROM chunks c JOIN inodes i ON i.id = c.inode WHERE c.handle > ? ORDER BY c.handle LIMIT ?`);
    this.sMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.sFacts = db.prepare(
      'SELECT c.version, c.committed, i.replication FROM chunks c JOIN inodes i ON i.id = c.inode WHERE c.handle = ?',
    );
    this.sAuthKey = db.prepare('SELECT id, secret FROM auth_keys ORDER BY created, id LIMIT 1');
    this.sRevoked = db.prepare('SELECT 1 FROM revoked_tokens WHERE jti = ?');
    this.sChunkKeys = db.prepare('SELECT id, secret, active_from, expires FROM chunk_keys ORDER BY active_from, id');
    this.sLeaseOfChunk = db.prepare('SELECT i.lease_expiry AS e FROM chunks c JOIN inodes i ON i.id = c.inode WHERE c.handle = ?');
    this.applied = (this.sMeta.get('applied_index') as { value: number }).value;
    this.appliedWaiters.advanced(this.applied); // a restored snapshot may jump past a waiter
    this.chunkKeyCache = undefined;
    this.restored = this.readRestoredRange();
  }

  /** What every apply does after its transaction: caches that commands may make stale. */
  private afterApply(cmd: Command): void {
    this.paths.applied(cmd.type);
    if (cmd.type === 'AddChunkKey') this.chunkKeyCache = undefined;
  }

  // ---- StateMachine ----

  apply(index: number, data: Uint8Array): CommandResult | undefined {
    if (index <= this.applied) return undefined; // already applied before a restart: never twice
    let cmd: Command;
    try {
      cmd = data.length === 0 ? { type: 'Noop' } : decodeCommand(data);
    } catch (err) {
      if (err instanceof CommandDecodeError) err.message = `log entry ${index}: ${err.message}`;
      throw err; // fatal: the log and this build disagree; never skip an entry
    }
    const result = this.applyTxn(index, cmd);
    this.checkpointer.written();
    this.applied = index;
    this.afterApply(cmd);
    this.appliedWaiters.advanced(index);
    return result;
  }

  /**
   * Applies consecutive committed entries in ONE transaction (one commit, one WAL write):
   * the group-commit companion of apply() for a Raft driver that hands over batches. Same
   * rules: entries at or below the applied index are skipped (result undefined), each
   * command runs in its own savepoint, a decode failure is fatal and commits nothing.
   */
  applyBatch(entries: ReadonlyArray<{ index: number; data: Uint8Array }>): Array<CommandResult | undefined> {
    const decoded = entries.map((e) => {
      if (e.index <= this.applied) return undefined;
      try {
        return { index: e.index, cmd: e.data.length === 0 ? ({ type: 'Noop' } as Command) : decodeCommand(e.data) };
      } catch (err) {
        if (err instanceof CommandDecodeError) err.message = `log entry ${e.index}: ${err.message}`;
        throw err;
      }
    });
    const results = this.batchTxn(decoded);
    this.checkpointer.written();
    for (const d of decoded) {
      if (!d) continue;
      this.applied = Math.max(this.applied, d.index);
      this.afterApply(d.cmd);
    }
    this.appliedWaiters.advanced(this.applied);
    return results;
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** True once the applied index reaches `index` (woken by that apply), false after `waitMs`. */
  whenApplied(index: number, waitMs: number): Promise<boolean> {
    return this.appliedWaiters.wait(index, waitMs, () => this.applied);
  }

  async snapshot(path: string): Promise<{ index: number }> {
    // Synchronous on this connection, so no apply interleaves: the copy is exactly `applied`.
    if (existsSync(path)) rmSync(path);
    this.db.prepare('VACUUM INTO ?').run(path);
    return { index: this.applied };
  }

  async restore(path: string, index: number): Promise<void> {
    const tmp = `${this.path}.restore`;
    copyFileSync(path, tmp);
    // A snapshot is checked before it replaces anything: SQLite's page-level integrity
    // check (the transport already verified each streamed piece's CRC32C) and its index.
    let problem: string | undefined;
    try {
      const check = new Database(tmp, { fileMustExist: true });
      try {
        const verdict = check.pragma('integrity_check', { simple: true }) as string;
        if (verdict !== 'ok') problem = `integrity check failed: ${verdict}`;
        else {
          const row = check.prepare(`SELECT value FROM meta WHERE key = 'applied_index'`).get() as { value: number } | undefined;
          if (row?.value !== index) problem = `holds index ${row?.value}, expected ${index}`;
        }
      } finally {
        check.close();
      }
    } catch (err) {
      problem = `unreadable: ${(err as Error).message}`;
    }
    if (problem) {
      for (const suffix of ['', '-wal', '-shm']) rmSync(tmp + suffix, { force: true });
      throw new Error(`snapshot ${path} rejected: ${problem}`);
    }
    await this.checkpointer.close(); // no connection to the old file may outlive it
    this.db.close();
    for (const suffix of ['-wal', '-shm']) rmSync(this.path + suffix, { force: true });
    for (const suffix of ['-wal', '-shm']) rmSync(tmp + suffix, { force: true });
    renameSync(tmp, this.path);
    this.open();
  }

  /**
   * Closes the database at once; the promise settles when the checkpointer thread has closed its
   * own connection too (the last one to touch the -wal and -shm files).
   */
  close(): Promise<void> {
    const checkpointerClosed = this.checkpointer.close();
    if (this.db.open) this.db.close();
    return checkpointerClosed;
  }

  // ---- reads (not through the log) ----

  /** The entry a read names (NOT_FOUND if missing), through the path-resolution cache. */
  private resolve(path: string, comps: string[], caller: Caller): { row: InodeRow } {
    const { row } = this.paths.walk(comps, caller);
    if (!row) fail(ErrorCode.NOT_FOUND, `no such file or directory: ${path}`);
    return { row };
  }

  /** Path-resolution cache counters (for bench and tests). */
  pathCacheStats(): { hits: number; misses: number; size: number } {
    return { hits: this.paths.hits, misses: this.paths.misses, size: this.paths.size };
  }

  /** Traverse (x) on every ancestor is all a stat needs (HDFS getFileInfo). */
  stat(path: string, caller: Caller = SUPERUSER): FileStatus {
    return this.statEntry(path, caller).file;
  }

  /**
   * stat, plus the bytes of a file kept inline when the caller may read it (r): a mount's
   * open of a small file then needs no second call for its content.
   */
  statWithInline(path: string, caller: Caller = SUPERUSER): { file: FileStatus; inline?: Buffer } {
    const { file, row } = this.statEntry(path, caller);
    const inline = row && isRegular(row) && file.size <= MAX_INLINE_BYTES && hasAccess(row, caller, READ) ? this.ns.inlineOf(row.id) : undefined;
    return inline ? { file, inline } : { file };
  }

  /** A stat's answer, and the live entry's row (none for a path inside a snapshot). */
  private statEntry(path: string, caller: Caller): { file: FileStatus; row?: InodeRow } {
    const p = splitPath(path);
    if (p.comps.includes(SNAPSHOT_DIR)) return { file: statusOf(this.snapshotPath(p.comps, caller).row, p.path) };
    const { row } = this.resolve(p.path, p.comps, caller);
    return { file: statusOf(row, p.path, this.ns.nlinkOf(row)), row };
  }

  private snapshotPath(comps: string[], caller: Caller): SnapshotPath {
    return this.processor.snapshots.resolve(comps, caller);
  }

  /** List of `DIR/.snapshot` (the snapshots, as directories) or of a directory inside a snapshot. */
  private listSnapshotPath(path: string, comps: string[], startAfter: string, n: number, caller: Caller): ListResult {
    const sp = this.snapshotPath(comps, caller);
    const base = path === '/' ? '' : path;
    if (!isDir(sp.row)) return { entries: startAfter ? [] : [statusOf(sp.row, path)], hasMore: false };
    requireAccess(sp.row, caller, READ | EXECUTE, path);
    if (sp.kind === 'list') {
      const all = this.processor.snapshots.list(sp.dir.id).filter((s) => s.name > startAfter).sort((a, b) => (a.name < b.name ? -1 : 1));
      const page = all.slice(0, n);
      return { entries: page.map((s) => statusOf({ ...sp.dir, name: s.name, mtime: s.created }, `${base}/${s.name}`)), hasMore: all.length > n };
    }
    const rows = this.processor.snapshots.children(sp.snap.id, sp.row.id, startAfter, n + 1);
    const hasMore = rows.length > n;
    if (hasMore) rows.pop();
    return { entries: rows.map((r) => statusOf(r, `${base}/${r.name}`)), hasMore };
  }

  /** Children of a directory after `startAfter`, in name order; a file lists as itself. Needs r+x on a directory. */
  list(path: string, startAfter: string, limit: number, caller: Caller = SUPERUSER): ListResult {
    const p = splitPath(path);
    const n = Math.min(limit > 0 ? limit : DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
    if (p.comps.includes(SNAPSHOT_DIR)) return this.listSnapshotPath(p.path, p.comps, startAfter, n, caller);
    const { row } = this.resolve(p.path, p.comps, caller);
    if (!isDir(row)) return { entries: startAfter ? [] : [statusOf(row, p.path, this.ns.nlinkOf(row))], hasMore: false };
    requireAccess(row, caller, READ | EXECUTE, p.path);
    const rows = this.ns.children(row.id, startAfter, n + 1);
    const hasMore = rows.length > n;
    if (hasMore) rows.pop();
    const base = p.path === '/' ? '' : p.path;
    return { entries: rows.map((r) => statusOf(r, `${base}/${r.name}`, this.ns.nlinkOf(r))), hasMore };
  }

  /** A file and its chunks: what opening it for reading returns, so it needs r. */
  getFile(path: string, caller: Caller = SUPERUSER): FileWithChunks {
    const p = splitPath(path);
    if (p.comps.includes(SNAPSHOT_DIR)) {
      const sp = this.snapshotPath(p.comps, caller);
      if (isDir(sp.row) || sp.kind === 'list') fail(ErrorCode.IS_A_DIRECTORY, `is a directory: ${p.path}`);
      if (!isRegular(sp.row)) fail(ErrorCode.INVALID_ARGUMENT, `not a regular file: ${p.path}`);
      requireAccess(sp.row, caller, READ, p.path);
      const inline = this.processor.snapshots.inlineOf(sp.snap.id, sp.row.id);
      return { file: statusOf(sp.row, p.path), chunks: this.processor.snapshots.chunksOf(sp.snap.id, sp.row.id), ...(inline ? { inline } : {}) };
    }
    const { row } = this.resolve(p.path, p.comps, caller);
    if (isDir(row)) fail(ErrorCode.IS_A_DIRECTORY, `is a directory: ${p.path}`);
    // The master never follows a symlink (docs/posix.md): a reader is told what it found.
    if (!isRegular(row)) fail(ErrorCode.INVALID_ARGUMENT, `not a regular file: ${p.path}${row.target !== null ? ` (symbolic link to ${row.target})` : ''}`);
    requireAccess(row, caller, READ, p.path);
    const inline = this.ns.inlineOf(row.id);
    return { file: statusOf(row, p.path, this.ns.nlinkOf(row)), chunks: this.ns.chunksOf(row.id), ...(inline ? { inline } : {}) };
  }

  /** True for a file kept inline (its bytes in the metadata, no chunks). */
  isInline(inode: number): boolean {
    return this.ns.inlineOf(inode) !== undefined;
  }

  /** `dfs count -q`: names, bytes and space under a path, with its quotas (traverse needed). */
  contentSummary(path: string, caller: Caller = SUPERUSER): { usage: Usage; quota?: Quota; file: FileStatus } {
    const p = splitPath(path);
    const { row } = this.resolve(p.path, p.comps, caller);
    const quota = this.processor.quota.get(row.id);
    return { usage: this.processor.quota.usage(row.id), ...(quota ? { quota } : {}), file: statusOf(row, p.path) };
  }

  /** The cluster key that signs bearer tokens (undefined until the first leader proposed one). */
  authKey(): { id: string; secret: string } | undefined {
    return this.sAuthKey.get() as { id: string; secret: string } | undefined;
  }

  /** The ring of keys that sign chunk access tokens (chunk_keys), read again only after AddChunkKey. */
  chunkKeys(): ChunkTokenKey[] {
    if (!this.chunkKeyCache) {
      const rows = this.sChunkKeys.all() as Array<{ id: string; secret: Buffer; active_from: number; expires: number }>;
      this.chunkKeyCache = rows.map((r) => ({ id: r.id, secret: r.secret, activeFromMs: r.active_from, expiresMs: r.expires }));
    }
    return this.chunkKeyCache;
  }

  isTokenRevoked(jti: string): boolean {
    return this.sRevoked.get(jti) !== undefined;
  }

  inode(id: number): InodeRow | undefined {
    return this.ns.byId(id);
  }

  inodeStatus(id: number): FileStatus | undefined {
    const row = this.ns.byId(id);
    return row ? statusOf(row, this.ns.pathOf(row)) : undefined;
  }

  chunk(handle: number): ChunkRow | undefined {
    return this.ns.chunk(handle);
  }

  /** Version, committed flag and the file's replication target of one chunk (soft-state decisions). */
  chunkFacts(handle: number): { version: number; committed: boolean; replication: number } | undefined {
    const r = this.sFacts.get(handle) as { version: number; committed: number; replication: number } | undefined;
    // A chunk no live file holds any more may still be held by a snapshot: kept and re-replicated.
    return r ? { version: r.version, committed: r.committed === 1, replication: r.replication } : this.processor.snapshots.chunkFacts(handle);
  }

  /** Snapshots of the directory at `path` (r+x on it), or of every snapshottable directory (path undefined), with their directory's path. */
  snapshots(path: string | undefined, caller: Caller = SUPERUSER): Array<SnapshotInfo & { path: string; files: number; bytes: number }> {
    let dir: number | undefined;
    if (path !== undefined) {
      const p = splitPath(path);
      const { row } = this.resolve(p.path, p.comps, caller);
      requireAccess(row, caller, READ | EXECUTE, p.path);
      if (!this.processor.snapshots.isSnapshottable(row.id)) fail(ErrorCode.INVALID_ARGUMENT, `${p.path} is not snapshottable (dfs snapshot allow)`);
      dir = row.id;
    }
    return this.processor.snapshots.list(dir).map((s) => {
      const row = this.ns.byId(s.dir);
      return { ...s, path: row ? this.ns.pathOf(row) : `(inode ${s.dir})` };
    });
  }

  /** Snapshottable directories' paths. */
  snapshottableDirs(): string[] {
    return this.processor.snapshots.snapshottable().map((id) => {
      const row = this.ns.byId(id);
      return row ? this.ns.pathOf(row) : `(inode ${id})`;
    });
  }

  snapshotDiff(path: string, from: string, to: string | undefined, caller: Caller = SUPERUSER): DiffEntry[] {
    const p = splitPath(path);
    return this.processor.snapshots.diff(p.path, p.comps, from, to, caller);
  }

  /** The writer lease expiry of the file a chunk belongs to (undefined: no such chunk, or no writer). */
  leaseExpiryOfChunk(handle: number): number | undefined {
    const r = this.sLeaseOfChunk.get(handle) as { e: number | null } | undefined;
    return r?.e ?? undefined;
  }

  chunksOf(inode: number): ChunkRow[] {
    return this.ns.chunksOf(inode);
  }

  /** Files under construction whose lease ran out at `now`, oldest first. */
  expiredLeases(now: number, limit: number): InodeRow[] {
    return this.sExpired.all(now, limit) as InodeRow[];
  }

  committedChunkCount(): number {
    return (this.sChunkCount.get() as { n: number }).n;
  }

  /** A page of chunks with their file's replication, by handle (the background replication scan). */
  scanChunks(afterHandle: number, limit: number): Array<{ handle: number; version: number; committed: number; replication: number }> {
    return this.sChunkScan.all(afterHandle, limit) as Array<{ handle: number; version: number; committed: number; replication: number }>;
  }

  /** True when a TrashCheckpoint command would do something at `now`. */
  trashHasWork(now: number, intervalMs: number): boolean {
    return this.processor.trashDirs().some((trash) => {
      const current = this.ns.child(trash.id, TRASH_CURRENT);
      if (current && isDir(current) && this.ns.hasChildren(current.id)) return true;
      return this.ns
        .children(trash.id, '', MAX_LIST_LIMIT)
        .some((c) => /^\d+$/.test(c.name) && Number(c.name) + intervalMs <= now);
    });
  }

  /** The balancer run the log says is active: its threshold in percentage points, or 0 (stopped). */
  balancerThreshold(): number {
    const row = this.sMeta.get(BALANCER_KEY) as { value: number } | undefined;
    return (row?.value ?? 0) / 1000;
  }

  /** The cluster's identity as 12 hex digits, once the first leader proposed it. */
  clusterId(): string | undefined {
    const row = this.sMeta.get(CLUSTER_ID_KEY) as { value: number } | undefined;
    return row ? row.value.toString(16).padStart(12, '0') : undefined;
  }

  /**
   * After `dfs master --restore`: the handles and versions allocated after the backup was
   * taken (floor inclusive, ceiling exclusive), which the restored group never allocates.
   */
  restoredRange(): RestoredRange | undefined {
    return this.restored;
  }

  private readRestoredRange(): RestoredRange | undefined {
    const get = (key: string): number | undefined => (this.sMeta.get(key) as { value: number } | undefined)?.value;
    const handleFloor = get(RESTORE_KEYS.handleFloor);
    const handleCeiling = get(RESTORE_KEYS.handleCeiling);
    const versionFloor = get(RESTORE_KEYS.versionFloor);
    const versionCeiling = get(RESTORE_KEYS.versionCeiling);
    if (handleFloor === undefined || handleCeiling === undefined || versionFloor === undefined || versionCeiling === undefined) return undefined;
    return { handleFloor, handleCeiling, versionFloor, versionCeiling };
  }

  counter(key: 'next_inode' | 'next_handle' | 'applied_index'): number {
    return (this.sMeta.get(key) as { value: number }).value;
  }

  /** Every row of every table in a fixed order: two stores hold the same state iff equal. */
  dump(): { meta: unknown[]; inodes: unknown[]; chunks: unknown[]; opResults: unknown[]; quotas: unknown[]; authKeys: unknown[]; chunkKeys: unknown[]; leaseProgress: unknown[]; revoked: unknown[]; inlineData: unknown[]; snapshots: unknown[]; links: unknown[] } {
    return {
      links: this.db.prepare('SELECT * FROM links ORDER BY parent, name').all(),
      snapshots: [
        ...this.db.prepare('SELECT * FROM snapshottable ORDER BY inode').all(),
        ...this.db.prepare('SELECT * FROM snapshots ORDER BY id').all(),
        ...this.db.prepare('SELECT * FROM snapshot_inodes ORDER BY snap, id').all(),
        ...this.db.prepare('SELECT * FROM snapshot_chunks ORDER BY snap, inode, idx').all(),
        ...this.db.prepare('SELECT * FROM snapshot_inline ORDER BY snap, inode').all(),
      ],
      quotas: this.db.prepare('SELECT * FROM quotas ORDER BY inode').all(),
      authKeys: this.db.prepare('SELECT * FROM auth_keys ORDER BY id').all(),
      chunkKeys: this.db.prepare('SELECT * FROM chunk_keys ORDER BY id').all(),
      leaseProgress: this.db.prepare('SELECT * FROM lease_progress ORDER BY inode').all(),
      revoked: this.db.prepare('SELECT * FROM revoked_tokens ORDER BY jti').all(),
      meta: this.db.prepare('SELECT * FROM meta ORDER BY key').all(),
      inodes: this.db.prepare('SELECT * FROM inodes ORDER BY id').all(),
      chunks: this.db.prepare('SELECT * FROM chunks ORDER BY handle').all(),
      opResults: this.db.prepare('SELECT * FROM op_results ORDER BY op_id, type').all(),
      inlineData: this.db.prepare('SELECT * FROM inline_data ORDER BY inode').all(),
    };
  }
}

export { FileType };
