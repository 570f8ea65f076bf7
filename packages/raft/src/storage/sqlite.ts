import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ConfState, Entry, HardState, SnapshotMeta } from '../core/types.js';
import type { RaftStorage, StoredState } from './storage.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/*
 * RaftStorage on SQLite (better-sqlite3) in WAL mode. One Ready = one transaction = one
 * fsync, however many proposals it carries (group commit).
 *
 * The fsync runs off the event loop: SQLite runs synchronous=NORMAL (a commit writes the
 * WAL without syncing it; checkpoints still sync the WAL and the database) and `save`
 * fdatasyncs the WAL file itself on libuv's thread pool, resolving once it is on disk —
 * what synchronous=FULL does inside `commit` (WAL mode syncs only the WAL at commit), minus
 * blocking the process. Why: a synchronous fsync held the leader's event loop, so the
 * AppendEntries it handed to gRPC *before* the fsync (thesis 10.2.1) left only after it
 * (the 0-of-200 overlap in packages/master/DESIGN.md). compact and installSnapshot, rare and
 * followed by file deletions, sync before they return.
 *
 * A hard state whose only change is the commit index is not written on its own: the commit
 * index is volatile in Raft (Figure 2; etcd's MustSync skips the fsync for it too), and
 * writing it cost one more fsync per commit, on the leader between the quorum's answer and
 * apply. It is written with the next transaction that must be durable anyway (entries, term,
 * vote) and on close. After a crash the stored commit may lag what the state machine applied;
 * the driver raises it to the applied index (those entries are in the log, and were committed).
 *
 * WAL checkpoints run on a worker thread's connection (wal-checkpointer.ts), not inside a
 * `save` on the event loop.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS hard_state (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface SnapshotRecord {
  index: number;
  term: number;
  conf: ConfState;
  file: string;
}

export class SqliteStorage implements RaftStorage {
  private readonly db: Database.Database;
  private readonly walPath: string;
  private readonly checkpointer: WalCheckpointer;
  /** The WAL file, opened for fdatasync once it exists; reopened if SQLite recreated it. */
  private wal: { fd: number; ino: number } | undefined;
  /** fdatasyncs in flight: the WAL descriptor is closed only when none is. */
  private syncing = 0;
  private closed = false;
  /** The hard state as stored (undefined before the first load or save). */
  private storedHard: HardState | undefined;
  /** A newer commit index not written yet (only the commit changed). */
  private unsavedHard: HardState | undefined;
  private readonly stmts: {
    putHard: Database.Statement;
    putEntry: Database.Statement;
    truncate: Database.Statement;
    dropUpTo: Database.Statement;
    dropAll: Database.Statement;
    putMeta: Database.Statement;
    getMeta: Database.Statement;
  };

  constructor(path: string) {
    this.db = new Database(path);
    this.walPath = `${path}-wal`;
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL'); // commits are synced by walFd() + fdatasync (above)
    this.db.exec(SCHEMA);
    this.checkpointer = new WalCheckpointer(this.db, { synchronous: 'NORMAL' });
    this.stmts = {
      putHard: this.db.prepare('INSERT INTO hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET term = excluded.term, vote = excluded.vote, commit_index = excluded.commit_index'),
      putEntry: this.db.prepare('INSERT INTO entries (idx, term, type, data) VALUES (?, ?, ?, ?)'),
      truncate: this.db.prepare('DELETE FROM entries WHERE idx >= ?'),
      dropUpTo: this.db.prepare('DELETE FROM entries WHERE idx <= ?'),
      dropAll: this.db.prepare('DELETE FROM entries'),
      putMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getMeta: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
    };
  }

  private meta<T>(key: string): T | undefined {
    const row = this.stmts.getMeta.get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  private setMeta(key: string, value: unknown): void {
    this.stmts.putMeta.run(key, JSON.stringify(value));
  }

  load(initialConf: ConfState): StoredState {
    const st = this.db.transaction((): StoredState => {
      this.flush();
      let snap = this.meta<SnapshotRecord>('snapshot');
      if (!snap) {
        snap = { index: 0, term: 0, conf: initialConf, file: '' };
        this.setMeta('snapshot', snap);
        this.setMeta('offset', { index: 0, term: 0 });
      }
      const offset = this.meta<{ index: number; term: number }>('offset') ?? { index: 0, term: 0 };
      const hs = this.db.prepare('SELECT term, vote, commit_index FROM hard_state WHERE id = 1').get() as
        | { term: number; vote: string; commit_index: number }
        | undefined;
      const rows = this.db.prepare('SELECT idx, term, type, data FROM entries WHERE idx > ? ORDER BY idx').all(offset.index) as Array<{
        idx: number;
        term: number;
        type: number;
        data: Buffer;
      }>;
      const entries: Entry[] = rows.map((r) => ({ index: r.idx, term: r.term, type: r.type, data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) }));
      if (hs) this.storedHard = { term: hs.term, vote: hs.vote, commit: hs.commit_index };
      return {
        hardState: hs ? { term: hs.term, vote: hs.vote, commit: hs.commit_index } : { term: 0, vote: '', commit: 0 },
        snapshot: { index: snap.index, term: snap.term, conf: snap.conf },
        snapshotFile: snap.file,
        offset,
        entries,
      };
    })();
    this.syncNow(); // the first load records the initial configuration
    return st;
  }

  save(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    if (hardState) {
      const stored = this.storedHard;
      const commitOnly = stored !== undefined && hardState.term === stored.term && hardState.vote === stored.vote;
      if (commitOnly && entries.length === 0) {
        this.unsavedHard = hardState; // written with the next durable transaction (see above)
        return Promise.resolve();
      }
    }
    const hard = hardState ?? this.unsavedHard;
    if (!hard && entries.length === 0) return Promise.resolve();
    this.db.transaction(() => {
      if (entries.length > 0) {
        this.stmts.truncate.run(entries[0].index);
        for (const e of entries) this.stmts.putEntry.run(e.index, e.term, e.type, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
      }
      if (hard) this.stmts.putHard.run(hard.term, hard.vote, hard.commit);
    })();
    if (hard) this.storedHard = hard;
    this.unsavedHard = undefined;
    this.checkpointer.written();
    return this.sync();
  }

  /** The WAL's descriptor; reopened when the file is not the one we hold (SQLite recreated it). */
  private walFd(): number {
    const ino = statSync(this.walPath).ino;
    if (this.wal?.ino === ino) return this.wal.fd;
    if (this.wal) closeSync(this.wal.fd);
    const fd = openSync(this.walPath, 'r');
    this.wal = { fd, ino: fstatSync(fd).ino };
    return fd;
  }

  /** Resolves once every transaction committed so far is on disk (fdatasync on the thread pool). */
  private sync(): Promise<void> {
    const fd = this.walFd();
    this.syncing++;
    return new Promise((resolve, reject) =>
      fdatasync(fd, (err) => {
        this.syncing--;
        if (this.closed && this.syncing === 0) this.closeWal();
        if (err) reject(err);
        else resolve();
      }),
    );
  }

  /** The same, blocking: for the rare writes that must be durable before the caller goes on. */
  private syncNow(): void {
    fdatasyncSync(this.walFd());
  }

  private closeWal(): void {
    if (this.wal) closeSync(this.wal.fd);
    this.wal = undefined;
  }

  /** Writes a commit index held back by `save` (close, tests). */
  flush(): void {
    const hard = this.unsavedHard;
    if (!hard) return;
    this.stmts.putHard.run(hard.term, hard.vote, hard.commit);
    this.storedHard = hard;
    this.unsavedHard = undefined;
  }

  compact(snapshot: SnapshotMeta, file: string, offset: { index: number; term: number }): void {
    this.db.transaction(() => {
      this.setMeta('snapshot', { index: snapshot.index, term: snapshot.term, conf: snapshot.conf, file } satisfies SnapshotRecord);
      this.stmts.dropUpTo.run(offset.index);
      this.setMeta('offset', offset);
    })();
    this.syncNow();
    this.checkpointer.written();
  }

  installSnapshot(snapshot: SnapshotMeta, file: string): void {
    this.db.transaction(() => {
      this.flush();
      this.setMeta('snapshot', { index: snapshot.index, term: snapshot.term, conf: snapshot.conf, file } satisfies SnapshotRecord);
      this.stmts.dropAll.run();
      this.setMeta('offset', { index: snapshot.index, term: snapshot.term });
      const hs = this.db.prepare('SELECT term, vote, commit_index FROM hard_state WHERE id = 1').get() as
        | { term: number; vote: string; commit_index: number }
        | undefined;
      if (!hs || hs.commit_index < snapshot.index) {
        this.stmts.putHard.run(hs?.term ?? snapshot.term, hs?.vote ?? '', snapshot.index);
        this.storedHard = { term: hs?.term ?? snapshot.term, vote: hs?.vote ?? '', commit: snapshot.index };
      }
    })();
    this.syncNow();
  }

  /** Closing checkpoints the WAL into the database and syncs both (SQLite). */
  close(): void {
    if (this.db.open) this.flush();
    void this.checkpointer.close();
    this.db.close();
    this.closed = true;
    if (this.syncing === 0) this.closeWal();
  }
}
