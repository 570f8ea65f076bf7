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
