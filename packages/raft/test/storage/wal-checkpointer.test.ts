import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStorage, WalCheckpointer } from '../../src/index.js';

describe('WalCheckpointer (WAL checkpoints on a worker thread)', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'raft-ckpt-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));

  function walDb(name: string): Database.Database {
    const db = new Database(join(dir, name));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)');
    return db;
  }

  /** Rows in the database file alone: a copy without its WAL sees only what was checkpointed. */
  function rowsInMainFile(db: Database.Database): number {
    const copy = join(dir, 'copy.db');
    copyFileSync(db.name, copy);
    const c = new Database(copy, { readonly: true });
    try {
      const table = c.prepare(`SELECT 1 FROM sqlite_master WHERE name = 't'`).get(); // not there until a checkpoint copies it
      return table ? (c.prepare('SELECT COUNT(*) FROM t').pluck().get() as number) : 0;
    } finally {
      c.close();
    }
  }

  it('the owner connection never checkpoints; the worker copies every committed page into the database file', async () => {
    const db = walDb('a.db');
    const ckpt = new WalCheckpointer(db, { synchronous: 'NORMAL', intervalMs: 0, thresholdPages: 1 });
    try {
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
      const put = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
      // 3,000 commits of a 1 KiB row each: past SQLite's 1,000-page automatic threshold.
      for (let k = 1; k <= 3000; k++) {
        put.run(k, Buffer.alloc(1024, k));
        ckpt.written();
        if (k % 500 === 0) await ckpt.idle();
      }
      await ckpt.idle();
      ckpt.written(); // the last commits, now that no checkpoint runs
      await ckpt.idle();
      assert.ok(ckpt.stats.runs >= 2, `checkpoints run: ${ckpt.stats.runs}`);
      assert.ok(ckpt.stats.log > 0);
      assert.equal(ckpt.stats.checkpointed, ckpt.stats.log, 'the last checkpoint copied the whole WAL');
      assert.equal(rowsInMainFile(db), 3000);
    } finally {
      await ckpt.close();
      db.close();
    }
  });

  it('at most one checkpoint per interval: writes in between wait in the WAL, not in a queue', async () => {
    const db = walDb('b.db');
    const ckpt = new WalCheckpointer(db, { synchronous: 'NORMAL', intervalMs: 60_000, thresholdPages: 1 });
    try {
      const put = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
      for (let k = 1; k <= 100; k++) {
        put.run(k, Buffer.alloc(100));
        ckpt.written();
      }
      await ckpt.idle();
      assert.equal(ckpt.stats.runs, 1, 'a hundred commits asked once');
      assert.equal(rowsInMainFile(db), 100);
      for (let k = 101; k <= 200; k++) {
        put.run(k, Buffer.alloc(100));
        ckpt.written();
      }
      await ckpt.idle();
      assert.equal(ckpt.stats.runs, 1, 'no second checkpoint within the interval');
      assert.equal(rowsInMainFile(db), 100, 'the later commits wait in the WAL');
      assert.equal((db.prepare('SELECT COUNT(*) FROM t').pluck().get() as number), 200);
    } finally {
      await ckpt.close();
      db.close();
    }
  });

  it('copies nothing while the WAL holds fewer uncopied frames than the threshold (SQLite\'s own rule), then all of it', async () => {
    const db = walDb('t.db');
    const ckpt = new WalCheckpointer(db, { synchronous: 'NORMAL', intervalMs: 0, thresholdPages: 200 });
    try {
      const put = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
      for (let k = 1; k <= 50; k++) {
        put.run(k, Buffer.alloc(1024));
        ckpt.written();
        await ckpt.idle();
      }
      assert.equal(ckpt.stats.runs, 0, '50 one-page commits stay under 200 frames');
      assert.equal(rowsInMainFile(db), 0);
      for (let k = 51; k <= 400 && ckpt.stats.runs === 0; k++) {
        put.run(k, Buffer.alloc(1024));
        ckpt.written();
        await ckpt.idle();
      }
      assert.equal(ckpt.stats.runs, 1);
      assert.ok(ckpt.stats.log >= 200, `frames at the checkpoint: ${ckpt.stats.log}`);
      assert.equal(ckpt.stats.checkpointed, ckpt.stats.log);
    } finally {
      await ckpt.close();
      db.close();
    }
  });

  it('a worker that cannot open the database hands checkpoints back to the owner connection', async () => {
    const db = walDb('c.db');
    rmSync(db.name); // the owner keeps its descriptor; the worker (fileMustExist) cannot open the path
    let error: string | undefined;
    const failed = new Promise<void>((resolve) => {
      const ckpt = new WalCheckpointer(db, { synchronous: 'NORMAL', onError: (m) => { error = m; resolve(); } });
      ckpt.written();
      void ckpt.idle();
    });
    await failed;
    assert.ok(error);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    db.close();
  });

  it('SqliteStorage leaves checkpoints to the worker: its own connection never checkpoints', () => {
    const s = new SqliteStorage(join(dir, 'raft.db'));
    try {
      const own = (s as unknown as { db: Database.Database }).db;
      assert.equal(own.pragma('wal_autocheckpoint', { simple: true }), 0);
    } finally {
      s.close();
    }
  });
});
