import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { checkAppends, checkData, checkMetadata } from './checkers.js';
import type { CompletedOp, Outcome } from './history.js';
import { appendRecord, type FinalState } from './workload.js';

/* The checkers must catch what they exist for: each is shown a good history and a bad one. */

let nextId = 0;
function op(f: string, args: CompletedOp['args'], call: number, ret: number, out?: CompletedOp['out'], outcome: Outcome = 'ok'): CompletedOp {
  return { id: nextId++, proc: `p${nextId % 3}`, f, args, out, outcome, call, ret: outcome === 'unknown' ? Infinity : ret };
}

function final(partial: Partial<FinalState> = {}): FinalState {
  return { appendFiles: {}, data: {}, meta: {}, fsck: { healthy: true, missing: 0, underReplicated: 0, corrupt: 0, waitedMs: 0 }, ...partial };
}

describe('nemesis checkers', () => {
  describe('metadata (linearizability per pair of paths)', () => {
    it('accepts create, rename and a stat that sees the renamed file', () => {
      const h = [
        op('create', { key: 'g0', p: 'a', v: 5 }, 0, 10),
        op('rename', { key: 'g0', p: 'a', dst: 'b', overwrite: false }, 11, 20),
        op('stat', { key: 'g0', p: 'b' }, 21, 30, { size: 5 }),
        op('stat', { key: 'g0', p: 'a' }, 21, 30, { size: null }),
      ];
      assert.equal(checkMetadata(h).ok, true);
    });

    it('rejects a stale read: a stat after an acknowledged overwrite that sees the old value', () => {
      const h = [
        op('overwrite', { key: 'g1', p: 'a', v: 1 }, 0, 10),
        op('overwrite', { key: 'g1', p: 'a', v: 2 }, 11, 20),
        op('stat', { key: 'g1', p: 'a' }, 21, 30, { size: 1 }),
      ];
      const r = checkMetadata(h);
      assert.equal(r.ok, false);
      assert.match(r.anomalies[0]!, /g1/);
    });

    it('lets an unknown write take effect or not, but not an acknowledged delete be undone', () => {
      const maybe = [
        op('overwrite', { key: 'g2', p: 'a', v: 7 }, 0, 0, { err: 'timeout' }, 'unknown'),
        op('stat', { key: 'g2', p: 'a' }, 50, 60, { size: null }),
        op('stat', { key: 'g2', p: 'a' }, 70, 80, { size: 7 }),
      ];
      assert.equal(checkMetadata(maybe).ok, true);
      const undone = [
        op('create', { key: 'g3', p: 'b', v: 3 }, 0, 10),
        op('delete', { key: 'g3', p: 'b' }, 20, 30),
        op('stat', { key: 'g3', p: 'b' }, 40, 50, { size: 3 }),
      ];
      assert.equal(checkMetadata(undone).ok, false);
    });

    it('takes a create answered ALREADY_EXISTS as definite: the path existed then, and nothing was created', () => {
      const existed = [
        op('create', { key: 'g5', p: 'a', v: 1 }, 0, 10),
        op('create', { key: 'g5', p: 'a', v: 2 }, 20, 30, { err: 'ALREADY_EXISTS' }),
        op('stat', { key: 'g5', p: 'a' }, 40, 50, { size: 1 }),
      ];
      assert.deepEqual(checkMetadata(existed).anomalies, []);
      // Unknown, that create could have taken effect; definite, it cannot: the stat seeing 2 is an anomaly.
      const sawIt = [...existed.slice(0, 2), op('stat', { key: 'g5', p: 'a' }, 40, 50, { size: 2 })];
      assert.equal(checkMetadata(sawIt).ok, false);
      // ALREADY_EXISTS for a path that an acknowledged delete had removed, with no create since.
      const absent = [
        op('create', { key: 'g6', p: 'b', v: 3 }, 0, 10),
        op('delete', { key: 'g6', p: 'b' }, 20, 30),
        op('create', { key: 'g6', p: 'b', v: 4 }, 40, 50, { err: 'ALREADY_EXISTS' }),
      ];
      const r = checkMetadata(absent);
      assert.equal(r.ok, false);
      assert.match(r.anomalies.join('\n'), /\/meta\/g6\/\{a,b\} \(3 ops\) is not linearizable/);
    });

    it('ignores definite failures (LEASE_HELD) and counts the unknown outcomes', () => {
      const h = [
        op('create', { key: 'g7', p: 'a', v: 1 }, 0, 10),
        op('overwrite', { key: 'g7', p: 'a', v: 2 }, 5, 15, { err: 'LEASE_HELD' }, 'fail'),
        op('overwrite', { key: 'g7', p: 'a', v: 3 }, 20, 0, { err: 'UNAVAILABLE' }, 'unknown'),
        op('stat', { key: 'g7', p: 'a' }, 30, 40, { size: 1 }),
      ];
      const r = checkMetadata(h);
      assert.equal(r.ok, true);
      assert.equal(r.unknown, 1);
      assert.equal(r.ops, 3);
      // Had the failed overwrite been applied, a stat would have seen 2: that is an anomaly.
      assert.equal(checkMetadata([...h, op('stat', { key: 'g7', p: 'a' }, 50, 60, { size: 2 })]).ok, false);
    });

    it('uses an unknown write no read saw when the history needs it (a later ALREADY_EXISTS)', () => {
      const h = [
        op('create', { key: 'g8', p: 'a', v: 1 }, 0, 0, { err: 'UNAVAILABLE' }, 'unknown'),
        op('create', { key: 'g8', p: 'a', v: 2 }, 20, 30, { err: 'ALREADY_EXISTS' }),
      ];
      assert.equal(checkMetadata(h).ok, true);
    });

    it('stays conclusive on a long history with many unknown writes', () => {
      // 5 clients, 2,000 operations on one pair of paths, one write in ten unknown: the search
      // without the unseen unknown writes settles it at once.
      const h: CompletedOp[] = [];
      let state: { a: number | null; b: number | null } = { a: null, b: null };
      let v = 1;
      for (let t = 0; t < 2000; t++) {
        const p = t % 2 === 0 ? 'a' : 'b';
        const at = t * 10;
        if (t % 10 === 3) h.push(op('overwrite', { key: 'g9', p, v: v++ }, at, 0, { err: 'UNAVAILABLE' }, 'unknown'));
        else if (t % 4 === 0) {
          h.push(op('overwrite', { key: 'g9', p, v }, at, at + 15));
          state = { ...state, [p]: v++ };
        } else h.push(op('stat', { key: 'g9', p }, at + 16, at + 18, { size: state[p] }));
      }
      const started = performance.now();
      const r = checkMetadata(h);
      assert.deepEqual(r.inconclusive, []);
      assert.equal(r.ok, true);
      assert.equal(r.unknown, 200);
      assert.ok(performance.now() - started < 20_000);
    });

    it('lets an unknown put be closed empty by lease recovery, never an acknowledged one', () => {
      const unknownCreate = [op('create', { key: 'g10', p: 'b', v: 6 }, 0, 0, { err: 'UNAVAILABLE' }, 'unknown')];
      assert.equal(checkMetadata(unknownCreate, final({ meta: { '/meta/g10/a': null, '/meta/g10/b': 0 } })).ok, true);
      assert.equal(checkMetadata(unknownCreate, final({ meta: { '/meta/g10/a': null, '/meta/g10/b': 3 } })).ok, false, 'a size no put wrote');
      const acked = [op('create', { key: 'g11', p: 'b', v: 6 }, 0, 10)];
      assert.equal(checkMetadata(acked, final({ meta: { '/meta/g11/a': null, '/meta/g11/b': 0 } })).ok, false);
    });

    it('checks the final state as the last read', () => {
      const h = [op('create', { key: 'g4', p: 'a', v: 9 }, 0, 10)];
      assert.equal(checkMetadata(h, final({ meta: { '/meta/g4/a': 9, '/meta/g4/b': null } })).ok, true);
      assert.equal(checkMetadata(h, final({ meta: { '/meta/g4/a': null, '/meta/g4/b': null } })).ok, false, 'an acknowledged create that vanished');
    });
  });

  describe('appends', () => {
    const r0 = appendRecord('app0', 0);
    const r1 = appendRecord('app1', 0);
    const r2 = appendRecord('app0', 1);
    const appends = [
      op('append', { file: '/ap/f0', record: r0.trimEnd() }, 0, 10),
      op('append', { file: '/ap/f0', record: r1.trimEnd() }, 5, 0, undefined, 'unknown'),
      op('append', { file: '/ap/f0', record: r2.trimEnd() }, 20, 30),
    ];

    it('accepts every acknowledged record once, an unknown one present or not, and reads that are prefixes', () => {
      const content = r0 + r2;
      const reads = [op('read', { file: '/ap/f0' }, 12, 14, { len: r0.length, sha: sha(r0) })];
      assert.equal(checkAppends([...appends, ...reads], final({ appendFiles: { '/ap/f0': content } })).ok, true);
      assert.equal(checkAppends(appends, final({ appendFiles: { '/ap/f0': r0 + r1 + r2 } })).ok, true);
    });

    it('reports a lost acknowledged append, a duplicate, a torn record and a read that is not a prefix', () => {
      const lost = checkAppends(appends, final({ appendFiles: { '/ap/f0': r0 } }));
      assert.match(lost.anomalies.join('\n'), /acknowledged append .* is lost/);
      const dup = checkAppends(appends, final({ appendFiles: { '/ap/f0': r0 + r2 + r2 } }));
      assert.match(dup.anomalies.join('\n'), /appears twice/);
      const torn = checkAppends(appends, final({ appendFiles: { '/ap/f0': r0 + r2.slice(0, 10) + '\n' + r2 } }));
      assert.match(torn.anomalies.join('\n'), /torn or corrupt/);
      const badRead = checkAppends([...appends, op('read', { file: '/ap/f0' }, 40, 41, { len: r1.length, sha: sha(r1) })], final({ appendFiles: { '/ap/f0': r0 + r2 } }));
      assert.match(badRead.anomalies.join('\n'), /not a prefix/);
    });

    it('reports a record whose append failed definitely (LEASE_HELD) yet is present', () => {
      const r0 = appendRecord('app0', 7);
      const h = [op('append', { file: '/ap/f1', record: r0.trimEnd() }, 0, 10, { err: 'LEASE_HELD' }, 'fail')];
      assert.equal(checkAppends(h, final({ appendFiles: { '/ap/f1': '' } })).ok, true);
      const r = checkAppends(h, final({ appendFiles: { '/ap/f1': r0 } }));
      assert.match(r.anomalies.join('\n'), /present though its append failed/);
    });
  });

  describe('data', () => {
    it('reports a missing acknowledged put, changed bytes, and fsck not healthy', () => {
      const h = [op('put', { path: '/data/a', size: 3, sha: 'aa' }, 0, 1), op('put', { path: '/data/b', size: 3, sha: 'bb' }, 0, 1)];
      assert.equal(checkData(h, final({ data: { '/data/a': 'aa', '/data/b': 'bb' } })).ok, true);
      const bad = checkData(h, final({ data: { '/data/a': 'xx' }, fsck: { healthy: false, missing: 1, underReplicated: 0, corrupt: 0, waitedMs: 9 } }));
      assert.equal(bad.anomalies.length, 3, bad.anomalies.join('\n'));
    });
  });
});

function sha(s: string): string {
  return createHash('sha256').update(s, 'latin1').digest('hex');
}
