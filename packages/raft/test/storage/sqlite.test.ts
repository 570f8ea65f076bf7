import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage, type Entry } from '../../src/index.js';
import { holdFdatasync } from './fsync-gate.js';

const conf = [{ id: 'a', address: 'x', voter: true }];
const e = (index: number, term: number, byte = index): Entry => ({ index, term, type: 0, data: new Uint8Array([byte]) });

describe('SqliteStorage (hard state, log, snapshot metadata in one database)', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'raft-sqlite-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));

  it('starts empty with the initial configuration and keeps it across reopen, ignoring a different one later', () => {
    const s = new SqliteStorage(join(dir, 'r.db'));
    const st = s.load(conf);
    assert.deepEqual(st.snapshot, { index: 0, term: 0, conf });
    assert.deepEqual(st.hardState, { term: 0, vote: '', commit: 0 });
    s.close();
    const s2 = new SqliteStorage(join(dir, 'r.db'));
    assert.deepEqual(s2.load([]).snapshot.conf, conf);
    s2.close();
  });

  it('saves hard state and entries together, and a later save overwrites a conflicting suffix', () => {
    const s = new SqliteStorage(join(dir, 'r.db'));
    s.load(conf);
    s.save({ term: 1, vote: 'a', commit: 0 }, [e(1, 1), e(2, 1), e(3, 1)]);
    s.save({ term: 2, vote: 'b', commit: 1 }, [e(2, 2, 22)]);
    s.close();
    const st = new SqliteStorage(join(dir, 'r.db')).load(conf);
    assert.deepEqual(st.hardState, { term: 2, vote: 'b', commit: 1 });
    assert.deepEqual(st.entries.map((x) => [x.index, x.term, x.data[0]]), [[1, 1, 1], [2, 2, 22]]);
  });

  it('a change of the commit index alone is not written by itself (no fsync): it goes with the next entries or term, or on close', () => {
    const s = new SqliteStorage(join(dir, 'r.db'));
    s.load(conf);
    const stored = (): unknown => {
      const other = new SqliteStorage(join(dir, 'r.db')); // another connection: what is on disk
      try {
        return other.load(conf).hardState;
      } finally {
        other.close();
      }
    };
    s.save({ term: 1, vote: 'a', commit: 0 }, [e(1, 1), e(2, 1)]);
    s.save({ term: 1, vote: 'a', commit: 1 }, []);
    assert.deepEqual(stored(), { term: 1, vote: 'a', commit: 0 }, 'commit-only: held back');
    s.save(undefined, [e(3, 1)]);
    assert.deepEqual(stored(), { term: 1, vote: 'a', commit: 1 }, 'written with the next entries');
    s.save({ term: 1, vote: 'a', commit: 3 }, []);
    s.save({ term: 2, vote: '', commit: 3 }, []);
    assert.deepEqual(stored(), { term: 2, vote: '', commit: 3 }, 'a new term is written at once');
    s.save({ term: 2, vote: '', commit: 3 }, []);
    s.save({ term: 2, vote: 'b', commit: 3 }, []);
    assert.deepEqual(stored(), { term: 2, vote: 'b', commit: 3 }, 'a vote is written at once');
    s.save(undefined, [e(4, 2)]);
    s.save({ term: 2, vote: 'b', commit: 4 }, []);
    assert.deepEqual(stored(), { term: 2, vote: 'b', commit: 3 });
    assert.deepEqual(s.load(conf).hardState, { term: 2, vote: 'b', commit: 4 }, 'this connection\'s load sees it');
    s.save({ term: 2, vote: 'b', commit: 5 }, []);
    s.close();
    assert.deepEqual(stored(), { term: 2, vote: 'b', commit: 5 }, 'flushed on close');
  });

  it('compaction records the snapshot and drops entries up to the offset; installing a snapshot drops the whole log', () => {
    const s = new SqliteStorage(join(dir, 'r.db'));
    s.load(conf);
    s.save({ term: 1, vote: '', commit: 5 }, [1, 2, 3, 4, 5].map((i) => e(i, 1)));
    s.compact({ index: 4, term: 1, conf }, 'snap-1-4.db', { index: 3, term: 1 });
    let st = s.load(conf);
    assert.equal(st.snapshotFile, 'snap-1-4.db');
    assert.deepEqual(st.offset, { index: 3, term: 1 });
    assert.deepEqual(st.entries.map((x) => x.index), [4, 5]);
    s.installSnapshot({ index: 9, term: 3, conf }, 'snap-3-9.db');
    st = s.load(conf);
    assert.deepEqual(st.entries, []);
    assert.deepEqual(st.offset, { index: 9, term: 3 });
    assert.equal(st.hardState.commit, 9);
    s.close();
  });

  it('save resolves only once its WAL is fdatasynced, which does not block the event loop', async () => {
    const s = new SqliteStorage(join(dir, 'r.db'));
    s.load(conf);
    const gate = holdFdatasync((p) => p === join(dir, 'r.db-wal'));
    try {
      let durable = false;
      const saved = s.save({ term: 1, vote: 'a', commit: 0 }, [e(1, 1)]).then(() => (durable = true));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); // the loop turns meanwhile
      assert.equal(gate.held(), 1, 'one fdatasync of the WAL, held');
      assert.equal(durable, false, 'not durable before the fdatasync');
      gate.release();
      await saved;
      assert.deepEqual(gate.synced, [join(dir, 'r.db-wal')]);
      await s.save({ term: 1, vote: 'a', commit: 1 }, []);
      assert.equal(gate.synced.length, 1, 'a commit-only hard state costs no fsync');
    } finally {
      gate.restore();
      s.close();
    }
  });

  it('group commit: a thousand entries are one transaction', () => {
    const s = new SqliteStorage(join(dir, 'r.db'));
    s.load(conf);
    const t0 = process.hrtime.bigint();
    s.save({ term: 1, vote: '', commit: 0 }, Array.from({ length: 1000 }, (_, i) => e(i + 1, 1)));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(s.load(conf).entries.length, 1000);
    assert.ok(ms < 2000, `1000 entries took ${ms} ms`);
    s.close();
  });
});
