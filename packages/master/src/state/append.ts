import type Database from 'better-sqlite3';
import { ErrorCode, type FileStatus } from '@dfs/proto';
import type { OpenAppendCmd } from './commands.js';
import { fail, statusOf, type Namespace } from './namespace.js';
import { TYPE_FILE } from './schema.js';

/*
 * Append (GFS §3.3 record append, HDFS append) on the state-machine side. OpenAppend reopens a
 * visible file for writing: the file stays attached (readers keep seeing its committed bytes),
 * the client takes the writer lease, and a new chunk version is granted for the mutation of the
 * last chunk (GFS §4.5: "whenever the master grants a new lease on a chunk, it increases the
 * chunk version number"). Versions come from one cluster-wide counter, so a version handed to
 * a failed attempt is never handed out again. The chunk row keeps its old version until
 * CompleteFile records the version the writer actually used: replicas that missed the
 * mutation then become stale, and until then every replica still serves the committed bytes.
 */

/** First version handed out by the counter (new chunks start at 1). */
export const FIRST_GRANTED_VERSION = 2;

export interface OpenAppendResult {
  file: FileStatus;
  /** The version the writer uses for mutations of the file's last chunk. */
  version: number;
}

export class AppendProcessor {
  private readonly sGetVersion: Database.Statement;
  private readonly sSetVersion: Database.Statement;
  private readonly sReopen: Database.Statement;
  private readonly sDropUncommitted: Database.Statement;
  private readonly sChunkVersion: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly ns: Namespace,
  ) {
    this.sGetVersion = db.prepare(`SELECT value FROM meta WHERE key = 'next_version'`);
    this.sSetVersion = db.prepare(`INSERT OR REPLACE INTO meta(key, value) VALUES ('next_version', ?)`);
    this.sReopen = db.prepare(
      'UPDATE inodes SET under_construction = 1, lease_holder = ?, lease_expiry = ?, chunk_count = ? WHERE id = ?',
    );
    this.sDropUncommitted = db.prepare('DELETE FROM chunks WHERE inode = ? AND committed = 0');
    this.sChunkVersion = db.prepare('UPDATE chunks SET version = ? WHERE handle = ? AND version < ?');
  }

  openAppend(cmd: OpenAppendCmd): OpenAppendResult {
    if (!cmd.clientId) fail(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const row = this.ns.byId(cmd.inode);
    if (!row || row.type !== TYPE_FILE || row.parent === null) fail(ErrorCode.NOT_FOUND, `no such file: inode ${cmd.inode}`);
    const path = this.ns.pathOf(row);
    // Its bytes are in the metadata, not in a chunk a primary could extend: the client
    // rewrites the file instead (DfsClient.append).
    if (this.ns.inlineOf(row.id)) fail(ErrorCode.INVALID_ARGUMENT, `${path} is kept inline: rewrite it to append`);
    if (row.under_construction === 1 && row.lease_holder !== cmd.clientId && (row.lease_expiry ?? 0) > cmd.now) {
      fail(ErrorCode.LEASE_HELD, `${path} is being written by another client`);
    }
    // A retry by the same client, or a dead appender whose lease ran out: its unfinished
    // chunks are dropped (their replicas become garbage) and the file reopens as committed.
    this.sDropUncommitted.run(row.id);
    const last = this.ns.lastChunk(row.id);
    const count = last ? last.idx + 1 : 0;
    this.sReopen.run(cmd.clientId, cmd.leaseExpiry, count, row.id);
    const stored = this.sGetVersion.get() as { value: number } | undefined;
    const version = Math.max(stored?.value ?? FIRST_GRANTED_VERSION, (last?.version ?? 0) + 1);
    this.sSetVersion.run(version + 1);
    return { file: statusOf(this.ns.byId(row.id)!, path), version };
  }

  /** CompleteFile of an append: the appended chunk now has the version its writer used. */
  setVersion(handle: number, version: number): void {
    this.sChunkVersion.run(version, handle, version);
  }
}
